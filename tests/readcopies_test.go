package tests

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The read copy tests: programs that only read map segment.ro, and any
// number of nodes may then hold a read copy of a page at once; a write
// through segment takes every copy back first.

// ro is node i's segment.ro.
func (c *cluster) ro(i int) string { return filepath.Join(c.nodes[i].mnt, "segment.ro") }

// TestReadCopiesSeeWrites: two readers and the writer's own node read node
// 0's pages through segment.ro, and keep them: the pages stay where they
// are, and read again they come from the page cache. A rewrite on a third
// node takes every copy back, the page caches' included, and every reader
// then reads the new bytes.
func TestReadCopiesSeeWrites(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3})
	const first, count = 8 * pageSize, 8 * pageSize // node 0's pages 8-15
	mustRun(t, dsm("write", c.seg(0), first, count, 1)...)
	for _, i := range []int{1, 2, 0, 1, 2} {
		mustRun(t, dsm("check", c.ro(i), first, count, 1)...)
	}
	for _, i := range []int{1, 2} {
		if st := c.stats(i); st.PagesIn != 0 || st.ReadCopies < 8 || st.ReadCopiesTaken != 8 {
			t.Fatalf("node %d after reading 8 pages twice through segment.ro: %d pages moved in, %d read copies held, %d taken; want 0, at least 8, exactly 8",
				i, st.PagesIn, st.ReadCopies, st.ReadCopiesTaken)
		}
	}
	if st := c.stats(0); st.ReadCopiesSent != 16 {
		t.Fatalf("owner gave %d read copies, want 16", st.ReadCopiesSent)
	}
	local, err := readFile(filepath.Join(c.nodes[1].mnt, ".owners"), 5*time.Second)
	if err != nil || !strings.Contains(local, "\n8-15 0 "+c.nodes[0].name+" copy\n") {
		t.Fatalf("node 1's .owners does not mark its read copies of pages 8-15 (%v):\n%s", err, local)
	}
	cluster, err := readFile(filepath.Join(c.nodes[2].mnt, ".cluster-owners"), 5*time.Second)
	if err != nil || !strings.Contains(cluster, "\n8-15 0 "+c.nodes[0].name+" readers=0,1,2\n") {
		t.Fatalf(".cluster-owners does not name the readers of pages 8-15 (%v):\n%s", err, cluster)
	}

	mustRun(t, dsm("write", c.seg(2), first, count, 2)...)
	for _, i := range []int{0, 1, 2} {
		mustRun(t, dsm("check", c.ro(i), first, count, 2)...)
	}
	if st := c.stats(0); st.ReadRevocations < 16 {
		t.Fatalf("node 0 took back %d read copies before node 2 wrote, want at least 16 (two readers and its own)", st.ReadRevocations)
	}
}

// TestReadCopyOpens: segment.ro opens for reading only, for root too, and
// its mapping is read-only.
func TestReadCopyOpens(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 2})
	r := runProg(dsm("set", c.ro(0), 0, 1)...) // a store to the read-only mapping
	if r.err == nil || !strings.Contains(r.err.Error(), "segmentation fault") {
		t.Fatalf("a write through segment.ro's mapping succeeded: %s", r)
	}
	for _, flags := range []string{"w", "r+"} {
		r := runProg("python3", "-c", "open("+strconv.Quote(c.ro(0))+", "+strconv.Quote(flags)+")")
		if r.err == nil || !strings.Contains(r.out, "Permission denied") {
			t.Fatalf("open segment.ro %q: want EACCES, got %s", flags, r)
		}
	}
}

// TestReadCopyLitmus: message passing to many readers. A writer on node 3
// fills four data pages with the round and then sets a flag, round after
// round, through segment; readers on the three other nodes read through
// segment.ro and must never see the flag of a round whose data they do not
// see too.
func TestReadCopyLitmus(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 4})
	const rounds, pages = 200, 4
	var progs [][]string
	for i := range 3 {
		progs = append(progs, dsm("observe", c.ro(i), rounds, pages))
	}
	progs = append(progs, dsm("publish", c.seg(3), rounds, pages))
	runTogether(t, progs...)
}

// TestFalseSharingWithReaders: two nodes increment their own counters on
// one page through segment (worst-case false sharing) while a third reads
// both through segment.ro: the counts come out exact, and the reader never
// sees a counter go back.
func TestFalseSharingWithReaders(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3})
	const off, n = 100 * pageSize, 20000 // node 1's page
	runTogether(t,
		dsm("share-incr", c.seg(0), off, 0, n),
		dsm("share-incr", c.seg(1), off, 1, n),
		dsm("monotonic", c.ro(2), off, 2, n))
	for slot := range 2 {
		if got := c.getLong(2, off+16+8*slot); got != n {
			t.Fatalf("slot %d holds %d, want %d", slot, got, n)
		}
	}
}

// TestReadMostlyTurnsKeepCopies: two nodes take turns reading the same 64
// pages through segment.ro. Only the page holding the turn moves; each
// node fetches each page's copy once and rereads it from its page cache.
// (Through segment, every page would move at every turn; the bench
// measures both.)
func TestReadMostlyTurnsKeepCopies(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 2})
	const turns, first, count = 20, 150, 64 // node 1's pages
	runTogether(t,
		dsm("read-turns", c.seg(0), "ro", 0, 2, turns, first, count),
		dsm("read-turns", c.seg(1), "ro", 1, 2, turns, first, count))
	st := c.stats(0)
	if st.ReadCopiesTaken != count {
		t.Fatalf("node 0 took %d read copies in %d turns over %d pages, want each once", st.ReadCopiesTaken, turns, count)
	}
	if st.PagesIn > 2*turns {
		t.Fatalf("node 0 took %d pages in %d turns: more than the turn's page moved", st.PagesIn, turns)
	}
}

// TestReadCopyHolderDies: without replicas, a node holding read copies is
// killed; the owner's next write goes on without it (its copies died with
// it), and the other reader sees the write.
func TestReadCopyHolderDies(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, flags: []string{"--peer-timeout", "1s", "--timeout", "20s"}})
	const first, count = 8 * pageSize, 4 * pageSize // node 0's pages
	mustRun(t, dsm("write", c.seg(0), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(1), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(2), first, count, 1)...)
	c.nodes[1].kill()
	mustRun(t, dsm("write", c.seg(0), first, count, 2)...)
	mustRun(t, dsm("check", c.ro(2), first, count, 2)...)
}

// TestReadCopyOwnerDies: without replicas, the owner of pages that two
// nodes read through segment.ro is killed. The pages die with it: reads
// of them fail (SIGBUS) rather than go on from copies that nothing would
// take back if the owner were only cut off and still writing; other pages
// still read.
func TestReadCopyOwnerDies(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, flags: []string{"--peer-timeout", "1s", "--timeout", "20s"}})
	const first, count = 8 * pageSize, 4 * pageSize // node 0's pages
	mustRun(t, dsm("write", c.seg(0), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(1), first, count, 1)...)
	c.nodes[0].kill()
	waitFor(t, 10*time.Second, func() bool { return c.peerDead(1, 0) })
	if r := runProg(dsm("check", c.ro(1), first, count, 1)...); r.err == nil || !strings.Contains(r.err.Error(), "bus error") {
		t.Fatalf("a read copy of a dead owner's page: want SIGBUS, got %s", r)
	}
	mustRun(t, dsm("write", c.seg(2), 100*pageSize, count, 3)...) // node 1's pages
	mustRun(t, dsm("check", c.ro(1), 100*pageSize, count, 3)...)
}

// TestReadCopiesWithReplicas: with --replicas 1, the owner of pages read
// through segment.ro is killed. Recovery gives the pages to a survivor,
// from the newest copy, a read copy or a replica; the readers read what
// was written last, and a write by the new owner reaches them.
func TestReadCopiesWithReplicas(t *testing.T) {
	c := startReplicaCluster(t)
	const first, count = 8 * pageSize, 4 * pageSize // node A's pages
	mustRun(t, dsm("write", c.seg(0), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(1), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(2), first, count, 1)...)
	c.nodes[0].kill()
	c.requireNoPagesOf(1, 0)
	mustRun(t, dsm("check", c.ro(1), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(2), first, count, 1)...)
	mustRun(t, dsm("write", c.seg(2), first, count, 2)...)
	mustRun(t, dsm("check", c.ro(1), first, count, 2)...)
}

// TestReadCopyHolderDiesWithReplicas: with --replicas 1, a node holding
// read copies is killed. The owner's next write waits until the recovery
// takes the dead node out (it might only be cut off, still reading, until
// then), and the other reader sees it.
func TestReadCopyHolderDiesWithReplicas(t *testing.T) {
	c := startReplicaCluster(t)
	const first, count = 8 * pageSize, 4 * pageSize // node A's pages
	mustRun(t, dsm("write", c.seg(0), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(1), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(2), first, count, 1)...)
	c.nodes[2].kill()
	mustRun(t, dsm("write", c.seg(0), first, count, 2)...)
	mustRun(t, dsm("check", c.ro(1), first, count, 2)...)
	c.requireNoPagesOf(0, 2)
}

// TestReadCopiesInBlocks: with --block 4 and --prefetch 4, a reader
// walking 32 of node 0's pages through segment.ro takes them as 8 block
// copies, most fetched ahead of its faults (and a few beyond its walk, as
// prefetch does), and still sees a rewrite.
func TestReadCopiesInBlocks(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 2, flags: []string{"--block", "4", "--prefetch", "4"}})
	const first, count = 16 * pageSize, 32 * pageSize // node 0's pages 16-47: blocks 4-11
	mustRun(t, dsm("write", c.seg(0), first, count, 1)...)
	mustRun(t, dsm("check", c.ro(1), first, count, 1)...)
	st := c.stats(1)
	if st.PagesIn != 0 || st.ReadCopiesTaken < 8 || st.ReadCopiesTaken > 8+2*4 {
		t.Fatalf("node 1 read 32 pages in blocks of 4: %d blocks moved in, %d copies taken; want 0, and 8 plus at most two prefetch windows", st.PagesIn, st.ReadCopiesTaken)
	}
	if st.RemoteFaults >= 8 {
		t.Errorf("node 1 waited for %d of the 8 blocks: prefetch fetched none ahead", st.RemoteFaults)
	}
	mustRun(t, dsm("write", c.seg(0), first, count, 2)...)
	mustRun(t, dsm("check", c.ro(1), first, count, 2)...)
}
