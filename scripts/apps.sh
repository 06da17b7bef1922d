#!/usr/bin/env bash
# apps.sh [MOUNT FLAGS...]: run the example apps (examples/jacobi,
# examples/matmul) with one worker per node on 1, 2 and 4 local nodes, print
# a table and draw time and speedup into examples/apps.png.
#
# Each node count gets its own cluster (scripts/cluster.sh, in the background,
# in a private directory and port range), stopped with SIGTERM before the
# next. Extra arguments go to every `dsmfs mount`; the default, --size 128M
# --hold 0, hands pages on at once: barriers and halo rows are strict
# hand-offs, where the 1 ms hold window only makes the next worker wait.
#
#   APPS_NODES     node counts                   (default "1 2 4")
#   APPS_REPEAT    runs per point, best is kept  (default 2)
#   JACOBI_N, JACOBI_ITERS, MATMUL_N             (default 1024, 200, 1536)
#   DSMFS_BASE_PORT  first port; count i uses BASE+10i.. (default 7740)
#   APPS_PNG       where the plot goes           (default examples/apps.png)
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=${APPS_NODES:-1 2 4}
repeat=${APPS_REPEAT:-2}
jn=${JACOBI_N:-1024} ji=${JACOBI_ITERS:-200} mn=${MATMUL_N:-1536}
base=${DSMFS_BASE_PORT:-7740}
png=${APPS_PNG:-examples/apps.png}
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(--size 128M --hold 0)

work=$(mktemp -d /tmp/dsmfs-apps.XXXXXX)
cluster=
stop_cluster() {
	[ -n "$cluster" ] || return 0
	kill -TERM "$cluster" 2>/dev/null || true
	wait "$cluster" 2>/dev/null || true
	cluster=
}
cleanup() {
	# Workers first (they map the segments), then the cluster, which unmounts.
	jobs -p | xargs -r kill -TERM 2>/dev/null || true
	stop_cluster
	if grep -q " $work/" /proc/mounts; then
		echo "apps.sh: mounts left under $work, unmounting lazily" >&2
		grep -o " $work/[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

gcc -O2 -Wall -Wextra -o "$work/jacobi" examples/jacobi/jacobi.c
gcc -O2 -Wall -Wextra -o "$work/matmul" examples/matmul/matmul.c
(cd examples/plot && go build -o "$work/plot" .) # a module of its own: the plotting libraries stay out of dsmfs

# run APP N DIR ARGS...: one worker per node, worker w on node w's mount;
# worker 0's result line goes to $work/line. The workers are jobs of this
# shell (no command substitution), so cleanup can find them; a worker stuck
# for 120 s is killed.
run() {
	local app=$1 n=$2 dir=$3 pids=() w rc=0
	shift 3
	for w in $(seq 0 $((n - 1))); do
		timeout 120 "$work/$app" "$dir/node$w/segment" "$w" "$n" "$@" >"$work/out.$w" &
		pids+=($!)
	done
	for w in "${!pids[@]}"; do wait "${pids[$w]}" || rc=1; done
	[ $rc = 0 ] || { echo "apps.sh: $app on $n nodes failed" >&2; cat "$work"/out.* >&2; return 1; }
	cp "$work/out.0" "$work/line"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# Other work on the machine skews the times: say how busy it was.
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/results.tsv"
: >"$work/lines"
for n in $nodes; do
	dir=$work/c$n
	DSMFS_CLUSTER_DIR=$dir DSMFS_BASE_PORT=$((base + 10 * n)) \
		scripts/cluster.sh "$n" "${flags[@]}" >"$work/cluster$n.out" 2>&1 &
	cluster=$!
	until grep -qs "Ctrl-C stops" "$work/cluster$n.out"; do
		kill -0 "$cluster" 2>/dev/null || { cat "$work/cluster$n.out" >&2; exit 1; }
		sleep 0.2
	done
	for app in jacobi matmul; do
		best=
		for _ in $(seq "$repeat"); do
			if [ $app = jacobi ]; then run jacobi "$n" "$dir" "$jn" "$ji"; else run matmul "$n" "$dir" "$mn"; fi
			line=$(cat "$work/line")
			echo "  $line"
			echo "$line" >>"$work/lines"
			t=$(field time_s <<<"$line")
			if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
		done
		echo "$app $n $best" >>"$work/results.tsv"
	done
	stop_cluster
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk '{ if ($2 == 1) one[$1] = $3; t[NR] = $0 }
	END { printf "%-8s %5s %9s %8s\n", "app", "nodes", "time_s", "speedup"
	      for (i = 1; i <= NR; i++) { split(t[i], f, " ")
	          printf "%-8s %5d %9.3f %8s\n", f[1], f[2], f[3], (f[1] in one) ? sprintf("%.2f", one[f[1]] / f[3]) : "-" } }' \
	"$work/results.tsv"
"$work/plot" -in "$work/results.tsv" -out "$png" \
	-title "jacobi ${jn}²×$ji, matmul ${mn}²; $(nproc) cores"
echo "plot: $png"
