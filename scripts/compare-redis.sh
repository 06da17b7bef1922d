#!/usr/bin/env bash
# compare-redis.sh [SECONDS]: one shared counter incremented by two programs,
# two ways, side by side, loopback only:
#   dsmfs  two nodes on this machine; one program per node increments a
#          counter in the segment under a spin lock in the same page
#          (`dsmfs bench-worker incr -lock`), default settings;
#   redis  INCR of one key from two clients (two redis-benchmark processes,
#          one connection each, no pipelining), when redis-server is
#          installed; otherwise it says so and shows dsmfs alone.
# It never installs anything. Needs root or fuse3, and Go to build dsmfs.
#
#   DSMFS_BASE_PORT  the nodes listen on 127.0.0.1:BASE and BASE+1, redis on
#                    BASE+2 (default 7270)
#   DSMFS            a dsmfs binary to use instead of building this checkout
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-3}
base=${DSMFS_BASE_PORT:-7270}
dir=$(mktemp -d /tmp/dsmfs-redis.XXXXXX)
if [ -n "${DSMFS:-}" ]; then cp "$DSMFS" "$dir/dsmfs"; else CGO_ENABLED=0 go build -o "$dir/dsmfs" .; fi

daemons=() others=()
cleanup() {
	for pid in "${others[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${daemons[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${daemons[@]}" "${others[@]}"; do wait "$pid" 2>/dev/null || true; done
	for m in "$dir"/node0 "$dir"/node1; do
		! grep -q " $m " /proc/mounts || umount -l "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# The counter and its lock share the last page; node 1 owns it at start.
pages=1024 page=1023
for i in 0 1; do
	mkdir -p "$dir/node$i"
	"$dir/dsmfs" mount "$dir/node$i" --listen "127.0.0.1:$((base + i))" --peer "127.0.0.1:$((base + 1 - i))" \
		--pages "$pages" 2>"$dir/node$i.log" &
	daemons+=($!)
done
for _ in $(seq 100); do
	[ "$(grep -l msg=mounted "$dir"/node*.log 2>/dev/null | wc -l)" = 2 ] && break
	sleep 0.1
done
[ "$(grep -l msg=mounted "$dir"/node*.log | wc -l)" = 2 ] || { tail -n 3 "$dir"/node*.log >&2; exit 1; }

# Both workers map the segment, print "ready", and start on the "go" line,
# which reaches both after the same one-second pause.
for i in 0 1; do
	(sleep 1; echo go) | "$dir/dsmfs" bench-worker incr -lock -file "$dir/node$i/segment" -page "$page" -dur "${secs}s" >"$dir/w$i.out" &
	others+=($!)
done
wait "${others[@]}"
others=()
count() { sed -n 's/.*"count":\([0-9]*\).*/\1/p' "$1"; }
ns() { sed -n 's/.*"total_ns":\([0-9]*\).*/\1/p' "$1"; }
c0=$(count "$dir/w0.out") c1=$(count "$dir/w1.out")
dsmfs_rate=$(awk -v a="$c0" -v b="$c1" -v x="$(ns "$dir/w0.out")" -v y="$(ns "$dir/w1.out")" \
	'BEGIN { printf "%.0f", (a + b) / (x > y ? x : y) * 1e9 }')

printf 'one shared counter, two programs, %ss, loopback, %s\n\n' "$secs" "$(nproc) cores"
printf '%-7s %14s   %s\n' system "increments/s" how
printf '%-7s %14s   %s\n' dsmfs "$dsmfs_rate" "2 nodes, spin lock in the segment, default hold (node 0: $c0, node 1: $c1)"

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	printf '%-7s %14s   %s\n' redis - "not measured: redis-server/redis-benchmark not installed (apt-get install redis-server redis-tools)"
	exit 0
fi
rport=$((base + 2))
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$dir/redis.log" 2>&1 &
others+=($!)
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
# Enough requests for about the same duration as dsmfs at a typical 50k/s
# per client; redis-benchmark reports the rate it reached.
n=$((secs * 50000))
for i in 0 1; do
	redis-benchmark -p "$rport" -c 1 -P 1 -n "$n" -t incr --csv >"$dir/r$i.csv" 2>/dev/null &
	others+=($!)
done
wait "${others[@]:1}"
redis_rate=$(awk -F'"' '$2 == "INCR" { sum += $4 } END { printf "%.0f", sum }' "$dir"/r0.csv "$dir"/r1.csv)
printf '%-7s %14s   %s\n' redis "$redis_rate" "INCR, 2 clients (redis-benchmark -c 1 each, no pipelining), counter at $(redis-cli -p "$rport" get 'counter:__rand_int__')"
