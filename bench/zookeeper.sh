#!/usr/bin/env bash
# oxporter-zookeeper scraping a 3-node ZooKeeper ensemble: the exporter's CPU, latency and peak RSS per scrape, and
# what the scrapes cost ZooKeeper itself (CPU of the three JVMs during the scrapes minus their CPU over an equally
# long idle period). There is no Go anchor in Debian for ZooKeeper, so no ratio.
# Usage: bench/zookeeper.sh [SCRAPES]   (builds the shipped release binary with scripts/build-release,
#        and the test kit's ensemble starter, first)
#
# The ensemble is started by the test kit (crates/testkit/src/zookeeper.rs: Debian's zookeeper package, free loopback
# ports, four-letter words and the AdminServer on) through its small binary oxporter-zk-ensemble, and stopped when
# this script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
scrapes="${1:-300}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oxporter/target}"
cargo build -q -p oxporter-testkit --bin oxporter-zk-ensemble
ours="${OXPORTER_ZOOKEEPER:-$(bash scripts/build-release -q -p oxporter-zookeeper | tail -n 1)/oxporter-zookeeper}"

coproc ZK { "$CARGO_TARGET_DIR/debug/oxporter-zk-ensemble" 3; }
zk_in="${ZK[1]}"
read -r line <&"${ZK[0]}" || { echo "the ensemble did not start" >&2; exit 1; }
hosts="${line#hosts=}"; hosts="${hosts%% *}"
pids="${line##*pids=}"
trap 'exec {zk_in}>&-; wait' EXIT
echo "ensemble: $hosts (JVM pids $pids)" >&2
# Let the JVMs settle after start-up (JIT, leader election) before measuring.
sleep "${BENCH_ZK_SETTLE:-20}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 bench/compare.py --label "zookeeper (3 servers, --zk.hosts)" --scrapes "$scrapes" --interval 0.05 \
  --ours "$ours --web.listen-address=127.0.0.1:{port} --zk.hosts=$hosts" --anchor '' --target-pids "$pids"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
