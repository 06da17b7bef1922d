#!/usr/bin/env bash
# soak.sh SECONDS [NODES] [WORKERS_PER_NODE]: a churn test, not in CI.
#
# Starts NODES local nodes (default 4) on ports DSMFS_BASE_PORT (default
# 7800) and up, with WORKERS_PER_NODE programs each (default 2,
# tests/c/soak.c) that write checksummed records into interleaved slots of
# the segment, read them back, and count every write in one shared atomic
# counter.
#
# Default mode (leaves): while the workers run, nodes leave one by one
# (SIGTERM: their pages go to the nodes that stay) until two remain. At the
# end it prints operations, corrupted records and lost increments (the shared
# counter against the sum of what the workers counted), and fails unless
# both are zero.
#
# SOAK_KILLS=1 (kills): every node runs with --replicas 1 --peer-timeout 2s,
# and at random times (every 4-12 s) one node, chosen at random, is either
# killed (kill -9 of its daemon and its workers at once; three times in four)
# or leaves (SIGTERM to its workers, then to its daemon), and is restarted
# after 0-4 s with the same command line and mount point (it rejoins the
# running cluster; a restart that is not mounted within 90 s fails the run).
# At most one node is down at a time, so the others always keep a quorum;
# with 2 nodes only the higher-named one is ever taken down (with NODES >= 3
# any). Workers run in sync mode: each msync(MS_SYNC)s the page of every
# record it writes, and page 0 after every increment, before it counts the
# write or the increment as durable; what it has synced is kept in a local
# state file that survives its kill, and a restarted worker continues from
# it. Checks (see tests/c/soak.c):
#   - corrupted records: a record read back, by a live worker or by a
#     restarted one over all its slots, that is not exactly its last synced
#     record (the one write in flight at a kill may be old, new or mixed);
#     after the run every worker's slots are checked again from another node;
#   - lost synced increments: the shared counter must be >= the sum of the
#     increments counted durable, and each worker's own counter in page 0
#     >= its durable increments (no masking by other workers' luck);
#   - nothing invented: counter <= sum of increments attempted;
#   - every restart rejoins; no daemon exits unless told, no worker dies
#     unless killed (a SIGBUS, an msync that keeps failing).
# Unsynced increments lost by kills (attempted - counter) are reported, not
# failed: writes since the last sync of a page die with their node by design.
# History (both modes; SOAK_HISTORY=0 turns it off): besides the workers,
# every node incarnation runs tests/histprog, which reads and writes (and
# msyncs) 8 registers in pages of their own at random and records each
# operation's call and return; at the end tests/histcheck checks all the
# histories for linearizability with porcupine (operations a kill cut short
# may have taken effect, or not). A history that is not linearizable fails
# the run; its picture goes to history.html in the work directory.
# A failure is logged when seen (FAILURE lines) and the run goes on, except
# after a daemon exits on its own or a restart does not rejoin: then no node
# is taken down any more and the run ends early (at most one node down).
# The last line on stdout is the summary: nodes, workers, seconds, kills,
# restarts, leaves, operations, corrupted records, lost synced increments.
#
# Other settings: SOAK_SEED=N (the random schedule; default the pid),
# SOAK_LOG_LEVEL=debug (the daemons' --log-level),
# SOAK_KEEP=1 (keep the work directory /tmp/dsmfs-soak.* with the node logs
# and worker outputs when the run fails). Needs root (or fuse3), gcc, Go.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: [SOAK_KILLS=1] [SOAK_KEEP=1] [SOAK_SEED=N] [DSMFS_BASE_PORT=P] scripts/soak.sh SECONDS [NODES] [WORKERS_PER_NODE]"
secs=${1:?$usage}
n=${2:-4} per=${3:-2}
base=${DSMFS_BASE_PORT:-7800}
killmode=${SOAK_KILLS:-0}
[ "$killmode" = 1 ] || killmode=0
keep=${SOAK_KEEP:-0}
histmode=${SOAK_HISTORY:-1}
seed=${SOAK_SEED:-$$}
RANDOM=$seed
if [ "$killmode" = 1 ] && [ "$n" -lt 2 ]; then
	echo "soak: kills need at least 2 nodes" >&2
	exit 2
fi
work=$(mktemp -d /tmp/dsmfs-soak.XXXXXX)
mkfifo "$work/.tick"
exec {tick}<>"$work/.tick" # never written: reads on it time out (nap)
declare -A daemon workers hist
declare -a inc winc
failed=0

# child_pids: the children of this script still running, in kids (a
# zombie counts while some of its threads have not exited, such as a
# crashed daemon with a thread stuck in its own mount). Builtins only, so
# that it does not list itself.
child_pids() {
	local f line
	kids=()
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		set -- ${line##*) } # state ppid ... num_threads is the 18th
		[ "$2" = $$ ] && { [ "$1" != Z ] || [ "${18}" -gt 1 ]; } && kids+=("${line%% *}")
	done
	return 0
}
children_alive() {
	child_pids
	[ "${#kids[@]}" -gt 0 ]
}
# wait_children SECONDS: until no child runs; fails if some still do.
wait_children() {
	for _ in $(seq $(($1 * 10))); do
		children_alive || return 0
		sleep 0.1
	done
	return 1
}
# abort_mounts [DIR]: abort the FUSE connections of this run's mounts (or
# of the one on DIR; what umount -f would do), which frees processes stuck
# in them.
abort_mounts() {
	local dev
	grep -qs fusectl /proc/mounts || mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null || true
	for dev in $(awk -v w="${1:-$work/}" '(w ~ /\/$/ ? index($5, w) == 1 : $5 == w) { split($3, d, ":"); print d[2] }' /proc/self/mountinfo); do
		echo 1 >"/sys/fs/fuse/connections/$dev/abort" 2>/dev/null || true
	done
}
# nap SECONDS: sleep without starting a process, so that bash reports the
# processes just killed at the wait (2>/dev/null) rather than after it.
nap() { read -rt "$1" -u "$tick" 2>/dev/null || true; }
# gone PID...: whether none of these processes runs any more (a zombie
# counts as running while some of its threads have not exited).
gone() {
	local pid f line
	for pid; do
		f=/proc/$pid/stat
		read -r line 2>/dev/null <"$f" || continue
		set -- ${line##*) }
		[ "$1" != Z ] || [ "${18}" -gt 1 ] && return 1
	done
	return 0
}
# stop_all stops every worker and daemon still running: SIGTERM, then
# SIGKILL what is still there after a minute and a half, then aborting the
# mounts if something is stuck in one.
stop_all() {
	local pid
	for pid in ${workers[@]:-}; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in ${daemon[@]:-}; do kill -TERM "$pid" 2>/dev/null || true; done
	if ! wait_children 90; then
		echo "soak: processes still run after 90 s; killing them:" >&2
		child_pids
		ps -o pid=,stat=,wchan:24=,args= -p "$(IFS=,; echo "${kids[*]}")" >&2 || true
		kill -KILL "${kids[@]}" 2>/dev/null || true
		if ! wait_children 5; then
			echo "soak: processes stuck in the mounts; aborting their FUSE connections" >&2
			abort_mounts
			wait_children 10 || echo "soak: processes still stuck" >&2
		fi
	fi
	wait 2>/dev/null || true
	workers=() daemon=()
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	for i in $(seq 0 $((n - 1))); do
		if grep -qs " $work/node$i " /proc/mounts; then umount -l "$work/node$i" || true; fi
	done
	if [ "$keep" = 1 ] && { [ "$rc" != 0 ] || [ "$failed" != 0 ]; }; then
		echo "soak: kept $work (node logs node*.log, worker outputs worker*.out)" >&2
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() { echo "soak: $(date +%T) $*" | tee -a "$work/events.log"; }

CGO_ENABLED=0 go build -o "$work/dsmfs" .
gcc -O2 -Wall -o "$work/soak" tests/c/soak.c
gcc -O2 -Wall -pthread -o "$work/dsmprog" tests/c/dsmprog.c
if [ "$histmode" = 1 ]; then
	(cd tests && CGO_ENABLED=0 go build -o "$work/histprog" ./histprog && CGO_ENABLED=0 go build -o "$work/histcheck" ./histcheck)
fi

nw=$((n * per))
# The slots need (1 + 512 * nw) * 64 + 4096 bytes; keep 256 pages unless
# that is too few.
pages=$(((((1 + 512 * nw) * 64 + 4096 + 4095) / 4096 + 255) / 256 * 256))
histfirst=$pages # the history's registers: a page each, after the slots
[ "$histmode" = 1 ] && pages=$((pages + 256))
flags=(--pages "$pages")
if [ "$killmode" = 1 ]; then
	flags+=(--replicas 1 --peer-timeout 2s --timeout 30s --join-timeout 60s)
fi
[ -z "${SOAK_LOG_LEVEL:-}" ] || flags+=(--log-level "$SOAK_LOG_LEVEL")

addrs=()
for i in $(seq 0 $((n - 1))); do addrs+=("127.0.0.1:$((base + i))"); done
# The lowest-named node (member names sort as strings): with 2 nodes the
# other one alone is no quorum, so it is never taken down.
lowest=0
for i in $(seq 0 $((n - 1))); do [[ "${addrs[$i]}" < "${addrs[$lowest]}" ]] && lowest=$i; done

# stop_history I: SIGTERM to node I's histprog, which ends after the
# operation in hand.
stop_history() {
	[ -n "${hist[$1]:-}" ] || return 0
	kill -TERM "${hist[$1]}" 2>/dev/null || true
	wait "${hist[$1]}" 2>/dev/null || true
	unset "hist[$1]"
}
# check_history checks every recorded history at once; prints its verdict.
check_history() {
	[ "$histmode" = 1 ] || return 0
	"$work/histcheck" -html "$work/history.html" "$work"/history.*.jsonl | sed 's/^/soak: /'
	return "${PIPESTATUS[0]}"
}

# start_node I starts node I's daemon (the same command line every time),
# logging to node$I.$INCARNATION.log.
start_node() {
	local i=$1 j peers=()
	for j in $(seq 0 $((n - 1))); do [ "$j" = "$i" ] || peers+=(--peer "${addrs[$j]}"); done
	inc[$i]=$((${inc[$i]:--1} + 1))
	# (a restart finds the mount its killed daemon left, which it clears)
	[ "${inc[$i]}" != 0 ] || mkdir "$work/node$i"
	"$work/dsmfs" mount "$work/node$i" --listen "${addrs[$i]}" "${peers[@]}" "${flags[@]}" 2>"$work/node$i.${inc[$i]}.log" &
	daemon[$i]=$!
}
log_of() { echo "$work/node$1.${inc[$1]}.log"; }
# live_node [I]: I if its daemon runs, else the first node whose daemon does.
live_node() {
	local i
	for i in ${1:-} $(seq 0 $((n - 1))); do
		[ -n "${daemon[$i]:-}" ] && { echo "$i"; return 0; }
	done
	echo 0
}

# wait_mounted I SECONDS: until node I's current daemon logged msg=mounted;
# fails if it exits first or the time runs out.
wait_mounted() {
	local i=$1 t=$2
	for _ in $(seq $((t * 10))); do
		grep -qs msg=mounted "$(log_of "$i")" && return 0
		kill -0 "${daemon[$i]}" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_workers I [SECONDS]: node I's workers; in kill mode each with its
# state file, which a restarted worker continues from. With the history,
# also node I's histprog: a client of its own for every incarnation.
start_workers() {
	local i=$1 s=${2:-$secs} k w
	if [ "$histmode" = 1 ]; then
		"$work/histprog" "$work/node$i/segment" $((i * 1000 + ${inc[$i]})) "$histfirst" 8 "$s" "$work/history.$i.${inc[$i]}.jsonl" "$seed" >"$work/histprog.$i.${inc[$i]}.out" 2>&1 &
		hist[$i]=$!
	fi
	for k in $(seq 0 $((per - 1))); do
		w=$((i * per + k))
		winc[$w]=$((${winc[$w]:--1} + 1))
		if [ "$killmode" = 1 ]; then
			"$work/soak" "$work/node$i/segment" "$w" "$nw" "$s" "$work/state$w" >"$work/worker$w.${winc[$w]}.out" 2>&1 &
		else
			"$work/soak" "$work/node$i/segment" "$w" "$nw" "$s" >"$work/worker$w.${winc[$w]}.out" 2>&1 &
		fi
		workers[$w]=$!
	done
}

for i in $(seq 0 $((n - 1))); do start_node "$i"; done
for i in $(seq 0 $((n - 1))); do
	wait_mounted "$i" 60 || { echo "soak: node $i did not mount" >&2; tail -n 5 "$(log_of "$i")" >&2; exit 1; }
done

if [ "$killmode" = 0 ]; then
	for i in $(seq 0 $((n - 1))); do start_workers "$i"; done

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
		stop_history "$i"
		kill -TERM "${daemon[$i]}"
		wait "${daemon[$i]}" || { echo "soak: node $i did not leave cleanly" >&2; tail -n 3 "$(log_of "$i")" >&2; }
		unset "daemon[$i]"
		grep -q "every page is with the other nodes" "$(log_of "$i")" || { echo "soak: node $i left without handing its pages on" >&2; exit 1; }
		leaves=$((leaves + 1))
		echo "soak: node $i left after $((step * leaves)) s"
	done
	for pid in ${workers[@]}; do wait "$pid" || true; done
	workers=()
	for i in "${!hist[@]}"; do stop_history "$i"; done
	check_history || failed=1

	ops=0 corrupt=0 incr=0
	for f in "$work"/worker*.out; do
		read -r o c i < <(sed -n 's/^ops=\([0-9]*\) corrupt=\([0-9]*\) incr=\([0-9]*\)$/\1 \2 \3/p' "$f")
		ops=$((ops + ${o:-0})) corrupt=$((corrupt + ${c:-0})) incr=$((incr + ${i:-0}))
	done
	counter=$("$work/dsmprog" get "$work/node0/segment" 0)
	echo "soak: $n nodes, $nw workers, ${secs}s, $leaves leaves: $ops operations, $corrupt corrupted records, $((incr - counter)) lost increments ($counter of $incr)"
	[ "$corrupt" = 0 ] && [ "$counter" = "$incr" ] && [ "$failed" = 0 ] || { failed=1; exit 1; }
	exit 0
fi

# Kill mode.
note "seed $seed, $n nodes, $nw workers, ${secs}s, $pages pages, flags ${flags[*]}, work $work"
problems=() # what fails the run, one line each
problem() {
	failed=1
	problems+=("$*")
	note "FAILURE: $*"
}
# fatal: a failure after which no node is taken down any more (one is
# down for good already, or the cluster's state is unknown).
fatal=0
deadline=$((SECONDS + secs))
for i in $(seq 0 $((n - 1))); do start_workers "$i" "$secs"; done

# check_alive: a daemon or a worker that exited on its own is a failure
# (a fenced node, a crash, a SIGBUS); a worker that ran its time is not.
check_alive() {
	local i w rc
	for i in "${!daemon[@]}"; do
		kill -0 "${daemon[$i]}" 2>/dev/null && continue
		rc=0
		wait "${daemon[$i]}" 2>/dev/null || rc=$?
		problem "node $i's daemon exited on its own (status $rc); its log ends:"$'\n'"$(tail -n 8 "$(log_of "$i")")"
		fatal=1
		unset "daemon[$i]"
	done
	for w in "${!workers[@]}"; do
		kill -0 "${workers[$w]}" 2>/dev/null && continue
		rc=0
		wait "${workers[$w]}" 2>/dev/null || rc=$?
		unset "workers[$w]"
		# Status 1: it found corrupted records, which the final count has.
		{ [ "$rc" = 0 ] || [ "$rc" = 1 ]; } && [ "$SECONDS" -ge $((deadline - 2)) ] && continue
		problem "worker $w (incarnation ${winc[$w]}) exited on its own (status $rc); its output ends:"$'\n'"$(tail -n 8 "$work/worker$w.${winc[$w]}.out")"
	done
}
# pause SECONDS, checking every second that everything still runs.
pause() {
	local end=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$end" ]; do
		sleep 1
		check_alive
	done
}
# take_down I kill|leave: stop node I and its workers.
take_down() {
	local i=$1 how=$2 k w t pids=() rc
	for k in $(seq 0 $((per - 1))); do
		w=$((i * per + k))
		[ -n "${workers[$w]:-}" ] && pids+=("${workers[$w]}")
	done
	[ -n "${hist[$i]:-}" ] && pids+=("${hist[$i]}")
	if [ "$how" = kill ]; then
		kill -KILL "${pids[@]}" "${daemon[$i]}" 2>/dev/null || true
		for ((t = 0; t < 100; t++)); do gone "${pids[@]}" "${daemon[$i]}" && break; nap 0.1; done
		if ! gone "${pids[@]}" "${daemon[$i]}"; then
			problem "node $i: 10 s after kill -9 its processes still run; aborting its FUSE connection:"$'\n'"$(ps -o pid=,stat=,wchan:24=,args= -p "$(IFS=,; echo "${pids[*]} ${daemon[$i]}" | tr ' ' ,)" 2>&1)"
			abort_mounts "$work/node$i"
		fi
		for pid in "${pids[@]}" "${daemon[$i]}"; do wait "$pid" 2>/dev/null || true; done
	else
		kill -TERM "${pids[@]}" 2>/dev/null || true
		for pid in "${pids[@]}"; do
			rc=0
			wait "$pid" 2>/dev/null || rc=$?
			# Status 1: it found corrupted records, which the final count has.
			[ "$rc" = 0 ] || [ "$rc" = 1 ] || problem "a worker of node $i (pid $pid) exited with status $rc when told to stop"
		done
		kill -TERM "${daemon[$i]}"
		rc=0
		wait "${daemon[$i]}" || rc=$?
		[ "$rc" = 0 ] || problem "node $i did not leave cleanly (status $rc); its log ends:"$'\n'"$(tail -n 8 "$(log_of "$i")")"
		grep -q "every page is with the other nodes" "$(log_of "$i")" || problem "node $i left without handing its pages on"
	fi
	for k in $(seq 0 $((per - 1))); do unset "workers[$((i * per + k))]"; done
	unset "daemon[$i]" "hist[$i]"
}

kills=0 restarts=0 leaves=0 rejoinfail=0
while [ "$fatal" = 0 ]; do
	up=$((4 + RANDOM % 9))
	# Leave time for a restart to rejoin before the end.
	[ $((SECONDS + up + 30)) -lt "$deadline" ] || break
	pause "$up"
	[ "$fatal" = 0 ] || break
	i=$((RANDOM % n))
	if [ "$n" = 2 ] && [ "$i" = "$lowest" ]; then i=$((1 - i)); fi
	if [ $((RANDOM % 4)) = 0 ]; then how=leave; else how=kill; fi
	take_down "$i" "$how"
	if [ "$how" = kill ]; then kills=$((kills + 1)); else leaves=$((leaves + 1)); fi
	down=$((RANDOM % 5))
	note "node $i: $([ "$how" = kill ] && echo "kill -9 of its daemon and workers" || echo "left (SIGTERM)"), restart in ${down}s"
	pause "$down"
	start_node "$i"
	t0=$SECONDS
	if ! wait_mounted "$i" 90; then
		rejoinfail=$((rejoinfail + 1))
		problem "node $i did not rejoin within 90 s; its log ends:"$'\n'"$(tail -n 12 "$(log_of "$i")")"
		fatal=1
		break
	fi
	restarts=$((restarts + 1))
	note "node $i rejoined after $((SECONDS - t0)) s (incarnation ${inc[$i]})"
	start_workers "$i" $((deadline - SECONDS))
done
# The rest of the time, then stop the workers (they finish the write in
# hand, msync included).
while [ "$fatal" = 0 ] && [ "$SECONDS" -lt "$deadline" ]; do pause 1; done
check_alive
for w in "${!workers[@]}"; do kill -TERM "${workers[$w]}" 2>/dev/null || true; done
for w in "${!workers[@]}"; do
	rc=0
	wait "${workers[$w]}" 2>/dev/null || rc=$?
	[ "$rc" = 0 ] || [ "$rc" = 1 ] || problem "worker $w (incarnation ${winc[$w]}) ended with status $rc; its output ends:"$'\n'"$(tail -n 8 "$work/worker$w.${winc[$w]}.out")"
	unset "workers[$w]"
done

for i in "${!hist[@]}"; do stop_history "$i"; done
check_history || problem "the history of the registers is not linearizable (see history.html)"

# Every worker's slots and own counter, checked from the next node.
ops=0 corrupt=0 durable=0 attempts=0 lostown=0 torn=0 reverted=0 retries=0 verified=0
for w in $(seq 0 $((nw - 1))); do
	v=$(live_node $(((w / per + 1) % n)))
	out=$("$work/soak" "$work/node$v/segment" "$w" "$nw" 0 "$work/state$w" 2>"$work/verify$w.err") || true
	echo "$out" >"$work/verify$w.out"
	line=$(grep '^ops=' <<<"$out" || true)
	if [ -z "$line" ]; then
		problem "the final check of worker $w on node $v gave no result: $(head -c 600 "$work/verify$w.err")"
		continue
	fi
	verified=$((verified + 1))
	declare -A r=()
	for kv in $line; do r[${kv%%=*}]=${kv#*=}; done
	ops=$((ops + ${r[ops]})) corrupt=$((corrupt + ${r[corrupt]})) durable=$((durable + ${r[durable]}))
	attempts=$((attempts + ${r[attempts]})) lostown=$((lostown + ${r[lostsynced]})) retries=$((retries + ${r[syncretry]}))
	if [ "${r[own]}" -gt "${r[attempts]}" ]; then problem "worker $w's own counter ${r[own]} is above its ${r[attempts]} attempts"; fi
	unset r
done
# Torn and reverted in-flight writes, as found by the restarted incarnations.
for out in "$work"/worker*.out; do
	read -r t u < <(sed -n 's/.* \([0-9]*\) torn and \([0-9]*\) reverted unsynced records.*/\1 \2/p' "$out" | head -n 1) || true
	torn=$((torn + ${t:-0})) reverted=$((reverted + ${u:-0}))
	unset t u
done
v=$(live_node 0)
counter=$("$work/dsmprog" get "$work/node$v/segment" 0 2>/dev/null) || { problem "cannot read the counter on node $v"; counter=0; }
lost=$((durable > counter ? durable - counter : 0))
[ "$lostown" -gt "$lost" ] && lost=$lostown
[ "$counter" -gt "$attempts" ] && problem "the counter ($counter) is above the increments attempted ($attempts)"
[ "$corrupt" = 0 ] || problem "$corrupt corrupted records"
[ "$lost" = 0 ] || problem "$lost synced increments lost (counter $counter, synced $durable; by the workers' own counters $lostown)"
[ "$verified" = "$nw" ] || problem "only $verified of $nw workers could be checked at the end"
recoveries=$(cat "$work"/node*.log | grep -c "recovered: new owner map installed" || true)

for p in "${problems[@]}"; do echo "soak: FAILED: ${p%%$'\n'*}" >&2; done
if [ "$corrupt" != 0 ] || [ "$lost" != 0 ]; then
	echo "soak: the first wrong records and counters the workers saw (UTC, as in the node logs):" >&2
	cat "$work"/worker*.out "$work"/verify*.err | grep -E '^[0-9:.]+ soak [0-9]+: (read back|after a restart|own counter)' | sort | head -n 8 >&2 || true
fi
# Increments attempted but neither synced nor in the counter: lost with their
# node, by design (beyond the synced ones, if those were lost too).
unsynced=$((attempts - (counter > durable ? counter : durable)))
echo "soak: seed $seed; counter $counter, synced increments $durable, attempted $attempts: $unsynced unsynced increments lost by kills; $torn torn and $reverted undone unsynced records at restarts; $retries msync retries; $recoveries owner maps installed (recoveries and rejoins, counted on every node)"
echo "soak: $n nodes, $nw workers, ${secs}s, $kills kills, $restarts restarts, $leaves leaves: $ops operations, $corrupt corrupted records, $lost lost synced increments$([ "$rejoinfail" = 0 ] || echo ", $rejoinfail failed rejoins")"
[ "$failed" = 0 ]
