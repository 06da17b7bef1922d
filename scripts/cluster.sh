#!/usr/bin/env bash
# cluster.sh N [MOUNT FLAGS...]: start N dsmfs nodes on this machine, each
# with its own mount (DIR/node0 ... DIR/nodeN-1) and loopback port, and keep
# them until Ctrl-C, then unmount and clean up. Extra flags go to every
# `dsmfs mount`, e.g. `scripts/cluster.sh 4 --pages 65536 --hold 0`.
#
#   DSMFS_CLUSTER_DIR  where the mounts and logs go (default /tmp/dsmfs-cluster)
#   DSMFS_BASE_PORT    node i listens on 127.0.0.1:BASE+i (default 7100)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:?usage: scripts/cluster.sh N [dsmfs mount flags...]}
shift
[ "$n" -ge 1 ] || { echo "cluster.sh: need at least 1 node" >&2; exit 2; }
dir=${DSMFS_CLUSTER_DIR:-/tmp/dsmfs-cluster}
base=${DSMFS_BASE_PORT:-7100}
mkdir -p "$dir"
# Static: a cgo-linked, non-PIE binary gets a glibc brk heap that can land
# on 0x40000000, where bench-worker and Go clients map the segment.
CGO_ENABLED=0 go build -o "$dir/dsmfs" .

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

addrs=()
for i in $(seq 0 $((n - 1))); do addrs+=("127.0.0.1:$((base + i))"); done
for i in $(seq 0 $((n - 1))); do
	peers=()
	for j in $(seq 0 $((n - 1))); do [ "$j" = "$i" ] || peers+=(--peer "${addrs[$j]}"); done
	mkdir -p "$dir/node$i"
	"$dir/dsmfs" mount "$dir/node$i" --listen "${addrs[$i]}" "${peers[@]}" "$@" 2>"$dir/node$i.log" &
	pids+=($!)
done
for _ in $(seq 300); do
	[ "$(grep -l msg=mounted "$dir"/node*.log 2>/dev/null | wc -l)" = "$n" ] && break
	for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { tail -n 3 "$dir"/node*.log >&2; exit 1; }; done
	sleep 0.1
done

for i in $(seq 0 $((n - 1))); do echo "node $i  ${addrs[$i]}  $dir/node$i/segment  log $dir/node$i.log"; done
echo "dsmfs binary: $dir/dsmfs   (try: $dir/dsmfs owners $dir/node0 --map)"
echo "Ctrl-C stops the cluster."
wait
