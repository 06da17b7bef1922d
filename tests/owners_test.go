package tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ownerRun is one line of .owners: pages first..last belong to node at addr.
type ownerRun struct {
	first, last, node int
	addr              string
}

// owners is one node's parsed .owners file.
type owners struct {
	pages, pageSize, nodes, self int
	runs                         []ownerRun
}

// parseOwners parses .owners and checks its shape: the runs cover every page
// in order, and neighbouring runs have different owners (one line per run).
func parseOwners(text string) (owners, error) {
	var o owners
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if _, err := fmt.Sscanf(lines[0], "# dsmfs owners: pages=%d page_size=%d nodes=%d self=%d",
		&o.pages, &o.pageSize, &o.nodes, &o.self); err != nil {
		return o, fmt.Errorf("header %q: %v", lines[0], err)
	}
	next := 0
	for _, line := range lines[1:] {
		var r ownerRun
		var rest string
		if n, _ := fmt.Sscanf(line, "%d-%d %d %s%s", &r.first, &r.last, &r.node, &r.addr, &rest); n != 4 {
			return o, fmt.Errorf("line %q is not FIRST-LAST NODE ADDRESS", line)
		}
		if r.first != next || r.last < r.first {
			return o, fmt.Errorf("line %q: expected a run starting at page %d", line, next)
		}
		if k := len(o.runs); k > 0 && o.runs[k-1].node == r.node {
			return o, fmt.Errorf("line %q continues the previous run of node %d", line, r.node)
		}
		o.runs = append(o.runs, r)
		next = r.last + 1
	}
	if next != o.pages {
		return o, fmt.Errorf("runs end at page %d of %d", next, o.pages)
	}
	return o, nil
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
	if o.pages != c.pages || o.pageSize != pageSize || o.nodes != 2 || o.self != i {
		c.t.Fatalf("node %d .owners header says pages=%d page_size=%d nodes=%d self=%d, want %d %d 2 %d",
			i, o.pages, o.pageSize, o.nodes, o.self, c.pages, pageSize, i)
	}
	return o
}

// checkOwnership requires that, in the lines each node writes about itself
// (the authoritative ones), every page is claimed by exactly one node, and
// that wantOwner(p) says who.
func (c *cluster) checkOwnership(wantOwner func(page int) int) {
	c.t.Helper()
	views := [2]owners{c.readOwners(0), c.readOwners(1)}
	for i, o := range views {
		for _, r := range o.runs {
			if r.node == i && r.addr != c.nodes[i].name {
				c.t.Errorf("node %d lists itself as %q, want %q", i, r.addr, c.nodes[i].name)
			}
		}
	}
	for p := range c.pages {
		claims := 0
		for i, o := range views {
			if o.owner(p).node == i {
				claims++
			}
		}
		if want := wantOwner(p); views[want].owner(p).node != want || claims != 1 {
			c.t.Fatalf("page %d: node 0 says owner %d, node 1 says owner %d; want exactly node %d to claim it",
				p, views[0].owner(p).node, views[1].owner(p).node, want)
		}
	}
}

func TestOwnersInitialSplitAndMove(t *testing.T) {
	c := startCluster(t)
	half := c.pages / 2
	for i := range 2 {
		o := c.readOwners(i)
		want := []ownerRun{{0, half - 1, 0, c.nodes[0].name}, {half, c.pages - 1, 1, c.nodes[1].name}}
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
