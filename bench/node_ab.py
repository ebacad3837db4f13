#!/usr/bin/env python3
"""Compares builds of oxporter-node with each other in the regime of bench/node.sh: each scrape of ours comes right
after a scrape of node_exporter.

Why not `bench/compare.py --ours A --anchor B`: scraping two builds of ours in alternation leaves each idle for only
the other's ~1.5 ms, so caches stay warm, while next to node_exporter each of ours waits ~7 ms behind a much larger
process, and that costs it about half as much CPU again (session 4, docs/benchmarks.md). A change that saves cache
misses or context switches shows there and hardly at all in a twin comparison.

Every round scrapes build 1, node_exporter, build 2, node_exporter, ... so every build follows an anchor scrape
(an order like A, B, anchor would let B follow A's short scrape and favour it by ~7 %). CPU is the sum of the
threads' `/proc/PID/task/*/schedstat` run times (nanoseconds, not clock ticks), reported per block of rounds so the
spread is visible, and as the median over the blocks.

Usage:
  bench/node_ab.py --scrapes 1000 /tmp/node-before /tmp/node-after
  bench/node_ab.py --scrapes 1000 --anchor '' A B          # without node_exporter (the twin regime)
  bench/node_ab.py --scrapes 300 --anchor '' --pause 0.05 A # one build alone, idle 50 ms before each scrape
Run it twice with the builds swapped: the machine's load drifts over a run.
"""

import argparse
import glob
import http.client
import shlex
import socket
import statistics
import subprocess
import sys
import time

DEFAULT_COLLECTORS = (
    "arp bcache btrfs conntrack cpu cpufreq diskstats edac entropy filefd filesystem loadavg meminfo netclass netdev "
    "netstat os pressure selinux sockstat softnet stat textfile thermal_zone time timex udp_queues uname vmstat xfs"
)
HEADERS = {
    "Accept": "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ns(pid):
    """Run time of all the process's threads so far, in nanoseconds."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


class Exporter:
    def __init__(self, label, cmd, flags):
        self.label = label
        self.port = free_port()
        args = shlex.split(cmd) + [f"--web.listen-address=127.0.0.1:{self.port}"] + flags
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.conn = None
        self.blocks = []

    def connect(self):
        deadline = time.monotonic() + 10
        while True:
            try:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.scrape()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    sys.exit(f"{self.label} did not answer on port {self.port}")
                time.sleep(0.1)

    def scrape(self):
        self.conn.request("GET", "/metrics", headers=HEADERS)
        r = self.conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"{self.label}: HTTP {r.status}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="commands of the oxporter-node builds to compare")
    ap.add_argument("--anchor", default="prometheus-node-exporter", help="node_exporter's command; '' = none")
    ap.add_argument("--scrapes", type=int, default=1000, help="measured scrapes of each build")
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--pause", type=float, default=0.0, help="seconds of idle after each scrape of ours")
    ap.add_argument("--collectors", default=DEFAULT_COLLECTORS, help="space-separated; default: the 30 defaults")
    a = ap.parse_args()

    flags = ["--collector.disable-defaults"] + [f"--collector.{c}" for c in a.collectors.split()]
    ours = [Exporter(b, b, flags) for b in a.builds]
    anchor = Exporter("node_exporter", a.anchor, flags) if a.anchor else None
    everyone = ours + ([anchor] if anchor else [])
    try:
        for e in everyone:
            e.connect()
        for _ in range(10):
            for e in everyone:
                e.scrape()
        per_block = max(1, a.scrapes // a.blocks)
        for _ in range(a.blocks):
            before = [cpu_ns(e.proc.pid) for e in everyone]
            for _ in range(per_block):
                for o in ours:
                    o.scrape()
                    if anchor:
                        anchor.scrape()
                    if a.pause:
                        time.sleep(a.pause)
            after = [cpu_ns(e.proc.pid) for e in everyone]
            for e, t0, t1 in zip(everyone, before, after):
                n = per_block * (len(ours) if e is anchor else 1)
                e.blocks.append((t1 - t0) / n / 1e6)
    finally:
        for e in everyone:
            e.stop()

    base = statistics.median(anchor.blocks) if anchor else None
    first = statistics.median(ours[0].blocks)
    print(f"CPU ms per scrape, median of {a.blocks} blocks of {per_block} scrapes (blocks in brackets)")
    for e in everyone:
        m = statistics.median(e.blocks)
        rel = f"  /anchor {m / base:.3f}" if base else ""
        vs = f"  /first {m / first:.3f}" if e is not anchor else ""
        blocks = " ".join(f"{b:.2f}" for b in e.blocks)
        print(f"{e.label[-40:]:40} {m:.3f}{rel}{vs}  [{blocks}]")


if __name__ == "__main__":
    main()
