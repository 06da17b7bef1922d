package tests

import "testing"

// straddle is a byte range of about six pages around the boundary between
// the two nodes' initial halves, unaligned at both ends.
func (c *cluster) straddle() (off, count int) {
	return (c.pages/2-3)*pageSize - 100, 6*pageSize + 200
}

func TestDataAcrossNodesC(t *testing.T) {
	c := startCluster(t)
	size := c.pages * pageSize
	mustRun(t, dsm("write", c.seg(0), 0, size, 1)...)
	mustRun(t, dsm("check", c.seg(1), 0, size, 1)...)

	off, count := c.straddle()
	mustRun(t, dsm("write", c.seg(1), off, count, 2)...)
	mustRun(t, dsm("check", c.seg(0), off, count, 2)...)
	mustRun(t, dsm("check", c.seg(0), 0, off, 1)...)
	mustRun(t, dsm("check", c.seg(0), off+count, size-off-count, 1)...)
}

// TestDataAcrossNodesGoAndC shares bytes between a Go and a C program on
// different nodes, in both directions.
func TestDataAcrossNodesGoAndC(t *testing.T) {
	c := startCluster(t)
	off, count := c.straddle()
	mustRun(t, gomap("write", c.seg(0), off, count, 3)...)
	mustRun(t, dsm("check", c.seg(1), off, count, 3)...)
	mustRun(t, dsm("write", c.seg(1), off+pageSize, count, 4)...)
	mustRun(t, gomap("check", c.seg(0), off+pageSize, count, 4)...)
	mustRun(t, gomap("check", c.seg(0), off, pageSize, 3)...)
}

// TestLinkedListAcrossNodes walks, on the other node, a list of absolute
// pointers spread over pages of both nodes: it needs the same bytes at the
// same address everywhere.
func TestLinkedListAcrossNodes(t *testing.T) {
	c := startCluster(t)
	const n = 4000
	mustRun(t, dsm("list-build", c.seg(0), n)...)
	mustRun(t, dsm("list-walk", c.seg(1), n)...)
	mustRun(t, dsm("list-walk", c.seg(0), n)...)
}
