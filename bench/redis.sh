#!/usr/bin/env bash
# oxporter-redis against Debian's prometheus-redis-exporter, both scraping the same Redis, which holds 100,000 keys
# over 4 databases (25,000 each). Two runs: a plain scrape, and with --check-keys matching 2,000 keys of five types
# (500 per database).
#
# Usage: bench/redis.sh [SCRAPES] [CHECK_SCRAPES]   (defaults 2000 and 100; builds the shipped release binary
#        first, with scripts/build-release)
# Environment: OXPORTER_REDIS=path/to/binary to measure another build; OXPORTER_DYNAMIC=1 to build and measure the
#              dynamically linked `cargo build --release` binary; BENCH_PROFILE=NAME to build and measure that
#              cargo profile, dynamically linked;
#              BENCH_REDIS_DELAY_US=N to put a proxy delaying each direction by N microseconds between the exporters
#              and Redis (bench/delay_proxy.py), a stand-in for a network; oxporter-redis then gets
#              --check-keys-connections=4, what it uses by default for a server on another host
#              (BENCH_OURS_FLAGS= replaces that, e.g. empty for a build without the flag).
set -euo pipefail
cd "$(dirname "$0")/.."
scrapes="${1:-2000}"
check_scrapes="${2:-100}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oxporter/target}"
if [ -z "${OXPORTER_REDIS:-}" ] && [ -n "${BENCH_PROFILE:-}" ]; then
  cargo build --profile "$BENCH_PROFILE" -q -p oxporter-redis
  OXPORTER_REDIS="$CARGO_TARGET_DIR/$BENCH_PROFILE/oxporter-redis"
fi
OXPORTER_REDIS="${OXPORTER_REDIS:-$(bash scripts/build-release -q -p oxporter-redis | tail -n 1)/oxporter-redis}"
anchor="$(command -v prometheus-redis-exporter || { echo "install the Debian package prometheus-redis-exporter" >&2; exit 1; })"
command -v redis-server >/dev/null || { echo "install the Debian package redis-server" >&2; exit 1; }

# A throw-away Redis on a free loopback port, without persistence, removed on exit.
dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize no \
  >"$dir/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done

# 25,000 keys per database, loaded with one pipe per database: 24,500 plain strings and 500 `check:*` keys of five
# types (string, list, hash, set, sorted set) for the key checks.
for db in 0 1 2 3; do
  python3 - "$db" <<'EOF' | redis-cli -p "$port" -n "$db" --pipe >/dev/null
import sys
db = sys.argv[1]
out = sys.stdout
def cmd(*args):
    out.write(f"*{len(args)}\r\n")
    for a in args:
        a = str(a)
        out.write(f"${len(a.encode())}\r\n{a}\r\n")
for i in range(24500):
    cmd("SET", f"key:{db}:{i}", f"value-{i}")
for i in range(500):
    k = f"check:{i}"
    kind = i % 5
    if kind == 0:
        cmd("SET", k, f"{i}")
    elif kind == 1:
        cmd("RPUSH", k, "a", "b", "c")
    elif kind == 2:
        cmd("HSET", k, "f1", "v1", "f2", "v2")
    elif kind == 3:
        cmd("SADD", k, "x", "y")
    else:
        cmd("ZADD", k, "1", "x", "2", "y")
EOF
done
echo "redis on port $port: $(redis-cli -p "$port" INFO keyspace | grep '^db' | tr '\r\n' '  ')"

addr="redis://127.0.0.1:$port"
ours_extra=""
if [ -n "${BENCH_REDIS_DELAY_US:-}" ]; then
  proxy_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  python3 bench/delay_proxy.py "$proxy_port" "$port" "$BENCH_REDIS_DELAY_US" &
  proxy_pid=$!
  trap 'kill "$proxy_pid" "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$dir"' EXIT
  for _ in $(seq 100); do redis-cli -p "$proxy_port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  addr="redis://127.0.0.1:$proxy_port"
  ours_extra="${BENCH_OURS_FLAGS---check-keys-connections=4}"
  echo "through bench/delay_proxy.py on port $proxy_port: ${BENCH_REDIS_DELAY_US} us each way"
fi
python3 bench/compare.py --label "redis plain scrape (100k keys in 4 dbs)" --scrapes "$scrapes" \
  --ours "$OXPORTER_REDIS --web.listen-address=127.0.0.1:{port} --redis.addr=$addr" \
  --anchor "$anchor -web.listen-address=127.0.0.1:{port} -redis.addr=$addr"
echo
checks="db0=check:*,db1=check:*,db2=check:*,db3=check:*"
python3 bench/compare.py --label "redis --check-keys over 2,000 keys" --scrapes "$check_scrapes" --warmup 3 \
  --ours "$OXPORTER_REDIS --web.listen-address=127.0.0.1:{port} --redis.addr=$addr --check-keys=$checks $ours_extra" \
  --anchor "$anchor -web.listen-address=127.0.0.1:{port} -redis.addr=$addr -check-keys=$checks"
