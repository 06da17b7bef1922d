package tests

import (
	"testing"
)

// TestRewritesStayInMemory: a program rewriting more of its owned pages
// than the kernel's default dirty limit for a FUSE mount (1 % of the dirty
// budget) keeps them in memory. Without the mount lifting that limit, the
// kernel throttles the writer and writes the pages back to the daemon again
// and again, each a FUSE WRITE that .stats counts as a local access. (Once,
// when the program unmaps the segment, FUSE writes every dirty page back.)
func TestRewritesStayInMemory(t *testing.T) {
	const pages, rounds = 32768, 5 // 128 MiB, more than 1 % of the dirty budget of any machine the tests run on
	c := startClusterWith(t, clusterOpts{nodes: 1, pages: pages})
	before := c.stats(0).LocalAccesses
	mustRun(t, dsm("rewrite", c.seg(0), 0, pages*pageSize, rounds)...)
	if got := c.stats(0).LocalAccesses - before; got > 2*pages {
		t.Fatalf("rewriting %d owned pages %d times reached the daemon %d times: the kernel throttled the writer and wrote the pages back", pages, rounds, got)
	}
}
