package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The replica tests run three nodes A < B < C (nodes 0, 1, 2) with
// --replicas 1: a node that hands a page on keeps a copy, msync(MS_SYNC)
// puts a copy of what it wrote back on another node, and when a node dies
// the lowest live one recovers its pages from those copies (zeros where
// there is none). Three nodes, so that two still make a quorum.
const (
	replicaNodes = 3
	// replicaPages gives each node 32 pages at the start: A 0-31, B 32-63,
	// C 64-95.
	replicaPages = 96
	// recoveryTimeout bounds how long the survivors may take to stop
	// listing a dead node as the owner of any page.
	recoveryTimeout = 20 * time.Second
	// fenceTimeout bounds how long a resumed node that was declared dead
	// may keep running.
	fenceTimeout = 20 * time.Second
)

// replicaFlags are every daemon's flags in these tests. --timeout is
// generous: a fault on a dead node's page waits for the recovery (about
// two peer timeouts), and must not be failed before.
var replicaFlags = []string{"--peer-timeout", "1s", "--replicas", "1", "--timeout", "30s"}

// replicaAddrs is freeAddrs over a block of ports of its own: 8300-8999
// for four-digit ports and 18300-18999 for five-digit ones, which
// freeAddrs (2000-5999, 10000-14999 in practice), scripts/cluster.sh
// (7100+) and the README (7070) leave alone. It alternates the two lengths
// like freeAddrs, so that string order still differs from numeric order.
func replicaAddrs(t *testing.T, n int) []string {
	t.Helper()
	return freeAddrsIn(t, n, [2]int{8300, 8999}, [2]int{18300, 18999})
}

// startReplicaCluster starts three daemons with replicaFlags and waits until
// all are mounted; like startClusterWith, each daemon is stopped and its
// mount checked when the test ends.
func startReplicaCluster(t *testing.T) *cluster {
	t.Helper()
	return startReplicaClusterWith(t, func(_ int, args []string) *exec.Cmd { return exec.Command(bin.dsmfs, args...) })
}

// startReplicaClusterWith is startReplicaCluster with node i run as
// command(i, its dsmfs arguments).
func startReplicaClusterWith(t *testing.T, command func(i int, args []string) *exec.Cmd) *cluster {
	t.Helper()
	requireE2E(t)
	c := &cluster{t: t, pages: replicaPages}
	addrs := replicaAddrs(t, replicaNodes)
	for i, addr := range addrs {
		mnt := newMountDir(t)
		flags := append([]string{"--listen", addr}, peerFlags(addrs, i)...)
		flags = append(flags, "--pages", strconv.Itoa(c.pages), "--join-timeout", "20s")
		flags = append(flags, replicaFlags...)
		args := mountArgs(mnt, flagsFirst, flags...)
		t.Logf("%s: dsmfs %s", addr, strings.Join(args, " "))
		c.nodes = append(c.nodes, launch(t, addr, mnt, command(i, args)))
	}
	for _, d := range c.nodes {
		waitMounted(t, d)
	}
	return c
}

// requireOwnedBy requires node i's .owners, whose lines about node i's own
// pages are the truth, to give each of pages to node i.
func (c *cluster) requireOwnedBy(i int, pages ...int) {
	c.t.Helper()
	o := c.readOwners(i)
	for _, p := range pages {
		if r := o.owner(p); r.node != i {
			c.t.Fatalf("node %d's .owners gives page %d to node %d (%s), want node %d itself",
				i, p, r.node, r.addr, i)
		}
	}
}

// requireNoPagesOf waits until node i's .owners gives no page to node gone
// and parses (every page in exactly one run, and no " dead" mark, which
// only follows a dead owner), and fails the test if that does not happen
// within recoveryTimeout.
func (c *cluster) requireNoPagesOf(i, gone int) {
	t := c.t
	t.Helper()
	path := filepath.Join(c.nodes[i].mnt, ".owners")
	var text, why string
	for deadline := time.Now().Add(recoveryTimeout); ; time.Sleep(100 * time.Millisecond) {
		var err error
		text, err = readFile(path, 10*time.Second)
		why = ""
		if err != nil {
			why = err.Error()
		} else {
			why = ownersListing(text, gone, c.nodes[gone].name)
		}
		if why == "" {
			t.Logf("node %d .owners after node %d died:\n%s", i, gone, text)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after node %d died, node %d's .owners: %s\n%s",
				recoveryTimeout, gone, i, why, text)
		}
	}
}

// ownersListing returns the first line of the .owners text that gives pages
// to node gone (by number or name), or, if there is none, why the text does
// not parse; "" if neither.
func ownersListing(text string, gone int, name string) string {
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && !strings.HasPrefix(line, "#") &&
			(f[1] == strconv.Itoa(gone) || f[2] == name) {
			return fmt.Sprintf("line %q gives pages to it", line)
		}
	}
	if _, err := parseOwners(text); err != nil {
		return err.Error()
	}
	return ""
}

// survivorsWork has nodes 0 and 1, the survivors, write and check pages of
// their own and each other's, and write over recovered, the pages they
// took over from the dead node, and check them across.
func (c *cluster) survivorsWork(seed int, recovered ...int) {
	t := c.t
	t.Helper()
	a, b := c.firstPage(0)+25, c.firstPage(1)+25
	mustRun(t, dsm("write", c.seg(0), a*pageSize, 2*pageSize, seed)...)
	mustRun(t, dsm("check", c.seg(0), a*pageSize, 2*pageSize, seed)...)
	mustRun(t, dsm("write", c.seg(1), b*pageSize, 2*pageSize, seed+1)...)
	mustRun(t, dsm("check", c.seg(1), b*pageSize, 2*pageSize, seed+1)...)
	mustRun(t, dsm("check", c.seg(1), a*pageSize, 2*pageSize, seed)...)   // A -> B
	mustRun(t, dsm("check", c.seg(0), b*pageSize, 2*pageSize, seed+1)...) // B -> A
	for k, p := range recovered {
		mustRun(t, dsm("write", c.seg(k%2), p*pageSize, pageSize, seed+2)...)
		mustRun(t, dsm("check", c.seg(1-k%2), p*pageSize, pageSize, seed+2)...)
	}
}

// TestReplicaSurvivesKill: A writes a pattern into a page of its own and C
// reads it, so the page moves to C and A keeps a copy. C's daemon is then
// killed (SIGKILL: no hand-off, its connections break at once). B reads
// the page and must see the pattern, recovered from A's copy, where
// without replicas the fault fails with SIGBUS; a page C owned from the
// start and never handed on has no copy anywhere and reads as zeros, its
// start content, also without SIGBUS. A and B keep working, and A's
// .owners gives no page to C any more.
func TestReplicaSurvivesKill(t *testing.T) {
	c := startReplicaCluster(t)
	const a, b, cc = 0, 1, 2
	moved := c.firstPage(a) + 5   // A's; written on A, then read on C
	native := c.firstPage(cc) + 7 // C's from the start; never moves
	mustRun(t, dsm("write", c.seg(a), moved*pageSize, pageSize, 51)...)
	mustRun(t, dsm("check", c.seg(cc), moved*pageSize, pageSize, 51)...)
	c.requireOwnedBy(cc, moved, native)

	c.nodes[cc].kill() // SIGKILL, then a lazy unmount of what it left

	// These faults wait for the recovery and are then served.
	mustRun(t, dsm("check", c.seg(b), moved*pageSize, pageSize, 51)...)
	mustRun(t, dsm("check-zero", c.seg(b), native*pageSize, pageSize)...)
	c.requireNoPagesOf(a, cc)
	c.survivorsWork(52, moved, native)
	c.requireNoPagesOf(a, cc)

	// C restarted with its command line rejoins, holding nothing, and
	// works with the others: it reads what the survivors wrote over the
	// pages it lost (survivorsWork's seed 54), and B reads what it writes.
	c.restart(cc)
	if log := c.nodes[cc].stderr.String(); !strings.Contains(log, "rejoining a running cluster") {
		t.Fatalf("the restarted C did not rejoin:\n%s", c.nodes[cc].stderr.tail(4000))
	}
	mustRun(t, dsm("check", c.seg(cc), moved*pageSize, pageSize, 54)...)
	// C's own page at start, which it no longer owns: it must come from
	// the cluster, not from the start content a fresh node would push
	// into its page cache.
	mustRun(t, dsm("check", c.seg(cc), native*pageSize, pageSize, 54)...)
	mustRun(t, dsm("write", c.seg(cc), native*pageSize, pageSize, 55)...)
	mustRun(t, dsm("check", c.seg(b), native*pageSize, pageSize, 55)...)
}

// restart starts node i again with the command line it had, on its mount
// point, and waits until it is mounted.
func (c *cluster) restart(i int) {
	c.t.Helper()
	old := c.nodes[i]
	c.nodes[i] = startDaemon(c.t, old.name, old.mnt, old.cmd.Args[1:])
	waitMounted(c.t, c.nodes[i])
}

// TestReplicaMsync: on C, a program writes pattern P over a page that
// arrives from A for the write (A keeps a copy of the page as it was
// handed over, pattern H1) and calls msync(MS_SYNC) on it: P must then
// be on another node too. Only then do programs on C write pattern Q over
// a second page that also arrives from A (hand-off content H2) and over a
// page C owned from the start: neither is synced or handed on again.
// C's daemon is killed; on B the synced page must read P (with only the
// hand-off copy it would read H1), the second page H2 and the third zeros:
// writes after the last hand-off or sync are lost, by design.
func TestReplicaMsync(t *testing.T) {
	c := startReplicaCluster(t)
	const a, b, cc = 0, 1, 2
	const seedH1, seedH2, seedP, seedQ = 61, 62, 63, 64
	synced := c.firstPage(a) + 10   // H1 on A, then P on C and msync
	unsynced := c.firstPage(a) + 12 // H2 on A, then Q on C, no sync
	native := c.firstPage(cc) + 3   // C's from the start; Q, no sync
	mustRun(t, dsm("write", c.seg(a), synced*pageSize, pageSize, seedH1)...)
	mustRun(t, dsm("write", c.seg(a), unsynced*pageSize, pageSize, seedH2)...)

	// P is written on C after the page arrived there: only the msync can
	// have put it anywhere else.
	mustRun(t, dsm("write-sync", c.seg(cc), synced*pageSize, pageSize, seedP)...)
	mustRun(t, dsm("write", c.seg(cc), unsynced*pageSize, pageSize, seedQ)...)
	mustRun(t, dsm("write", c.seg(cc), native*pageSize, pageSize, seedQ)...)
	c.requireOwnedBy(cc, synced, unsynced, native)

	c.nodes[cc].kill()

	if r := runProg(dsm("check", c.seg(b), synced*pageSize, pageSize, seedP)...); r.err != nil {
		what := "neither P nor its hand-off content H1"
		if runProg(dsm("check", c.seg(b), synced*pageSize, pageSize, seedH1)...).err == nil {
			what = "its hand-off content H1: the msync did not leave P on another node"
		}
		t.Fatalf("the page C wrote and synced reads as %s\n%s", what, r)
	} else {
		t.Logf("on B, the page C wrote and synced reads as P: %s", strings.TrimSpace(r.out))
	}
	if r := runProg(dsm("check", c.seg(b), unsynced*pageSize, pageSize, seedH2)...); r.err != nil {
		what := "neither its hand-off content H2 nor Q"
		if runProg(dsm("check", c.seg(b), unsynced*pageSize, pageSize, seedQ)...).err == nil {
			what = "Q, written on C after the hand-off and never synced"
		}
		t.Errorf("the page C wrote without a sync reads as %s, want H2\n%s", what, r)
	} else {
		t.Logf("on B, the page C wrote without a sync reads as H2: %s", strings.TrimSpace(r.out))
	}
	if r := runProg(dsm("check-zero", c.seg(b), native*pageSize, pageSize)...); r.err != nil {
		what := "neither zeros nor Q"
		if runProg(dsm("check", c.seg(b), native*pageSize, pageSize, seedQ)...).err == nil {
			what = "Q, written on C and never synced or handed on"
		}
		t.Errorf("C's own page reads as %s, want zeros\n%s", what, r)
	} else {
		t.Logf("on B, C's own page reads as zeros: %s", strings.TrimSpace(r.out))
	}
	c.requireNoPagesOf(a, cc)
	c.survivorsWork(65, synced, unsynced, native)
}

// TestReplicaPausedNodeFences: C is stopped (SIGSTOP: its connections stay
// open, only its silence tells) for at least three peer timeouts. The
// others declare it dead and recover its pages: meanwhile, with C still
// stopped, B reads a page C held (from A's copy) and one C owned from the
// start (zeros), without SIGBUS. Once resumed, C must see that it was cut
// off and exit non-zero rather than serve its stale pages, leaving no
// mount that cannot be detached.
func TestReplicaPausedNodeFences(t *testing.T) {
	c := startReplicaCluster(t)
	const a, b, cc = 0, 1, 2
	moved := c.firstPage(a) + 20
	native := c.firstPage(cc) + 5
	mustRun(t, dsm("write", c.seg(a), moved*pageSize, pageSize, 71)...)
	mustRun(t, dsm("check", c.seg(cc), moved*pageSize, pageSize, 71)...)
	c.requireOwnedBy(cc, moved, native)

	stopped := c.nodes[cc]
	if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil && stopped.running() {
				t.Error(err)
			}
		}
	}
	defer resume() // so that cleanup can stop the daemon whatever happens
	pausedAt := time.Now()

	// The reads run while C is stopped and wait for the recovery; runProg
	// ends each within progTimeout.
	runs := []progRun{
		runProg(dsm("check", c.seg(b), moved*pageSize, pageSize, 71)...),
		runProg(dsm("check-zero", c.seg(b), native*pageSize, pageSize)...),
	}
	// C stays stopped for at least three peer timeouts, and until the reads
	// are done, so that they cannot owe anything to C.
	if rest := 3*time.Second - time.Since(pausedAt); rest > 0 {
		time.Sleep(rest)
	}
	t.Logf("C resumed after %v stopped", time.Since(pausedAt).Round(time.Millisecond))
	resume()
	for _, r := range runs {
		if r.err != nil {
			t.Errorf("on B while C was stopped: %s", r)
		} else {
			t.Logf("on B while C was stopped: %s", strings.TrimSpace(r.out))
		}
	}

	if !stopped.waitExit(fenceTimeout) {
		t.Fatalf("C still runs %v after it resumed, cut off from the others for 3 peer timeouts", fenceTimeout)
	}
	if code := stopped.exitCode(); code == 0 {
		t.Errorf("C exited with status 0 after it was cut off; want non-zero:\n%s", stopped.stderr.tail(4000))
	} else {
		t.Logf("C exited: %v; its last output:\n%s", stopped.cmd.ProcessState, stopped.stderr.tail(2000))
	}
	if isMounted(stopped.mnt) {
		t.Logf("%s is still mounted after C exited; detaching it", stopped.mnt)
		if out, err := exec.Command("umount", "-l", stopped.mnt).CombinedOutput(); err != nil || isMounted(stopped.mnt) {
			t.Errorf("cannot detach C's mount %s: %v %s", stopped.mnt, err, out)
		}
	}

	c.requireNoPagesOf(a, cc)
	c.survivorsWork(72, moved, native)
}
