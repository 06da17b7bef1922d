package tests

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ownerRun is one line of .owners or .cluster-owners: pages first..last
// belong to node at addr, or, in .cluster-owners only, node is unclaimed or
// claimedTwice. marks are the words after the address ("copy", "dead",
// "readers=1,2"), space-separated.
type ownerRun struct {
	first, last, node int
	addr, marks       string
}

// The owner fields of .cluster-owners that are not node numbers.
const (
	unclaimed    = -1 // "?": no node claims the pages
	claimedTwice = -2 // "!": several nodes claim them
)

// owners is one node's parsed .owners file.
type owners struct {
	pages, pageSize, nodes, self int
	runs                         []ownerRun
}

// parseOwners parses .owners and checks its shape (see parseRuns).
func parseOwners(text string) (owners, error) {
	var o owners
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if _, err := fmt.Sscanf(lines[0], "# dsmfs owners: pages=%d page_size=%d nodes=%d self=%d",
		&o.pages, &o.pageSize, &o.nodes, &o.self); err != nil {
		return o, fmt.Errorf("header %q: %v", lines[0], err)
	}
	var err error
	o.runs, err = parseRuns(lines[1:], o.pages, false)
	return o, err
}

// parseRuns parses FIRST-LAST NODE ADDRESS [MARK...] lines and checks that
// they cover pages [0, pages) in order and that neighbouring runs differ in
// owner or marks (one line per run). NODE may be "?" or "!" only if marks is
// set.
func parseRuns(lines []string, pages int, marks bool) ([]ownerRun, error) {
	var runs []ownerRun
	next := 0
	for _, line := range lines {
		var r ownerRun
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("line %q is not FIRST-LAST NODE ADDRESS [MARK...]", line)
		}
		if _, err := fmt.Sscanf(fields[0], "%d-%d", &r.first, &r.last); err != nil {
			return nil, fmt.Errorf("line %q: %q is not FIRST-LAST", line, fields[0])
		}
		node := fields[1]
		r.addr = fields[2]
		for _, mark := range fields[3:] {
			if mark != "copy" && mark != "dead" && !strings.HasPrefix(mark, "readers=") {
				return nil, fmt.Errorf("line %q: unknown mark %q", line, mark)
			}
		}
		r.marks = strings.Join(fields[3:], " ")
		switch n, err := strconv.Atoi(node); {
		case err == nil && n >= 0:
			r.node = n
		case marks && node == "?":
			r.node = unclaimed
		case marks && node == "!":
			r.node = claimedTwice
		default:
			return nil, fmt.Errorf("line %q: %q is not a node number", line, node)
		}
		if r.first != next || r.last < r.first {
			return nil, fmt.Errorf("line %q: expected a run starting at page %d", line, next)
		}
		if k := len(runs); k > 0 && runs[k-1].node == r.node && runs[k-1].marks == r.marks {
			return nil, fmt.Errorf("line %q continues the previous run of node %d", line, r.node)
		}
		runs = append(runs, r)
		next = r.last + 1
	}
	if next != pages {
		return nil, fmt.Errorf("runs end at page %d of %d", next, pages)
	}
	return runs, nil
}

// owner returns the run that covers page p.
func (o owners) owner(p int) ownerRun {
	for _, r := range o.runs {
		if r.first <= p && p <= r.last {
			return r
		}
	}
	panic("page outside the checked runs")
}

// readOwners reads and parses node i's .owners, checking the header.
func (c *cluster) readOwners(i int) owners {
	c.t.Helper()
	text, err := readFile(filepath.Join(c.nodes[i].mnt, ".owners"), 10*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("node %d .owners:\n%s", i, text)
	o, err := parseOwners(text)
	if err != nil {
		c.t.Fatalf("node %d .owners: %v", i, err)
	}
	n := len(c.nodes)
	if o.pages != c.pages || o.pageSize != pageSize || o.nodes != n || o.self != i {
		c.t.Fatalf("node %d .owners header says pages=%d page_size=%d nodes=%d self=%d, want %d %d %d %d",
			i, o.pages, o.pageSize, o.nodes, o.self, c.pages, pageSize, n, i)
	}
	return o
}

// checkOwnership requires that, in the lines each node writes about itself
// (the authoritative ones), every page is claimed by exactly one node, and
// that wantOwner(p) says who.
func (c *cluster) checkOwnership(wantOwner func(page int) int) {
	c.t.Helper()
	views := make([]owners, len(c.nodes))
	for i := range views {
		views[i] = c.readOwners(i)
	}
	for i, o := range views {
		for _, r := range o.runs {
			if r.node == i && r.addr != c.nodes[i].name {
				c.t.Errorf("node %d lists itself as %q, want %q", i, r.addr, c.nodes[i].name)
			}
		}
	}
	for p := range c.pages {
		var claims, says []int
		for i, o := range views {
			says = append(says, o.owner(p).node)
			if says[i] == i {
				claims = append(claims, i)
			}
		}
		if want := wantOwner(p); len(claims) != 1 || claims[0] != want {
			c.t.Fatalf("page %d: nodes 0..%d say its owner is %v; want exactly node %d to claim it",
				p, len(views)-1, says, want)
		}
	}
}

func TestOwnersInitialSplitAndMove(t *testing.T) {
	c := startCluster(t)
	half := c.pages / 2
	for i := range 2 {
		o := c.readOwners(i)
		want := []ownerRun{{0, half - 1, 0, c.nodes[0].name, ""}, {half, c.pages - 1, 1, c.nodes[1].name, ""}}
		if fmt.Sprint(o.runs) != fmt.Sprint(want) {
			t.Fatalf("node %d initial runs %v, want %v", i, o.runs, want)
		}
	}

	// Node 1 touches page 5, which node 0 owns at the start.
	const moved = 5
	mustRun(t, dsm("write", c.seg(1), moved*pageSize+100, 16, 1)...)
	c.checkOwnership(func(p int) int {
		if p == moved {
			return 1
		}
		return c.pageOwner(p)
	})

	// And back: node 0 reads it, the data comes along.
	mustRun(t, dsm("check", c.seg(0), moved*pageSize+100, 16, 1)...)
	c.checkOwnership(c.pageOwner)
}
