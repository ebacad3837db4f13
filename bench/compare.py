#!/usr/bin/env python3
"""Side-by-side benchmark of an oxporter exporter and its Go anchor against the same target.

Starts both exporters on free loopback ports, scrapes them in alternation (ours, anchor, ours, ...) the way
Prometheus does (Accept and Accept-Encoding as Prometheus sends them, one kept-alive connection per exporter), and
prints one table:

  scrape latency median and p99, CPU per scrape (utime+stime from /proc/PID/stat over the measured scrapes, so
  background work between scrapes counts too), peak RSS (VmHWM), and response size; plus ours/anchor ratios.

The anchor is optional (--anchor ''), for exporters that have none. --target-pids names processes of the scraped
target (e.g. the ZooKeeper JVMs): their CPU over the measured scrapes, minus their CPU over an idle period of the
same length measured right after, is reported per scrape, i.e. what scraping costs the target.

Usage (see bench/node.sh and bench/zookeeper.sh for real examples):
  bench/compare.py --ours 'target/release/oxporter-node --web.listen-address=127.0.0.1:{port}' \
                   --anchor 'prometheus-node-exporter --web.listen-address=127.0.0.1:{port}' \
                   --scrapes 300 --label node

`{port}` in each command is replaced by a free port. Only the Python standard library is used.
"""

import argparse
import gzip
import http.client
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time

PROM_ACCEPT = "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exporter:
    def __init__(self, name, command, path, timeout_header):
        self.name = name
        self.port = free_port()
        argv = shlex.split(command.replace("{port}", str(self.port)))
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.path = path
        self.timeout_header = timeout_header
        self.latencies = []
        self.size = 0
        self.gzip_size = 0
        self.conn = None
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                sys.exit(f"{name} exited at start ({argv[0]}): {err.strip()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        sys.exit(f"{name} did not listen on port {self.port} within 20 s")

    def scrape(self, record=True):
        # One kept-alive connection, as Prometheus keeps one per target; reopened if the exporter closed it.
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            start = time.perf_counter()
            try:
                self.conn.request("GET", self.path, headers={
                    "Accept": PROM_ACCEPT,
                    "Accept-Encoding": "gzip",
                    "X-Prometheus-Scrape-Timeout-Seconds": str(self.timeout_header),
                })
                resp = self.conn.getresponse()
                body = resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            break
        elapsed = time.perf_counter() - start
        if resp.will_close:
            self.conn.close()
            self.conn = None
        if resp.status != 200:
            sys.exit(f"{self.name}: HTTP {resp.status} from {self.path}: {body[:300]!r}")
        if record:
            self.latencies.append(elapsed)
            self.gzip_size = len(body) if resp.getheader("Content-Encoding") == "gzip" else 0
            self.size = len(gzip.decompress(body)) if self.gzip_size else len(body)
        return body

    def cpu_seconds(self):
        return cpu_seconds(self.proc.pid)

    def peak_rss_bytes(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def targets_cpu(pids):
    return sum(cpu_seconds(p) for p in pids)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", required=True, help="command line of our exporter; {port} is replaced")
    ap.add_argument("--anchor", default="", help="command line of the Go exporter; {port} is replaced; '' = none")
    ap.add_argument("--ours-path", default="/metrics")
    ap.add_argument("--anchor-path", default="/metrics")
    ap.add_argument("--scrapes", type=int, default=200, help="measured scrapes per exporter")
    ap.add_argument("--warmup", type=int, default=10, help="unmeasured scrapes first")
    ap.add_argument("--interval", type=float, default=0.0, help="pause between scrape pairs, seconds")
    ap.add_argument("--timeout-header", type=float, default=10.0)
    ap.add_argument("--target-pids", default="",
                    help="comma-separated PIDs of the scraped target, whose CPU per scrape (minus idle) is reported")
    ap.add_argument("--label", default="", help="name of the run, printed above the table")
    args = ap.parse_args()
    target_pids = [int(p) for p in args.target_pids.split(",") if p.strip()]

    exporters = [Exporter("oxporter", args.ours, args.ours_path, args.timeout_header)]
    if args.anchor:
        exporters.append(Exporter("anchor", args.anchor, args.anchor_path, args.timeout_header))
    try:
        for _ in range(args.warmup):
            for e in exporters:
                e.scrape(record=False)
        idle_target = busy_target = 0.0
        cpu0 = {e.name: e.cpu_seconds() for e in exporters}
        t0, target0 = time.perf_counter(), targets_cpu(target_pids)
        for _ in range(args.scrapes):
            for e in exporters:
                e.scrape()
            if args.interval:
                time.sleep(args.interval)
        busy_seconds = time.perf_counter() - t0
        cpu1 = {e.name: e.cpu_seconds() for e in exporters}
        if target_pids:
            busy_target = targets_cpu(target_pids) - target0
            # The target's own background CPU (a JVM's timers, heartbeats) over a quiet period as long as the run.
            idle0 = targets_cpu(target_pids)
            time.sleep(busy_seconds)
            idle_target = targets_cpu(target_pids) - idle0
        rows = []
        for e in exporters:
            cpu_ms = (cpu1[e.name] - cpu0[e.name]) * 1000 / args.scrapes
            rows.append((e, statistics.median(e.latencies) * 1000, pct(e.latencies, 99) * 1000, cpu_ms,
                         e.peak_rss_bytes() / 2**20, e.size, e.gzip_size))
    finally:
        for e in exporters:
            e.stop()

    title = f"{args.label}: " if args.label else ""
    each = " each, alternating," if len(exporters) > 1 else ""
    print(f"{title}{args.scrapes} scrapes{each} after {args.warmup} warm-up scrapes")
    print(f"{'':10} {'median ms':>10} {'p99 ms':>9} {'CPU ms/scrape':>14} {'peak RSS MiB':>13} {'bytes':>9} {'gzip bytes':>11}")
    for e, med, p99, cpu, rss, size, gz in rows:
        print(f"{e.name:10} {med:10.2f} {p99:9.2f} {cpu:14.3f} {rss:13.1f} {size:9d} {gz:11d}")
    if len(rows) == 2:
        (_, m0, p0, c0, r0, s0, _), (_, m1, p1, c1, r1, s1, _) = rows
        ratio = lambda a, b: f"{a / b:.2f}" if b else "n/a"
        print(f"{'ratio':10} {ratio(m0, m1):>10} {ratio(p0, p1):>9} {ratio(c0, c1):>14} {ratio(r0, r1):>13} {ratio(s0, s1):>9}")
        print("(ratio = oxporter / anchor; below 1 means oxporter is faster or smaller.)")
    if target_pids:
        scrapes = args.scrapes * len(exporters)
        per = (busy_target - idle_target) * 1000 / scrapes
        print(f"target ({len(target_pids)} processes): {busy_target * 1000:.0f} ms CPU during {scrapes} scrapes "
              f"({busy_seconds:.1f} s), {idle_target * 1000:.0f} ms idle over as long: {per:.3f} ms per scrape")
    print(f"(CPU is counted in {1000 // CLK_TCK} ms ticks over the whole run, so use enough scrapes.)")


if __name__ == "__main__":
    main()
