package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fault tests run three nodes without replicas, 32 pages each at the
// start (node 0 0-31, node 1 32-63, node 2 64-95), and kill or stop one of
// them while the others' hints still lead through it.

// faultProgTimeout bounds a program whose fault must end well within
// --timeout: one that waits out --timeout even once is killed first.
const faultProgTimeout = 20 * time.Second

// requireBusError runs argv and requires it to die of SIGBUS within
// faultProgTimeout, not to be killed for waiting.
func requireBusError(t *testing.T, what string, argv ...string) {
	t.Helper()
	r := runProgWithin(faultProgTimeout, argv...)
	if r.err == nil || !strings.Contains(r.err.Error(), "bus error") {
		t.Fatalf("%s: want SIGBUS at once, got %s", what, r)
	}
}

// peerDead reports whether node i's .stats says node j is dead.
func (c *cluster) peerDead(i, j int) bool {
	for _, p := range c.stats(i).Peers {
		if p.Node == j {
			return p.State == "dead"
		}
	}
	return false
}

// TestDeadHintFailsOrServes: node 2 dies while hints lead through it. A
// page that died with it fails at once on every node, however many live
// hops lead there (page 40 went 0 -> 1 -> 2, so node 0 asks node 1, which
// would forward to node 2); a page that had moved on from it is served,
// although a node's hint still names node 2 (page 70 started on node 2 and
// is on node 1 now, which node 0 never heard of).
func TestDeadHintFailsOrServes(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, pages: 96, flags: []string{"--timeout", "60s"}})
	lostPage, movedPage := 40*pageSize, 70*pageSize
	for i := range 3 {
		mustRun(t, dsm("set", c.seg(i), lostPage, 11+i)...)
	}
	mustRun(t, dsm("set", c.seg(1), movedPage, 77)...)
	c.nodes[2].kill()

	if got := strings.TrimSpace(runProgWithin(faultProgTimeout, dsm("get", c.seg(0), movedPage)...).out); got != "77" {
		t.Errorf("node 0 reads the page that moved from node 2 to node 1: got %q, want 77", got)
	}
	for _, i := range []int{0, 1, 0} {
		requireBusError(t, "a fault on the page that died with node 2", dsm("get", c.seg(i), lostPage)...)
	}
	mustRun(t, dsm("write", c.seg(0), 32*pageSize, 8*pageSize, 5)...) // node 1's pages
	mustRun(t, dsm("check", c.seg(1), 32*pageSize, 8*pageSize, 5)...)
}

// TestHandOffToDeadNodeGoesBack: node 0 hands page 40 on to node 2, which
// is stopped before it can take it, and then declared dead. Node 0 kept
// the bytes until node 2 would say it took them, so the page goes back to
// node 0 instead of dying with node 2: node 1 reads what node 0 wrote.
// (Node 0's hold window keeps the page there until node 2 is stopped, and
// ends well before node 2 is declared dead.)
func TestHandOffToDeadNodeGoesBack(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, pages: 96, flags: []string{"--peer-timeout", "5s", "--timeout", "60s"},
		nodeFlags: func(i int) []string {
			if i == 0 {
				return []string{"--hold", "2s"}
			}
			return nil
		}})
	const page = 40 * pageSize // node 1's at the start
	mustRun(t, dsm("set", c.seg(0), page, 55)...)
	waiting := exec.Command(bin.prog, "get", c.seg(2), strconv.Itoa(page))
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { waiting.Process.Kill(); waiting.Wait() }()
	waitFor(t, 3*time.Second, func() bool { return c.stats(0).HoldWaits > 0 }) // node 2's request waits on node 0
	receiver := c.nodes[2]
	receiver.cmd.Process.Signal(syscall.SIGSTOP)
	defer receiver.kill()
	if st := c.stats(0); st.PagesOut > 0 {
		t.Fatalf("setup too slow: node 0 handed page 40 on before node 2 was stopped (%d pages out)", st.PagesOut)
	}

	waitFor(t, 20*time.Second, func() bool { return c.peerDead(1, 2) })
	if got := strings.TrimSpace(runProgWithin(faultProgTimeout, dsm("get", c.seg(1), page)...).out); got != "55" {
		t.Fatalf("node 1 reads the page whose hand-off died with node 2: got %q, want 55", got)
	}
	if st := c.stats(0); st.Promoted != 1 || st.PagesOut == 0 {
		t.Errorf("node 0 handed %d pages on and took %d back, want page 40 handed to node 2 and taken back", st.PagesOut, st.Promoted)
	}
}

// TestFaultTimesOutOnce: a fault on a page whose owner is stopped (and not
// declared dead: its peer timeout is long) fails once --timeout passed,
// with SIGBUS. The kernel issues the failed READ again at once, a few
// times; only the first waits, so the daemon logs one timeout after
// --timeout, not one per try.
func TestFaultTimesOutOnce(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, pages: 96, flags: []string{"--peer-timeout", "5m", "--timeout", "4s"}})
	c.nodes[2].cmd.Process.Signal(syscall.SIGSTOP)
	defer c.nodes[2].kill()
	requireBusError(t, "a fault on a stopped node's page", dsm("get", c.seg(0), 70*pageSize)...)
	waits := strings.Count(c.nodes[0].stderr.String(), "page did not arrive in time after 4s\"")
	again := strings.Count(c.nodes[0].stderr.String(), "not waiting again")
	if waits != 1 || again == 0 {
		t.Fatalf("node 0 logged %d faults that waited out --timeout and %d retries failed at once, want 1 and some:\n%s",
			waits, again, c.nodes[0].stderr.tail(4000))
	}
}

// sigstop stops d and waits until the kernel says it is stopped, and has
// it killed when the test ends.
func sigstop(t *testing.T, d *daemon) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGSTOP)
	t.Cleanup(d.kill)
	waitFor(t, 5*time.Second, func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
		// pid (comm) state ...: comm is "dsmfs", with no ") " in it.
		_, rest, ok := strings.Cut(string(stat), ") ")
		return err == nil && ok && strings.HasPrefix(rest, "T")
	})
}

// TestLeaveDuringFailure: node 2 leaves while node 1 is stopped, and not
// declared dead (its peer timeout is long). The pulls node 1 does not
// answer go to node 0 after a few rounds, which ends up with every page
// node 2 held, and node 2 exits 0.
func TestLeaveDuringFailure(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, pages: 384, flags: []string{"--peer-timeout", "5m", "--leave-timeout", "8s"}})
	whole := c.pages * pageSize
	mustRun(t, dsm("write", c.seg(2), 0, whole, 23)...) // node 2 holds every page
	sigstop(t, c.nodes[1])
	c.nodes[2].stop(syscall.SIGTERM)
	mustRun(t, dsm("check", c.seg(0), 0, whole, 23)...)
}

// TestLeaveThatLosesPagesFails: node 2 leaves while both other nodes are
// stopped, and not declared dead, and the leave timeout ends before any
// pull is answered. Node 2 exits non-zero, naming the pages that went
// with it.
func TestLeaveThatLosesPagesFails(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, pages: 96, flags: []string{"--peer-timeout", "5m", "--leave-timeout", "3s"}})
	mustRun(t, dsm("write", c.seg(2), 0, 40*pageSize, 24)...) // pages 0-39 and its own 64-95
	sigstop(t, c.nodes[0])
	sigstop(t, c.nodes[1])
	leaver := c.nodes[2]
	leaver.cmd.Process.Signal(syscall.SIGTERM)
	if !leaver.waitExit(stopTimeout) {
		t.Fatal("the leaving node did not exit")
	}
	if leaver.exitCode() == 0 || !strings.Contains(leaver.stderr.String(), "pages lost: 0-39, 64-95") || isMounted(leaver.mnt) {
		t.Fatalf("a leave that could not hand every page on: want a non-zero exit naming the pages lost, and no mount; got %v, mounted %v:\n%s",
			leaver.cmd.ProcessState, isMounted(leaver.mnt), leaver.stderr.tail(3000))
	}
}
