package tests

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestGracefulLeave: a node stopped with SIGTERM first hands every page it
// holds to the nodes that stay, spread over them, and loses nothing: the
// pattern it wrote over the whole segment checks out on a survivor.
func TestGracefulLeave(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, pages: 96})
	whole := c.pages * pageSize
	mustRun(t, dsm("write", c.seg(2), 0, whole, 21)...) // node 2 now holds every page

	c.nodes[2].stop(syscall.SIGTERM)
	c.nodes[2].seenExit = true

	co := c.clusterOwners(1) // before anything touches the pages again
	share := map[int]int{}
	for _, r := range co.runs {
		if r.node < 0 || r.node == 2 {
			t.Fatalf("after node 2 left, pages %d-%d are %q, want node 0 or 1", r.first, r.last, r.addr)
		}
		share[r.node] += r.last - r.first + 1
	}
	if share[0] < c.pages/4 || share[1] < c.pages/4 {
		t.Errorf("pages were not spread over the nodes that stay: %v", share)
	}
	mustRun(t, dsm("check", c.seg(0), 0, whole, 21)...)
	// The two that stay go on working together.
	mustRun(t, dsm("write", c.seg(1), 0, whole, 22)...)
	mustRun(t, dsm("check", c.seg(0), 0, whole, 22)...)
}

// TestLastPeerLeaves: when the other node of a pair leaves, the one that
// stays holds every page and keeps working alone.
func TestLastPeerLeaves(t *testing.T) {
	c := startCluster(t)
	whole := c.pages * pageSize
	mustRun(t, dsm("write", c.seg(1), 0, whole, 31)...)
	c.nodes[1].stop(syscall.SIGTERM)
	c.nodes[1].seenExit = true
	mustRun(t, dsm("check", c.seg(0), 0, whole, 31)...)
	mustRun(t, dsm("write", c.seg(0), 0, whole, 32)...)
	mustRun(t, dsm("check", c.seg(0), 0, whole, 32)...)
}

// TestNodesLeaveTogether: two of four nodes stopped at the same moment hand
// their pages to the two that stay, never to each other, and lose nothing.
func TestNodesLeaveTogether(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 4, pages: 128})
	whole := c.pages * pageSize
	half := whole / 2
	mustRun(t, dsm("write", c.seg(2), 0, half, 41)...)          // node 2 holds the first half
	mustRun(t, dsm("write", c.seg(3), half, whole-half, 41)...) // node 3 the second
	var wg sync.WaitGroup
	for _, d := range c.nodes[2:] {
		wg.Go(func() { d.stop(syscall.SIGTERM); d.seenExit = true })
	}
	wg.Wait()
	for _, r := range c.clusterOwners(0).runs {
		if r.node != 0 && r.node != 1 {
			t.Fatalf("after nodes 2 and 3 left, pages %d-%d are %q, want node 0 or 1", r.first, r.last, r.addr)
		}
	}
	mustRun(t, dsm("check", c.seg(1), 0, whole, 41)...)
}

// TestLeaveKeepsOwnersWhole: a node of three that leaves a 64 MiB segment
// (the default size) hands its pages on in one contiguous share per node
// that stays, so that `.owners` and `dsmfs owners` stay a few lines
// rather than one line per page or two.
func TestLeaveKeepsOwnersWhole(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, pages: 16384})
	c.nodes[1].stop(syscall.SIGTERM)
	c.nodes[1].seenExit = true
	co := c.clusterOwners(0)
	for _, r := range co.runs {
		if r.node != 0 && r.node != 2 {
			t.Fatalf("after node 1 left, pages %d-%d are %q, want node 0 or 2", r.first, r.last, r.addr)
		}
	}
	// Node 0's pages, node 1's share for node 0, its share for node 2,
	// and node 2's pages: two runs, however the shares are cut, at most
	// four.
	if len(co.runs) > 4 {
		t.Errorf("after node 1 left, dsmfs owners lists %d runs, want at most 4", len(co.runs))
	}
	for _, i := range []int{0, 2} {
		if o := c.readOwners(i); len(o.runs) > 4 {
			t.Errorf("after node 1 left, node %d's .owners lists %d runs, want at most 4", i, len(o.runs))
		}
	}
	// `dsmfs owners --summary` adds them up per node.
	summary := mustRun(t, bin.dsmfs, "owners", c.nodes[2].mnt, "--summary")
	total := 0
	for _, line := range strings.Split(strings.TrimSpace(summary), "\n")[1:] {
		var node string
		var addr string
		var pages, runs int
		if _, err := fmt.Sscanf(line, "%s %s %d %d", &node, &addr, &pages, &runs); err != nil {
			if _, err := fmt.Sscanf(line, "all %d %d", &pages, &runs); err != nil || pages != c.pages || runs != len(co.runs) {
				t.Errorf("summary line %q: want node, address, pages, runs, or all %d %d", line, c.pages, len(co.runs))
			}
			continue
		}
		if node != "0" && node != "2" || runs > 2 {
			t.Errorf("summary line %q: want node 0 or 2 in at most 2 runs", line)
		}
		total += pages
	}
	if total != c.pages {
		t.Errorf("the summary's nodes own %d pages, want %d:\n%s", total, c.pages, summary)
	}
}
