#!/usr/bin/env python3
"""Writes an exporter's link order: the functions it executes, hottest first, for `scripts/build-release`.

Why: the kernel maps a binary's code into a process in whole page-cache folios or 64 KiB fault-around windows, so
a process ends up with nearly all of its code resident when the functions it runs are spread over the binary
(oxporter-node: 3.6 of 3.9 MiB of code resident, though it runs 1.3 MiB of it). Linked with this list
(lld's `--symbol-ordering-file`), the functions a scrape and the start-up run sit together at the start of the
code, and the rest is never paged in. docs/benchmarks.md has the measurements.

How: runs the release binary under `valgrind --tool=callgrind` (which records every function executed, however
rarely), with workloads that cover start-up, scrapes in both exposition formats with and without gzip, the
landing page and shutdown, and writes the executed functions' symbol names, most instructions first. Functions
that only a second workload runs (collectors this machine has no hardware for, on the hand-made fixture tree)
come after those of the first, so the common case stays packed.

The list holds the symbols as they were. At link time `scripts/link-order-cc` resolves each to the symbol of the
objects being linked (`resolve`): the same name where it still exists, else every symbol with the same name
without its hash (`17h<16 hex digits>E` of Rust's legacy mangling) and without the `.<n>` suffix LLVM gives
renamed local symbols. Both of those change when a dependency or a feature changes, the names do not, so a list
keeps working across such changes, a little less tightly (the name alone also matches a generic function's cold
instances).

Usage:
  link-order.py generate EXPORTER BINARY LIST   (scripts/link-order; needs valgrind; a few seconds)
  link-order.py resolve LIST OUTPUT OBJECT...   (scripts/link-order-cc, at link time)
  link-order.py check LIST BINARY               (scripts/build-release: how many listed names the binary has)
"""

import argparse
import collections
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCEPTS = [
    # Prometheus 2.x's Accept (negotiates OpenMetrics where we offer it), then text 0.0.4 only.
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port, path, accept, gzip):
    headers = {"Accept": accept, "X-Prometheus-Scrape-Timeout-Seconds": "10"}
    if gzip:
        headers["Accept-Encoding"] = "gzip"
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()


def profile(binary, args, scrapes, out):
    """Runs `binary args` under callgrind, scrapes it, stops it; returns {symbol: self instructions}."""
    port = free_port()
    cmd = ["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no", "--dump-instr=no",
           f"--callgrind-out-file={out}", binary, f"--web.listen-address=127.0.0.1:{port}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                sys.exit(f"link-order: {binary} exited under valgrind: {proc.stderr.read().decode()[-800:]}")
            try:
                fetch(port, "/-/healthy", "*/*", False)
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit(f"link-order: {binary} did not answer on port {port} within 120 s under valgrind")
                time.sleep(0.5)
        fetch(port, "/", "text/html", False)
        for i in range(scrapes):
            fetch(port, "/metrics", ACCEPTS[i % 2], i % 4 != 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return self_costs(out)


def self_costs(path):
    """Self instructions per function from a callgrind file written with --compress-strings=no."""
    costs = collections.Counter()
    current = None
    after_calls = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                # Recursion levels are written as name'2; the symbol is the name.
                current = re.sub(r"'\d+$", "", line[3:].strip())
                costs[current] += 0
                after_calls = False
            elif line.startswith("calls="):
                # The next cost line is the call's inclusive cost, not this function's own.
                after_calls = True
            elif current and (line[:1].isdigit() or line[:1] in ("+", "-", "*")):
                if after_calls:
                    after_calls = False
                    continue
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    costs[current] += int(parts[1])
    return costs


def is_symbol(name):
    # Addresses and valgrind's pseudo-functions ("(below main)") are not link-time symbols.
    return bool(name) and not name.startswith(("0x", "("))


HASH = re.compile(r"17h[0-9a-f]{16}E$")
LOCAL = re.compile(r"\.\d+$")


def base_name(symbol):
    """`symbol` without its legacy-mangling hash and LLVM's `.<n>` suffix of renamed locals."""
    return HASH.sub("", LOCAL.sub("", symbol))


def read_list(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def defined_symbols(paths):
    """Names of the functions and data defined in the objects or binaries at `paths`, per `nm`."""
    out = subprocess.run(["nm", "--defined-only", "--format=just-symbols", *paths], capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip() and not line.endswith(":")]


def resolve(list_path, output, objects):
    by_base = collections.defaultdict(list)
    exact = set()
    for sym in defined_symbols(objects):
        exact.add(sym)
        by_base[base_name(sym)].append(sym)
    written = set()
    with open(output, "w") as f:
        for name in read_list(list_path):
            # A name in none of the objects (a C library function, from an archive) goes to lld as it is.
            for sym in [name] if name in exact else by_base.get(base_name(name), [name]):
                if sym not in written:
                    written.add(sym)
                    f.write(sym + "\n")


def check(list_path, binary):
    listed = read_list(list_path)
    symbols = defined_symbols([binary])
    exact = set(symbols)
    bases = {base_name(s) for s in symbols}
    found = sum(1 for n in listed if n in exact)
    by_name = sum(1 for n in listed if n not in exact and base_name(n) in bases)
    # Found by name only is normal for a binary built with other packages (cargo unifies features, which changes
    # the hashes); names missing altogether mean the code moved on.
    stale = "" if (found + by_name) * 10 >= len(listed) * 9 else "; below 90 %, regenerate it: scripts/link-order"
    print(f"{os.path.basename(binary)}: {found} of {len(listed)} functions of {list_path} found as they are, "
          f"{by_name} more by name{stale}")


def node_workloads():
    tree = os.path.join(ROOT, "exporters", "node", "tests", "fixtures", "hardware")
    hardware = ["--collector.disable-defaults", f"--path.procfs={tree}/proc", f"--path.sysfs={tree}/sys",
                f"--path.rootfs={tree}"]
    with open(os.path.join(ROOT, "exporters", "node", "tests", "fixtures", "hardware.args")) as f:
        hardware += [a.replace("$TREE", tree) for a in (l.strip() for l in f) if a and not a.startswith("#")]
    return [
        # The default collectors on this machine: what a plain install runs.
        ("defaults", [], 24),
        # Opt-in collectors dashboard 1860 uses, and the hardware collectors on the fixture tree.
        ("opt-in", ["--collector.processes", "--collector.tcpstat", "--collector.interrupts"], 4),
        ("hardware", hardware, 4),
    ]


class RedisServer:
    """A throw-away redis-server on a free loopback port with a few keys, for the redis workloads."""

    def __enter__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() != b"PONG":
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit("link-order: redis-server did not start (Debian package redis-server)")
            time.sleep(0.1)
        cmds = "".join(f"SET key:{i} {i}\nLPUSH list:{i} a b c\n" for i in range(50))
        subprocess.run(["redis-cli", "-p", str(self.port)], input=cmds.encode(), capture_output=True, check=True)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def redis_workloads():
    # The server lives as long as the generator's workloads run (generate() iterates them one at a time).
    with RedisServer() as redis:
        addr = f"--redis.addr=redis://127.0.0.1:{redis.port}"
        yield ("plain", [addr], 24)
        yield ("check-keys", [addr, "--check-keys=key:*,list:*", "--check-single-keys=key:1"], 4)


WORKLOADS = {"node": node_workloads, "redis": redis_workloads}


def generate(exporter, binary, output):
    seen = set()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, args, scrapes in WORKLOADS[exporter]():
            print(f"link-order: profiling {exporter} ({name}, {scrapes} scrapes) under callgrind", file=sys.stderr)
            costs = profile(binary, args, scrapes, os.path.join(tmp, f"{name}.out"))
            new = sorted((n for n in costs if is_symbol(n) and n not in seen), key=lambda n: (-costs[n], n))
            lines += new
            seen.update(new)
            print(f"link-order: {len(new)} more functions", file=sys.stderr)
    with open(output, "w") as f:
        f.write(f"# Generated by scripts/link-order {exporter}: the functions oxporter-{exporter} executes, hottest\n")
        f.write("# first; scripts/link-order-cc lays them out first when linking (scripts/link-order.py: how).\n")
        f.write("# Regenerate after larger changes; a missing name costs memory, never correctness.\n")
        f.writelines(n + "\n" for n in lines)
    print(f"link-order: wrote {len(lines)} functions to {output}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("exporter", choices=sorted(WORKLOADS))
    g.add_argument("binary")
    g.add_argument("output")
    r = sub.add_parser("resolve")
    r.add_argument("list")
    r.add_argument("output")
    r.add_argument("objects", nargs="+")
    c = sub.add_parser("check")
    c.add_argument("list")
    c.add_argument("binary")
    opts = ap.parse_args()
    if opts.cmd == "generate":
        generate(opts.exporter, opts.binary, opts.output)
    elif opts.cmd == "resolve":
        resolve(opts.list, opts.output, opts.objects)
    else:
        check(opts.list, opts.binary)


if __name__ == "__main__":
    main()
