#!/usr/bin/env bash
# oxporter-node against Debian's prometheus-node-exporter with the same collectors enabled.
# Usage: bench/node.sh [SCRAPES]   (builds the shipped release binary first, with scripts/build-release)
# Environment: OXPORTER_NODE=path/to/binary to measure another build; OXPORTER_DYNAMIC=1 to build and measure the
#              dynamically linked `cargo build --release` binary instead.
#
# The collector set is derived, not listed by hand: every collector both binaries have (from their --help) that
# both report as successful (node_scrape_collector_success 1) in one scrape on this machine. It grows by itself as
# oxporter-node gains collectors. BENCH_NODE_COLLECTORS="cpu meminfo ..." overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."
scrapes="${1:-300}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oxporter/target}"
ours="${OXPORTER_NODE:-$(bash scripts/build-release -q -p oxporter-node | tail -n 1)/oxporter-node}"
anchor="$(command -v prometheus-node-exporter || { echo "install the Debian package prometheus-node-exporter" >&2; exit 1; })"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Names of the collectors whose scrape succeeded, from a /metrics body on stdin.
succeeded() { sed -nE 's/^node_scrape_collector_success\{collector="([a-z_0-9]+)"\} 1$/\1/p' | sort; }

# Scrapes `binary` once with `flags` and prints the collectors that succeeded.
probe_collectors() {
  local binary="$1" flags="$2" port pid body=""
  port="$(free_port)"
  # shellcheck disable=SC2086 # flags are words
  "$binary" --web.listen-address="127.0.0.1:$port" $flags 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do
    body="$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null)" && break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  printf '%s\n' "$body" | succeeded
}

if [ -n "${BENCH_NODE_COLLECTORS:-}" ]; then
  collectors="$BENCH_NODE_COLLECTORS"
else
  ours_names="$("$ours" --help | sed -nE 's/^ +--collector\.([a-z_0-9]+)$/\1/p' | sort -u)"
  anchor_names="$("$anchor" --help 2>&1 | sed -nE 's/^ +--collector\.([a-z_0-9]+) +Enable the .*/\1/p' | sort -u)"
  both="$(comm -12 <(echo "$ours_names") <(echo "$anchor_names"))"
  flags="--collector.disable-defaults"
  for c in $both; do flags="$flags --collector.$c"; done
  collectors="$(comm -12 <(probe_collectors "$ours" "$flags") <(probe_collectors "$anchor" "$flags") | tr '\n' ' ')"
  collectors="${collectors% }"
  [ -n "$collectors" ] || { echo "no collector succeeded in both exporters" >&2; exit 1; }
fi

flags="--collector.disable-defaults"
for c in $collectors; do flags="$flags --collector.$c"; done
echo "collectors: $collectors" >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 bench/compare.py --label "node ($collectors)" --scrapes "$scrapes" \
  --ours "$ours --web.listen-address=127.0.0.1:{port} $flags" \
  --anchor "$anchor --web.listen-address=127.0.0.1:{port} $flags"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
