#!/usr/bin/env bash
# soak.sh SECONDS [NODES] [WORKERS_PER_NODE]: a churn test, not in CI.
#
# Starts NODES local nodes (default 4) with WORKERS_PER_NODE programs each
# (default 2) that write checksummed records into interleaved slots of the
# segment, read them back, and count every write in one shared atomic
# counter. While they run, nodes leave one by one (SIGTERM: their pages go to
# the nodes that stay) until two remain. At the end it prints operations,
# corrupted records and lost increments (the shared counter against the sum
# of what the workers counted), and fails unless both are zero.
#
# Kills and restarts are not part of it yet: a node cannot rejoin a running
# cluster, and without replicas a killed node's pages are lost by design
# (README, Failures and guarantees).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:?usage: scripts/soak.sh SECONDS [NODES] [WORKERS_PER_NODE]}
n=${2:-4} per=${3:-2}
base=${DSMFS_BASE_PORT:-7800}
work=$(mktemp -d /tmp/dsmfs-soak.XXXXXX)
declare -A daemon workers
cleanup() {
	for pid in ${workers[@]:-}; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in ${daemon[@]:-}; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for i in $(seq 0 $((n - 1))); do
		grep -qs " $work/node$i " /proc/mounts && umount -l "$work/node$i"
	done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

CGO_ENABLED=0 go build -o "$work/dsmfs" .
gcc -O2 -Wall -o "$work/soak" tests/c/soak.c
gcc -O2 -Wall -pthread -o "$work/dsmprog" tests/c/dsmprog.c

addrs=()
for i in $(seq 0 $((n - 1))); do addrs+=("127.0.0.1:$((base + i))"); done
for i in $(seq 0 $((n - 1))); do
	peers=()
	for j in $(seq 0 $((n - 1))); do [ "$j" = "$i" ] || peers+=(--peer "${addrs[$j]}"); done
	mkdir "$work/node$i"
	"$work/dsmfs" mount "$work/node$i" --listen "${addrs[$i]}" "${peers[@]}" --pages 256 2>"$work/node$i.log" &
	daemon[$i]=$!
done
for _ in $(seq 300); do
	[ "$(grep -l msg=mounted "$work"/node*.log 2>/dev/null | wc -l)" = "$n" ] && break
	sleep 0.1
done

nw=$((n * per))
for i in $(seq 0 $((n - 1))); do
	for k in $(seq 0 $((per - 1))); do
		w=$((i * per + k))
		"$work/soak" "$work/node$i/segment" "$w" "$nw" "$secs" >"$work/worker$w.out" 2>&1 &
		workers[$w]=$!
	done
done

# Nodes n-1, n-2, ... leave at even intervals until two remain.
leaves=0
step=$((secs / (n - 1 > 0 ? n - 1 : 1)))
for i in $(seq $((n - 1)) -1 2); do
	sleep "$step"
	for k in $(seq 0 $((per - 1))); do
		w=$((i * per + k))
		kill -TERM "${workers[$w]}" 2>/dev/null || true
		wait "${workers[$w]}" || true
		unset "workers[$w]"
	done
	kill -TERM "${daemon[$i]}"
	wait "${daemon[$i]}" || { echo "soak: node $i did not leave cleanly" >&2; tail -n 3 "$work/node$i.log" >&2; }
	unset "daemon[$i]"
	grep -q "every page is with the other nodes" "$work/node$i.log" || { echo "soak: node $i left without handing its pages on" >&2; exit 1; }
	leaves=$((leaves + 1))
	echo "soak: node $i left after $((step * leaves)) s"
done
for pid in ${workers[@]}; do wait "$pid" || true; done
workers=()

ops=0 corrupt=0 incr=0
for f in "$work"/worker*.out; do
	read -r o c i < <(sed -n 's/^ops=\([0-9]*\) corrupt=\([0-9]*\) incr=\([0-9]*\)$/\1 \2 \3/p' "$f")
	ops=$((ops + ${o:-0})) corrupt=$((corrupt + ${c:-0})) incr=$((incr + ${i:-0}))
done
counter=$("$work/dsmprog" get "$work/node0/segment" 0)
echo "soak: $n nodes, $nw workers, ${secs}s, $leaves leaves: $ops operations, $corrupt corrupted records, $((incr - counter)) lost increments ($counter of $incr)"
[ "$corrupt" = 0 ] && [ "$counter" = "$incr" ]
