package tests

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The partition test cuts a node off the network for real, with a network
// namespace: nodes A and B run in the test's own namespace, node C in a
// namespace of its own joined to it by a veth pair, and the test takes the
// link down. Only the network namespace differs (nsenter --net), so C's
// FUSE mount is in the test's mount namespace like the others, and the
// programs that use C's mount run here.

// partitionFlags are every daemon's flags in the partition test: copies,
// a short peer timeout, and a fault timeout that outlasts a recovery.
var partitionFlags = []string{
	"--replicas", "1", "--peer-timeout", "1s", "--timeout", "30s",
	"--pages", "96", "--join-timeout", "20s",
}

const (
	// partitionPages is --pages above: node 2 (C) owns pages 64-95 at start.
	partitionPages = 96
	// fenceWithin bounds how long the cut-off node may keep running: it
	// must fence itself after half a peer timeout.
	fenceWithin = 10 * time.Second
)

// netnsSeq tells apart the namespaces of several runs in one process.
var netnsSeq atomic.Int32

// partitionNet is a network namespace joined to the test's namespace by a
// veth pair: hostIP on hostIf here, nsIP on nsIf inside ns.
type partitionNet struct {
	t             *testing.T
	ns            string // name under /run/netns
	hostIf, nsIf  string
	hostIP, nsIP  string // without prefix length
	subnet        string // "10.213.Y." for messages
	partitionedAt time.Time
	down          bool // the link is cut
}

// ip runs ip(8) and returns its combined output.
func ip(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// newPartitionNet creates the namespace and the veth pair, both ends up,
// and removes them when the test ends. The test is skipped only if the
// namespace cannot be created at all (no privilege or no support); any
// later step that fails fails the test.
func newPartitionNet(t *testing.T) *partitionNet {
	t.Helper()
	seq := netnsSeq.Add(1)
	n := &partitionNet{
		t:      t,
		ns:     fmt.Sprintf("dsmfs-part-%d-%d", os.Getpid(), seq),
		hostIf: fmt.Sprintf("dsp%dh%d", os.Getpid(), seq),
		nsIf:   fmt.Sprintf("dsp%dn%d", os.Getpid(), seq),
	}
	if len(n.hostIf) > 15 { // IFNAMSIZ-1
		n.hostIf, n.nsIf = fmt.Sprintf("dsp%dh", rand.IntN(1e8)), fmt.Sprintf("dsp%dn", rand.IntN(1e8))
	}
	n.subnet = freeSubnet(t)
	n.hostIP, n.nsIP = n.subnet+"1", n.subnet+"2"

	if _, err := ip("netns", "add", n.ns); err != nil {
		// CI installs iproute2 and runs as root: there a missing
		// namespace is a broken runner, not a reason to test less.
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no network namespace can be made: %v", err)
		}
		t.Skipf("cannot create a network namespace, so no partition can be made here: %v", err)
	}
	t.Cleanup(n.remove)
	steps := [][]string{
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf},
		{"link", "set", n.nsIf, "netns", n.ns},
		{"addr", "add", n.hostIP + "/24", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"-n", n.ns, "addr", "add", n.nsIP + "/24", "dev", n.nsIf},
		{"-n", n.ns, "link", "set", n.nsIf, "up"},
		{"-n", n.ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := ip(s...); err != nil {
			t.Fatalf("setting up the partition network: %v", err)
		}
	}
	t.Logf("network namespace %s: %s on %s here, %s on %s inside", n.ns, n.hostIP, n.hostIf, n.nsIP, n.nsIf)
	return n
}

// freeSubnet picks a 10.213.Y.0/24 that no address or route here uses.
func freeSubnet(t *testing.T) string {
	t.Helper()
	addrs, err := ip("-4", "-o", "addr", "show")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := ip("-4", "route", "show", "table", "all")
	if err != nil {
		t.Fatal(err)
	}
	for range 64 {
		s := fmt.Sprintf("10.213.%d.", rand.IntN(256))
		if !strings.Contains(addrs, " "+s) && !strings.Contains(routes, s) {
			return s
		}
	}
	t.Fatal("no free 10.213.Y.0/24 subnet for the partition network")
	return ""
}

// remove deletes the veth pair and the namespace, and fails the test if
// either is left behind.
func (n *partitionNet) remove() {
	t := n.t
	// Deleting one end deletes the pair; ignore "cannot find device" when
	// setup failed before the pair existed.
	if _, err := ip("link", "del", n.hostIf); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		t.Errorf("removing the veth pair: %v", err)
	}
	if _, err := ip("netns", "del", n.ns); err != nil {
		t.Errorf("removing the network namespace: %v", err)
	}
	if out, _ := ip("netns", "list"); slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool {
		f := strings.Fields(l)
		return len(f) > 0 && f[0] == n.ns
	}) {
		t.Errorf("network namespace %s is left behind:\n%s", n.ns, out)
	}
	if _, err := ip("link", "show", n.hostIf); err == nil {
		t.Errorf("veth %s is left behind", n.hostIf)
	}
}

// cut takes the link down: from now on nothing passes between C and the
// others, and no connection breaks (no RST, no FIN gets through).
func (n *partitionNet) cut() {
	n.t.Helper()
	if _, err := ip("link", "set", n.hostIf, "down"); err != nil {
		n.t.Fatalf("cutting the link: %v", err)
	}
	n.partitionedAt = time.Now()
	if !n.down {
		// If the test ends early, heal before the daemons are stopped (the
		// cleanups run in reverse), so that they can leave cleanly.
		n.t.Cleanup(func() {
			if n.down {
				ip("link", "set", n.hostIf, "up")
			}
		})
	}
	n.down = true
	n.t.Logf("partition: %s down at %s", n.hostIf, n.partitionedAt.Format(time.RFC3339Nano))
}

// heal brings the link back up.
func (n *partitionNet) heal() {
	n.t.Helper()
	if _, err := ip("link", "set", n.hostIf, "up"); err != nil {
		n.t.Fatalf("healing the link: %v", err)
	}
	n.down = false
	n.t.Logf("healed: %s up %v after the cut", n.hostIf, time.Since(n.partitionedAt).Round(time.Millisecond))
}

// hostAddrs returns k addresses hostIP:PORT whose ports are free there,
// sorted as strings, from 9300-9699 (four digits; freeAddrs, the replica
// tests and the scripts use other ranges, and those bind 127.0.0.1 anyway).
func (n *partitionNet) hostAddrs(k int) []string {
	n.t.Helper()
	var addrs []string
	port := 9300 + rand.IntN(200)
	for len(addrs) < k {
		if port++; port > 9699 {
			n.t.Fatalf("no free port in 9300-9699 on %s", n.hostIP)
		}
		a := net.JoinHostPort(n.hostIP, strconv.Itoa(port))
		if l, err := net.Listen("tcp", a); err == nil {
			l.Close()
			addrs = append(addrs, a)
			port += rand.IntN(20)
		}
	}
	slices.Sort(addrs)
	return addrs
}

// startNetnsDaemon is startDaemon for a daemon inside the namespace:
// `nsenter --net=/run/netns/NS dsmfs args...`. nsenter enters the network
// namespace alone and execs dsmfs in its own process, so signals reach
// dsmfs itself and its mount is visible here.
func startNetnsDaemon(t *testing.T, ns, name, mnt string, args []string) *daemon {
	t.Helper()
	t.Logf("%s (in netns %s): dsmfs %s", name, ns, strings.Join(args, " "))
	argv := append([]string{"--net=" + filepath.Join("/run/netns", ns), bin.dsmfs}, args...)
	return launch(t, name, mnt, exec.Command("nsenter", argv...))
}

// logTime returns the time= of the first line of a text-format slog log
// that contains msg="MSG" (or msg=MSG), and the line.
func logTime(log, msg string) (time.Time, string, bool) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg="+strconv.Quote(msg)) && !strings.Contains(line, "msg="+msg+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "time="); ok {
				if tm, err := time.Parse(time.RFC3339Nano, v); err == nil {
					return tm, line, true
				}
			}
		}
	}
	return time.Time{}, "", false
}

// waitLog waits up to timeout for d's log to contain msg="MSG" and returns
// the time logged on that line.
func waitLog(t *testing.T, d *daemon, msg string, timeout time.Duration) (time.Time, string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if tm, line, ok := logTime(d.stderr.String(), msg); ok {
			return tm, line
		}
		if !d.running() {
			t.Fatalf("%s exited (%v) without logging msg=%q:\n%s", d.name, d.cmd.ProcessState, msg, d.stderr.tail(8000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged no msg=%q within %v:\n%s", d.name, msg, timeout, d.stderr.tail(8000))
		}
	}
}

// TestPartition cuts node C off the network while its daemon keeps
// running, a real partition rather than a dead process: C and the others
// each go on alone, and only the quorum rule keeps two nodes from owning a
// page at once.
//
// A writes P1 into page 5, its own; C reads it, so it moves to C; C writes
// P2 over it and calls msync, so P2 is on another node too. The link goes
// down. C, hearing less than a quorum, must fence itself (log "fencing
// this node" with an error naming the quorum, exit non-zero) within
// seconds; A and B, a quorum, recover C's pages ("recovered: new owner map
// installed"), and the log times must show C fenced before any survivor
// installed the new owner map: at no instant did two nodes serve page 5.
// B then reads P2 from page 5 and zeros from page 70, C's from the start
// and never copied, without SIGBUS, and A and B keep working. The link
// comes back up; if this build takes restarted nodes back, C restarted
// with the same command line joins the running cluster holding no pages,
// reads P2 from page 5 and writes page 6, which A then reads.
func TestPartition(t *testing.T) {
	requireE2E(t)
	pn := newPartitionNet(t) // cleanup registered first: runs after the daemons stop

	hostAddrs := pn.hostAddrs(2)
	cAddr := net.JoinHostPort(pn.nsIP, strconv.Itoa(9700+rand.IntN(300)))
	addrs := append(hostAddrs, cAddr)
	if !slices.IsSorted(addrs) {
		t.Fatalf("member names %v do not sort A < B < C", addrs)
	}
	const a, b, cc = 0, 1, 2
	c := &cluster{t: t, pages: partitionPages}
	mnts := make([]string, len(addrs))
	for i := range addrs {
		mnts[i] = newMountDir(t)
	}
	cMnt := mnts[cc]
	args := make([][]string, len(addrs))
	for i, addr := range addrs {
		flags := append([]string{"--listen", addr}, peerFlags(addrs, i)...)
		flags = append(flags, partitionFlags...)
		args[i] = mountArgs(mnts[i], flagsFirst, flags...)
	}
	c.nodes = []*daemon{
		startDaemon(t, addrs[a], mnts[a], args[a]),
		startDaemon(t, addrs[b], mnts[b], args[b]),
		startNetnsDaemon(t, pn.ns, addrs[cc], mnts[cc], args[cc]),
	}
	for _, d := range c.nodes {
		waitMounted(t, d)
	}
	nodeA, nodeB, nodeC := c.nodes[a], c.nodes[b], c.nodes[cc]

	const seedP1, seedP2, seedP3, seedRejoin = 81, 82, 83, 84
	moved := c.firstPage(a) + 5   // page 5: A's, then C's
	native := c.firstPage(cc) + 6 // page 70: C's from the start, never copied
	fresh := c.firstPage(a) + 6   // page 6: written on C after it rejoins
	if moved != 5 || native != 70 {
		t.Fatalf("page layout: moved %d native %d, want 5 and 70", moved, native)
	}
	mustRun(t, dsm("write", c.seg(a), moved*pageSize, pageSize, seedP1)...)
	mustRun(t, dsm("check", c.seg(cc), moved*pageSize, pageSize, seedP1)...)
	mustRun(t, dsm("write-sync", c.seg(cc), moved*pageSize, pageSize, seedP2)...)
	c.requireOwnedBy(cc, moved, native)

	pn.cut()

	// C cannot hear a quorum: it must fence itself and exit non-zero.
	if !nodeC.waitExit(fenceWithin) {
		t.Fatalf("C still runs %v after it was cut off from A and B (peer timeout 1s); its log:\n%s",
			fenceWithin, nodeC.stderr.tail(8000))
	}
	cLog := nodeC.stderr.String()
	t.Logf("C exited %v after the cut: %v", time.Since(pn.partitionedAt).Round(time.Millisecond), nodeC.cmd.ProcessState)
	if code := nodeC.exitCode(); code == 0 {
		t.Errorf("C exited with status 0 after it was cut off; want non-zero")
	}
	fencedAt, fenceLine, fenced := logTime(cLog, "fencing this node")
	switch {
	case !fenced:
		t.Errorf("C's log has no msg=\"fencing this node\":\n%s", nodeC.stderr.tail(8000))
	case !strings.Contains(fenceLine, "quorum"):
		t.Errorf("C's fencing line does not mention the quorum: %s", fenceLine)
	default:
		t.Logf("C, %v after the cut: %s", fencedAt.Sub(pn.partitionedAt).Round(time.Millisecond), fenceLine)
	}
	if isMounted(nodeC.mnt) {
		t.Errorf("%s is still mounted after C fenced itself and exited; detaching it", nodeC.mnt)
		if out, err := exec.Command("umount", "-l", nodeC.mnt).CombinedOutput(); err != nil || isMounted(nodeC.mnt) {
			t.Errorf("cannot detach C's mount %s: %v %s", nodeC.mnt, err, out)
		}
	}

	// A and B are a quorum: they recover C's pages, but only after C fenced.
	const installed = "recovered: new owner map installed"
	installedAt, installLine := waitLog(t, nodeA, installed, recoveryTimeout)
	by := "A"
	if tm, line, ok := logTime(nodeB.stderr.String(), installed); ok && tm.Before(installedAt) {
		installedAt, installLine, by = tm, line, "B"
	}
	t.Logf("%s, %v after the cut (first survivor to install): %s", by,
		installedAt.Sub(pn.partitionedAt).Round(time.Millisecond), installLine)
	if fenced {
		if !fencedAt.Before(installedAt) {
			t.Errorf("two owners possible: C logged \"fencing this node\" at %s, not before %s installed the new owner map at %s",
				fencedAt.Format(time.RFC3339Nano), by, installedAt.Format(time.RFC3339Nano))
		} else {
			t.Logf("C fenced itself %v before the survivors installed the new owner map",
				installedAt.Sub(fencedAt).Round(time.Millisecond))
		}
	}

	// The synced P2 survives on B; the page C never handed on reads zeros.
	if r := runProg(dsm("check", c.seg(b), moved*pageSize, pageSize, seedP2)...); r.err != nil {
		what := "neither P2 nor P1"
		if runProg(dsm("check", c.seg(b), moved*pageSize, pageSize, seedP1)...).err == nil {
			what = "P1, as A handed it to C: the msync on C did not leave P2 on another node"
		}
		t.Errorf("after the partition, page %d reads on B as %s\n%s", moved, what, r)
	} else {
		t.Logf("on B after the partition, page %d reads P2: %s", moved, strings.TrimSpace(r.out))
	}
	if r := runProg(dsm("check-zero", c.seg(b), native*pageSize, pageSize)...); r.err != nil {
		t.Errorf("after the partition, C's own page %d does not read as zeros on B\n%s", native, r)
	} else {
		t.Logf("on B after the partition, page %d reads zeros: %s", native, strings.TrimSpace(r.out))
	}
	if t.Failed() {
		t.FailNow()
	}
	c.requireNoPagesOf(a, cc)
	// A and B keep working, C's old page 70 among theirs now; page 5 is
	// left as recovered, for the rejoined C to read.
	c.survivorsWork(85, native)

	pn.heal()

	t.Run("rejoin", func(t *testing.T) {
		// The same command line, in the same namespace, on the same mount point.
		c2 := startNetnsDaemon(t, pn.ns, addrs[cc], cMnt, args[cc])
		waitMounted(t, c2)
		if !strings.Contains(c2.stderr.String(), "msg=mounted") {
			t.Errorf("the restarted C never logged msg=mounted:\n%s", c2.stderr.tail(8000))
		}
		t.Logf("C restarted and mounted; its log:\n%s", c2.stderr.tail(4000))
		rc := &cluster{t: t, pages: partitionPages, nodes: []*daemon{nodeA, nodeB, c2}}
		// Before any program touches it, the restarted C owns nothing: its
		// .owners, the truth about its own pages, gives it none.
		text, err := readFile(filepath.Join(c2.mnt, ".owners"), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the restarted C's .owners:\n%s", text)
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && !strings.HasPrefix(line, "#") && f[1] == strconv.Itoa(cc) {
				t.Errorf("the restarted C owns pages before any program used them (%q); it should hold none", line)
			}
		}
		mustRun(t, dsm("check", rc.seg(cc), moved*pageSize, pageSize, seedP2)...)
		mustRun(t, dsm("write", rc.seg(cc), fresh*pageSize, pageSize, seedRejoin)...)
		mustRun(t, dsm("check", rc.seg(a), fresh*pageSize, pageSize, seedRejoin)...)
		// And the other way: a page from A's side to C and back to B.
		mustRun(t, dsm("write", rc.seg(a), (fresh+1)*pageSize, pageSize, seedP3)...)
		mustRun(t, dsm("check", rc.seg(cc), (fresh+1)*pageSize, pageSize, seedP3)...)
		mustRun(t, dsm("check", rc.seg(b), (fresh+1)*pageSize, pageSize, seedP3)...)
	})
}
