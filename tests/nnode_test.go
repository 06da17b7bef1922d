package tests

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// eightNodes daemons with pagesPerNode pages each at the start: every
	// node has a range of its own, and the whole 2 MiB segment is written
	// and checked in a few seconds.
	eightNodes   = 8
	pagesPerNode = 64
	// nnodeIncrements is each program's share when all eight count at once.
	nnodeIncrements = 100000
	// ownersTimeout bounds one `dsmfs owners` run: the daemon gives a silent
	// node 2 s, so anything much longer means the command hangs.
	ownersTimeout = 10 * time.Second
)

// on is c with its failures reported to t, a subtest of the test that
// started c; the daemons stay with that test.
func (c *cluster) on(t *testing.T) *cluster {
	sub := *c
	sub.t = t
	return &sub
}

// TestEightNodes runs eight daemons and, on that one cluster, one step after
// the other: counters incremented from every node at once, data written on
// one node into pages another owned and read back on a third, and then
// `dsmfs owners` and `dsmfs owners --map`, which must show exactly where
// that data left every page.
func TestEightNodes(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: eightNodes, pages: eightNodes * pagesPerNode})
	n := len(c.nodes)
	// Where the patterns step leaves every page: at the node that checked it.
	afterPatterns := func(p int) int { return (c.pageOwner(p) + 1) % n }
	steps := []struct {
		name string
		run  func(c *cluster)
	}{
		// The counter sits on a page node 3 owns at the start.
		{"atomic-counter", func(c *cluster) {
			off := c.firstPage(3)*pageSize + 64
			c.countOnAllNodes("atomic-incr", off, off)
		}},
		// The lock sits on node 5's last page and the counter on node 6's
		// first, so the lock must order two pages that migrate separately.
		{"spin-lock-counter", func(c *cluster) {
			off := (c.firstPage(6) - 1) * pageSize
			c.countOnAllNodes("spin-incr", off, off+pageSize)
		}},
		{"patterns", (*cluster).patternsAcrossThreeNodes},
		{"owners", func(c *cluster) { c.checkClusterOwners(3, afterPatterns) }},
		{"owners-map", func(c *cluster) { c.checkOwnerMap(6, afterPatterns) }},
	}
	for _, s := range steps {
		// Each step starts from the pages as the previous one left them.
		if !t.Run(s.name, func(t *testing.T) { s.run(c.on(t)) }) {
			return
		}
	}
}

// countOnAllNodes runs cmd (atomic-incr or spin-incr at off) on every node at
// once, all starting together at the barrier, and requires the counter at
// ctrOff to read exactly the sum on every node, and every program to have
// seen other nodes' increments between its own: a node whose program ran
// alone would not have shown that the page is shared fairly among n.
func (c *cluster) countOnAllNodes(cmd string, off, ctrOff int) {
	t := c.t
	t.Helper()
	n := len(c.nodes)
	mustRun(t, dsm("set", c.seg(0), off, 0, 0)...) // lock or counter, barrier
	mustRun(t, dsm("set", c.seg(0), ctrOff, 0)...)
	var progs [][]string
	for i := range n {
		progs = append(progs, dsm(cmd, c.seg(i), off, nnodeIncrements, n))
	}
	for i, r := range runTogether(t, progs...) {
		if interleavings(t, r) == 0 {
			t.Errorf("node %d's program never saw another node's increments", i)
		}
	}
	for i := range n {
		if got, want := c.getLong(i, ctrOff), int64(n*nnodeIncrements); got != want {
			t.Errorf("node %d reads the counter as %d, want %d", i, got, want)
		}
	}
}

// patternsAcrossThreeNodes has every node i write a pattern over all the
// pages node i+1 owned at the start, all nodes at once, and then node i+2
// check them, again all at once: every page goes from its first owner to a
// writer and on to a third node, and the checks cover the whole segment.
func (c *cluster) patternsAcrossThreeNodes() {
	n := len(c.nodes)
	var writes, checks [][]string
	for i := range n {
		r := (i + 1) % n
		off, count := c.firstPage(r)*pageSize, (c.firstPage(r+1)-c.firstPage(r))*pageSize
		seed := 100 + r
		writes = append(writes, dsm("write", c.seg(i), off, count, seed))
		checks = append(checks, dsm("check", c.seg((i+2)%n), off, count, seed))
	}
	runTogether(c.t, writes...)
	runTogether(c.t, checks...)
}

// clusterOwners is .cluster-owners parsed, as `dsmfs owners` prints it.
type clusterOwners struct {
	pages, pageSize, nodes, answered int
	silent                           map[int]string // node number → its comment line
	runs                             []ownerRun
}

// parseClusterOwners parses .cluster-owners and checks that its runs cover
// every page once (see parseRuns).
func parseClusterOwners(text string) (clusterOwners, error) {
	co := clusterOwners{silent: map[int]string{}}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if _, err := fmt.Sscanf(lines[0], "# dsmfs cluster owners: pages=%d page_size=%d nodes=%d answered=%d",
		&co.pages, &co.pageSize, &co.nodes, &co.answered); err != nil {
		return co, fmt.Errorf("header %q: %v", lines[0], err)
	}
	var runs []string
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line, "#") {
			runs = append(runs, line)
			continue
		}
		var node int
		if _, err := fmt.Sscanf(line, "# node %d", &node); err != nil {
			return co, fmt.Errorf("comment %q does not name a node", line)
		}
		co.silent[node] = line
	}
	var err error
	co.runs, err = parseRuns(runs, co.pages, true)
	return co, err
}

// clusterOwners runs `dsmfs owners` on node i's mount, as a user would, and
// parses what it prints.
func (c *cluster) clusterOwners(i int) clusterOwners {
	c.t.Helper()
	r := runProgWithin(ownersTimeout, bin.dsmfs, "owners", c.nodes[i].mnt)
	if r.err != nil {
		c.t.Fatal(r)
	}
	c.t.Logf("dsmfs owners on node %d:\n%s", i, r.out)
	co, err := parseClusterOwners(r.out)
	if err != nil {
		c.t.Fatalf("dsmfs owners on node %d: %v", i, err)
	}
	if co.pages != c.pages || co.pageSize != pageSize || co.nodes != len(c.nodes) {
		c.t.Fatalf("dsmfs owners on node %d: header says pages=%d page_size=%d nodes=%d, want %d %d %d",
			i, co.pages, co.pageSize, co.nodes, c.pages, pageSize, len(c.nodes))
	}
	return co
}

// runsOf is the runs, as .cluster-owners lists them, of owner(p) over the
// whole segment; owner may say unclaimed.
func (c *cluster) runsOf(owner func(page int) int) []ownerRun {
	var runs []ownerRun
	for p := range c.pages {
		o := owner(p)
		if k := len(runs) - 1; k >= 0 && runs[k].node == o {
			runs[k].last = p
			continue
		}
		addr := "unclaimed"
		if o >= 0 {
			addr = c.nodes[o].name
		}
		runs = append(runs, ownerRun{first: p, last: p, node: o, addr: addr})
	}
	return runs
}

// checkClusterOwners requires `dsmfs owners` on node i, with every node
// answering, to list exactly the pages wantOwner gives each node, and each
// node's own .owners to claim exactly the pages the merged view gives it.
func (c *cluster) checkClusterOwners(i int, wantOwner func(page int) int) {
	c.t.Helper()
	co := c.clusterOwners(i)
	if co.answered != len(c.nodes) || len(co.silent) > 0 {
		c.t.Fatalf("answered=%d, want %d; comments %v", co.answered, len(c.nodes), co.silent)
	}
	if want := c.runsOf(wantOwner); !slices.Equal(co.runs, want) {
		c.t.Fatalf("merged runs\n%v\nwant\n%v", co.runs, want)
	}
	c.checkOwnership(wantOwner)
}

// checkOwnerMap requires `dsmfs owners --map` on node i to draw every page
// in the letter of wantOwner(p) and to give the legend of every node.
func (c *cluster) checkOwnerMap(i int, wantOwner func(page int) int) {
	t := c.t
	r := runProgWithin(ownersTimeout, bin.dsmfs, "owners", c.nodes[i].mnt, "--map")
	if r.err != nil {
		t.Fatal(r)
	}
	t.Logf("dsmfs owners --map on node %d:\n%s", i, r.out)
	lines := strings.Split(r.out, "\n")
	var pages, perCell int
	if _, err := fmt.Sscanf(lines[0], "%d pages, %d per cell", &pages, &perCell); err != nil || pages != c.pages || perCell < 1 {
		t.Fatalf("first line %q, want \"%d pages, N per cell\"", lines[0], c.pages)
	}
	// A cell shows its owner's letter, or + if its pages have several.
	var want strings.Builder
	for first := 0; first < c.pages; first += perCell {
		o := wantOwner(first)
		cell := byte('A' + o)
		for p := first; p < min(first+perCell, c.pages); p++ {
			if wantOwner(p) != o {
				cell = '+'
			}
		}
		want.WriteByte(cell)
	}
	var grid strings.Builder
	for _, line := range lines[1:] {
		if strings.Contains(line, " = ") {
			break // the legend
		}
		grid.WriteString(line)
	}
	if grid.String() != want.String() {
		t.Errorf("map cells %q, want %q", grid.String(), want.String())
	}
	for n, d := range c.nodes {
		if legend := fmt.Sprintf("%c = node %d %s", 'A'+n, n, d.name); !slices.Contains(lines, legend) {
			t.Errorf("no legend line %q", legend)
		}
	}
}

// TestSilentNodeInOwners stops one daemon of three with SIGSTOP: `dsmfs
// owners` on another node must still answer, say which node did not, and
// show its pages as unclaimed rather than guess. Once the node resumes, the
// next `dsmfs owners` on the same node is whole again.
// 256 pages do not split evenly in three, which also checks the rounding of
// the initial split.
func TestSilentNodeInOwners(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3})
	const silent = 1
	stopped := c.nodes[silent].cmd.Process
	if err := stopped.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := stopped.Signal(syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	defer resume() // so that the daemon can stop cleanly whatever happens

	start := time.Now()
	co := c.clusterOwners(0)
	t.Logf("dsmfs owners took %v with node %d stopped", time.Since(start), silent)
	if co.answered != 2 {
		t.Errorf("answered=%d, want 2", co.answered)
	}
	line, ok := co.silent[silent]
	if !ok || !strings.Contains(line, c.nodes[silent].name) || !strings.Contains(line, "did not answer") {
		t.Errorf("no comment saying node %d %s did not answer: %v", silent, c.nodes[silent].name, co.silent)
	}
	if len(co.silent) != 1 {
		t.Errorf("comments about nodes %v, want only node %d", co.silent, silent)
	}
	unanswered := func(p int) int {
		if o := c.pageOwner(p); o != silent {
			return o
		}
		return unclaimed
	}
	if want := c.runsOf(unanswered); !slices.Equal(co.runs, want) {
		t.Errorf("merged runs\n%v\nwant\n%v", co.runs, want)
	}

	// Node 1 now answers the abandoned query late, which node 0 must ignore,
	// and then the new one.
	resume()
	c.checkClusterOwners(0, c.pageOwner)
}

// TestMemberListMismatch starts three nodes A < B < C where A and B list all
// three but C's list differs. C refuses whoever reaches it first, and that
// node refuses C, both naming the members only one side lists; the third
// node then misses a peer and gives up at its join timeout. Nothing may
// get mounted and every daemon must exit non-zero.
func TestMemberListMismatch(t *testing.T) {
	requireE2E(t)
	for _, tc := range []struct {
		name string
		// cPeers are C's peers given addresses A, B, C and D (D runs nothing);
		// onlyAB and onlyC are the members only A and B, or only C, list.
		cPeers        func(a, b, c, d string) []string
		onlyAB, onlyC func(a, b, c, d string) []string
	}{
		{"C-lists-only-A",
			func(a, b, c, d string) []string { return []string{a} },
			func(a, b, c, d string) []string { return []string{b} },
			func(a, b, c, d string) []string { return nil }},
		{"C-lists-A-and-D",
			func(a, b, c, d string) []string { return []string{a, d} },
			func(a, b, c, d string) []string { return []string{b} },
			func(a, b, c, d string) []string { return []string{d} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs := freeAddrs(t, 4)
			// D is whichever address sorts last, so A, B, C keep their order.
			a, b, cc, d := addrs[0], addrs[1], addrs[2], addrs[3]
			peers := map[string][]string{a: {b, cc}, b: {a, cc}, cc: tc.cPeers(a, b, cc, d)}
			var ds []*daemon
			for _, addr := range []string{a, b, cc} {
				mnt := newMountDir(t)
				flags := []string{"--listen", addr, "--pages", "96", "--join-timeout", "3s"}
				for _, p := range peers[addr] {
					flags = append(flags, "--peer", p)
				}
				ds = append(ds, startDaemon(t, addr, mnt, mountArgs(mnt, flagsFirst, flags...)))
			}
			watchUntilExit(t, ds...)

			onlyAB, onlyC := tc.onlyAB(a, b, cc, d), tc.onlyC(a, b, cc, d)
			refused := map[string]bool{}
			for _, dm := range ds {
				line, ok := mismatchLine(dm.stderr.String())
				if !ok {
					continue
				}
				t.Logf("%s: %s", dm.name, line)
				refused[dm.name] = true
				// Each side says "only it list" for the other's extras and
				// "only we list" for its own.
				ours, theirs := onlyAB, onlyC
				if dm.name == cc {
					ours, theirs = onlyC, onlyAB
				}
				if got := onlyLists(line, "we"); !slices.Equal(got, ours) {
					t.Errorf("%s: names %v as only its own members, want %v", dm.name, got, ours)
				}
				if got := onlyLists(line, "it"); !slices.Equal(got, theirs) {
					t.Errorf("%s: names %v as only the peer's members, want %v", dm.name, got, theirs)
				}
			}
			if !refused[cc] || len(refused) != 2 {
				t.Errorf("nodes that reported a member mismatch: %v; want C (%s) and one of A (%s), B (%s)",
					refused, cc, a, b)
			}
		})
	}
}

// mismatchLine finds the daemon's report of a peer with other members.
func mismatchLine(out string) (string, bool) {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "has members") {
			return line, true
		}
	}
	return "", false
}

var onlyListRE = regexp.MustCompile(`only (it|we) list \[([^\]]*)\]`)

// onlyLists returns the members a mismatch line says only who ("it" or "we")
// lists.
func onlyLists(line, who string) []string {
	for _, m := range onlyListRE.FindAllStringSubmatch(line, -1) {
		if m[1] == who {
			return strings.Fields(m[2])
		}
	}
	return nil
}
