#!/usr/bin/env bash
# oxporter-node against Debian's prometheus-node-exporter with the same collectors enabled.
# Usage: bench/node.sh [SCRAPES]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
scrapes="${1:-300}"
# The collectors both exporters have; extend as oxporter-node grows.
collectors="${BENCH_NODE_COLLECTORS:-cpu meminfo loadavg stat time uname}"
flags="--collector.disable-defaults"
for c in $collectors; do flags="$flags --collector.$c"; done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oxporter/target}"
cargo build --release -q -p oxporter-node
anchor="$(command -v prometheus-node-exporter || { echo "install the Debian package prometheus-node-exporter" >&2; exit 1; })"
python3 bench/compare.py --label "node ($collectors)" --scrapes "$scrapes" \
  --ours "$CARGO_TARGET_DIR/release/oxporter-node --web.listen-address=127.0.0.1:{port} $flags" \
  --anchor "$anchor --web.listen-address=127.0.0.1:{port} $flags"
