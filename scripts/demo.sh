#!/usr/bin/env bash
# A two-node dsmfs cluster on this machine: node A writes through its mount,
# node B reads through its own, and .owners shows the pages that moved.
# Needs root (or fuse3's fusermount3), gcc and Go. Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/dsmfs-demo.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

CGO_ENABLED=0 go build -o "$work/dsmfs" . # static: see README (Use)
gcc -O2 -Wall -o "$work/hello" examples/hello/hello.c

port=$((20000 + RANDOM % 20000))
a=127.0.0.1:$port b=127.0.0.1:$((port + 1))
mkdir "$work/a" "$work/b"
"$work/dsmfs" mount "$work/a" --listen "$a" --peer "$b" --size 1M 2>"$work/a.log" & pids+=($!)
"$work/dsmfs" mount "$work/b" --listen "$b" --peer "$a" --size 1M 2>"$work/b.log" & pids+=($!)
for _ in $(seq 100); do
	[ "$(grep -l msg=mounted "$work/a.log" "$work/b.log" | wc -l)" = 2 ] && break
	sleep 0.1
done

echo "== .owners on A before"; cat "$work/a/.owners"
echo "== A: hello put"; "$work/hello" put "$work/a/segment" "written on node A, read on node B"
echo "== B: hello get"; "$work/hello" get "$work/b/segment"
echo "== .owners on B after"; cat "$work/b/.owners"
