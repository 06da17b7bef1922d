package tests

import (
	"fmt"
	"strings"
	"testing"
)

// Sizes of the concurrent workloads: enough for many page hand-offs between
// the nodes while each test stays well under 30 s.
const (
	atomicIncrements = 500000
	spinIncrements   = 500000
	mpRounds         = 600
)

// requireInterleaving fails the test if no program ever saw another node's
// increments between two of its own: then the run was sequential and proved
// nothing about cross-node atomicity.
func requireInterleaving(t *testing.T, runs []progRun) {
	t.Helper()
	total := 0
	for _, r := range runs {
		total += interleavings(t, r)
	}
	if total == 0 {
		t.Fatal("the programs never interleaved: the test did not exercise concurrent access")
	}
}

// interleavings is the count an incr program printed.
func interleavings(t *testing.T, r progRun) int {
	t.Helper()
	var k int
	i := strings.Index(r.out, "interleavings=")
	if i < 0 {
		t.Fatalf("no interleavings count in %s", r)
	}
	fmt.Sscanf(r.out[i:], "interleavings=%d", &k)
	return k
}

func TestAtomicCounterBothNodes(t *testing.T) {
	c := startCluster(t)
	off := 7*pageSize + 64 // counter, then the start barrier
	mustRun(t, dsm("set", c.seg(0), off, 0, 0)...)
	runs := runTogether(t,
		dsm("atomic-incr", c.seg(0), off, atomicIncrements),
		dsm("atomic-incr", c.seg(1), off, atomicIncrements))
	requireInterleaving(t, runs)
	for i := range 2 {
		if got := c.getLong(i, off); got != 2*atomicIncrements {
			t.Errorf("node %d reads the counter as %d, want %d", i, got, 2*atomicIncrements)
		}
	}
}

// TestSpinLockCounterBothNodes keeps the lock on node 0's last page and the
// counter it protects on node 1's first page, so the lock must order
// accesses to two pages that migrate separately.
func TestSpinLockCounterBothNodes(t *testing.T) {
	c := startCluster(t)
	off := (c.pages/2 - 1) * pageSize // lock, start barrier; counter one page on
	mustRun(t, dsm("set", c.seg(0), off, 0, 0)...)
	mustRun(t, dsm("set", c.seg(0), off+pageSize, 0)...)
	runs := runTogether(t,
		dsm("spin-incr", c.seg(0), off, spinIncrements),
		dsm("spin-incr", c.seg(1), off, spinIncrements))
	requireInterleaving(t, runs)
	for i := range 2 {
		if got := c.getLong(i, off+pageSize); got != 2*spinIncrements {
			t.Errorf("node %d reads the counter as %d, want %d", i, got, 2*spinIncrements)
		}
	}
}

// TestMessagePassing checks that a receiver never sees a round's flag before
// that round's payload, which sits on other pages, in both directions.
func TestMessagePassing(t *testing.T) {
	c := startCluster(t)
	for _, dir := range [][2]int{{0, 1}, {1, 0}} {
		send, recv := dir[0], dir[1]
		mustRun(t, dsm("mp-init", c.seg(send))...)
		runTogether(t,
			dsm("mp-send", c.seg(send), mpRounds),
			dsm("mp-recv", c.seg(recv), mpRounds))
	}
}
