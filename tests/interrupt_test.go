package tests

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Signals interrupt page faults: the kernel tells the daemon with
// FUSE_INTERRUPT while a program's READ waits for a page. Programs with an
// interval timer, a profiler or a language runtime that preempts its
// threads with signals (Go's SIGURG) get them all the time. These tests run
// the workloads that move a page at every step with a no-op SIGALRM every
// few hundred microseconds, and require what the same workloads give
// without signals: every program exits 0 (a fault answered with an error is
// SIGBUS), every count is exact, and no program waits long for its turn.

const (
	// interruptTurns is each program's number of turns: every turn is a
	// hand-off, a few milliseconds each here.
	interruptTurns = 1000
	// stallLimit is the longest a program may wait for its turn. Normal
	// waits are tens of milliseconds on this 2-core machine; a hand-off
	// that was lost or left half done waits for --timeout, 10 s.
	stallLimit = 2 * time.Second
	// turnWord is where the turn-taking word lives: the last page, which
	// the last node owns at start.
	turnWord = (testPages - 1) * pageSize
)

// withTimer runs argv with DSMPROG_TIMER_US set: dsmprog and gomap then
// take a SIGALRM every us microseconds once the segment is mapped.
func withTimer(us int, argv []string) []string {
	return append([]string{"env", fmt.Sprintf("DSMPROG_TIMER_US=%d", us)}, argv...)
}

var longestWait = regexp.MustCompile(`longest_wait_ms=([0-9.]+)`)

// checkNoStall requires a program's longest wait, as it printed it, to be
// below stallLimit.
func checkNoStall(t *testing.T, r progRun) {
	t.Helper()
	m := longestWait.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("no longest_wait_ms in the output of %s", r)
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	if time.Duration(ms*float64(time.Millisecond)) > stallLimit {
		t.Errorf("a program waited %.0f ms for progress (limit %v): a hand-off stalled\n%s", ms, stallLimit, r)
	}
}

// requireInterrupted checks that signals really interrupted faults during
// the run, so that a pass means something.
func (c *cluster) requireInterrupted() {
	c.t.Helper()
	var total uint64
	for i := range c.nodes {
		total += c.stats(i).Interrupted
	}
	if total == 0 {
		c.t.Fatal("no fault was interrupted by a signal: the test did not exercise FUSE_INTERRUPT")
	}
	c.t.Logf("%d faults were interrupted by signals and went on waiting", total)
}

// TestTurnsUnderSignals: programs take strict turns on one word, so every
// turn moves its page, while signals interrupt their faults.
func TestTurnsUnderSignals(t *testing.T) {
	cases := []struct {
		name    string
		nodes   int
		timerUs int
		prog    func(args ...any) []string
	}{
		{"c-2-nodes-1ms", 2, 1000, dsm},
		{"c-2-nodes-100us", 2, 100, dsm},
		{"c-3-nodes-200us", 3, 200, dsm},
		{"go-2-nodes-500us", 2, 500, gomap},
		{"go-3-nodes-1ms", 3, 1000, gomap},
	}
	// Three nodes take a third longer per turn each, for a third more
	// turns: fewer turns each keep the run short.
	turnsFor := func(nodes int) int { return interruptTurns * 2 / nodes }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startClusterWith(t, clusterOpts{nodes: tc.nodes, flags: []string{"--hold", "0"}})
			var progs [][]string
			for i := range tc.nodes {
				progs = append(progs, withTimer(tc.timerUs, tc.prog("turns", c.seg(i), turnWord, i, tc.nodes, turnsFor(tc.nodes))))
			}
			for _, r := range runTogether(t, progs...) {
				checkNoStall(t, r)
			}
			for i := range tc.nodes {
				if got, want := c.getLong(i, turnWord), int64(tc.nodes*turnsFor(tc.nodes)); got != want {
					t.Errorf("node %d reads the word as %d, want %d", i, got, want)
				}
			}
			c.requireInterrupted()
		})
	}
}

// TestCountersUnderSignals: a contended atomic counter and a falsely shared
// page, incremented from two nodes while signals interrupt the faults.
func TestCountersUnderSignals(t *testing.T) {
	const increments = 200000
	c := startClusterWith(t, clusterOpts{flags: []string{"--hold", "0"}})
	t.Run("atomic-counter", func(t *testing.T) {
		c := c.on(t)
		off := c.firstPage(1) * pageSize
		mustRun(t, dsm("set", c.seg(0), off, 0, 0)...)
		var progs [][]string
		for i := range 2 {
			progs = append(progs, withTimer(200, dsm("atomic-incr", c.seg(i), off, increments, 2)))
		}
		for _, r := range runTogether(t, progs...) {
			checkNoStall(t, r)
		}
		for i := range 2 {
			if got := c.getLong(i, off); got != 2*increments {
				t.Errorf("node %d reads the counter as %d, want %d", i, got, 2*increments)
			}
		}
	})
	t.Run("false-sharing", func(t *testing.T) {
		c := c.on(t)
		off := c.firstPage(0) * pageSize
		mustRun(t, dsm("set", c.seg(1), off, 0, 0, 0, 0)...)
		var progs [][]string
		for i := range 2 {
			progs = append(progs, withTimer(300, dsm("share-incr", c.seg(i), off, i, increments, 2)))
		}
		for _, r := range runTogether(t, progs...) {
			checkNoStall(t, r)
		}
		for slot := range 2 {
			if got := c.getLong(1-slot, off+16+8*slot); got != increments {
				t.Errorf("slot %d reads as %d, want %d", slot, got, increments)
			}
		}
	})
	c.requireInterrupted()
}
