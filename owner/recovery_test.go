package owner_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// newReplicaCluster is three nodes keeping one copy of each page, over six
// pages: node i owns pages 2i and 2i+1 at start.
func newReplicaCluster(t *testing.T) *cluster {
	return newClusterWith(t, 3, 6, func(cfg *owner.NodeConfig) {
		cfg.Replicas, cfg.FenceWait, cfg.Timeout = 1, 50*time.Millisecond, 5*time.Second
	})
}

// write is a program on node n filling page p with b, in the page cache.
func (c *cluster) write(t *testing.T, n int, p owner.PageID, b byte) {
	t.Helper()
	if err := c.kernels[n].access(context.Background(), p, func(page []byte) {
		copy(page, bytes.Repeat([]byte{b}, pageSize))
	}); err != nil {
		t.Fatalf("node %d writes page %d: %v", n, p, err)
	}
}

// read is a program on node n reading the first byte of page p.
func (c *cluster) read(t *testing.T, n int, p owner.PageID) byte {
	t.Helper()
	var got byte
	if err := c.kernels[n].access(context.Background(), p, func(page []byte) { got = page[0] }); err != nil {
		t.Fatalf("node %d reads page %d: %v", n, p, err)
	}
	return got
}

// kill stops node n as a crash does: its peers lose their connections to
// it and report it lost.
func (c *cluster) kill(n int) {
	c.nodes[n].Close()
	for i, node := range c.nodes {
		if i != n {
			c.net.Transport(owner.NodeID(i)).Disconnect(owner.NodeID(n))
			node.PeerLost(owner.NodeID(n))
		}
	}
}

// TestRecoveryFromHandOffCopy: node 2 takes page 0 from node 0 and dies
// with later writes unsynced. Node 1 then gets page 0 as it was handed off
// (node 0 kept that copy), and node 2's own page 4 as it was at start; the
// unsynced writes are gone, as promised.
func TestRecoveryFromHandOffCopy(t *testing.T) {
	c := newReplicaCluster(t)
	c.write(t, 0, 0, 'A')
	if got := c.read(t, 2, 0); got != 'A' {
		t.Fatalf("node 2 reads %q from page 0, want 'A'", got)
	}
	c.write(t, 2, 0, 'B') // after the hand-off, never synced
	c.write(t, 2, 4, 'C')
	c.kill(2)

	if got := c.read(t, 1, 0); got != 'A' {
		t.Fatalf("after node 2 died, page 0 reads %q on node 1, want the handed-off 'A'", got)
	}
	if got := c.read(t, 1, 4); got != 0 {
		t.Fatalf("after node 2 died, its never-copied page 4 reads %q, want its start content 0", got)
	}
	if got := c.read(t, 0, 2); got != 0 {
		t.Fatalf("node 0 reads %q from node 1's page 2, want 0", got)
	}
	for _, run := range c.nodes[0].Owners() {
		if run.Owner == 2 {
			t.Fatalf("after recovery node 0 still sees pages %d-%d at dead node 2", run.First, run.Last)
		}
	}
	if st := c.nodes[1].Stats(); st.Recoveries != 1 || st.Promoted == 0 && c.nodes[0].Stats().Promoted == 0 {
		t.Fatalf("recoveries %d, promoted %d and %d", st.Recoveries, st.Promoted, c.nodes[0].Stats().Promoted)
	}
}

// TestRecoveryFromSync: what a program wrote and synced on node 2 survives
// node 2's death.
func TestRecoveryFromSync(t *testing.T) {
	c := newReplicaCluster(t)
	c.read(t, 2, 0)
	c.write(t, 2, 0, 'S')
	c.write(t, 2, 5, 'T')
	// msync: the kernel writes the dirty pages back, then asks for FSYNC.
	for _, p := range []owner.PageID{0, 5} {
		if err := c.kernels[2].Invalidate(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.nodes[2].Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	c.kill(2)
	for p, want := range map[owner.PageID]byte{0: 'S', 5: 'T'} {
		if got := c.read(t, 1, p); got != want {
			t.Fatalf("after node 2 died, synced page %d reads %q, want %q", p, got, want)
		}
	}
}

// TestSyncNeedsEnoughPeers: a sync that cannot place its copies says so.
func TestSyncNeedsEnoughPeers(t *testing.T) {
	c := newClusterWith(t, 2, 2, func(cfg *owner.NodeConfig) {
		cfg.Replicas, cfg.FenceWait, cfg.Timeout = 1, 50*time.Millisecond, 5*time.Second
	})
	c.write(t, 0, 0, 'x')
	c.kill(1)
	if err := c.kernels[0].Invalidate(0); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[0].Sync(); !errors.Is(err, owner.ErrTooFewReplicas) {
		t.Fatalf("sync with the only peer dead: %v, want ErrTooFewReplicas", err)
	}
	// Node 0, the lower of two, is a quorum alone: it recovers node 1's
	// pages, from their start content.
	if got := c.read(t, 0, 1); got != 0 {
		t.Fatalf("node 1's page reads %q on node 0, want 0", got)
	}
}

// TestMinorityDoesNotRecover: a node that sees only itself of three must
// not take the others' pages; it waits, and its quorum watch tells it to
// fence itself.
func TestMinorityDoesNotRecover(t *testing.T) {
	c := newReplicaCluster(t)
	for _, peer := range []int{0, 1} {
		c.net.Transport(2).Disconnect(owner.NodeID(peer))
		c.nodes[2].PeerLost(owner.NodeID(peer))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.kernels[2].access(ctx, 0, func([]byte) {}); err == nil {
		t.Fatal("node 2 alone got page 0 of node 0")
	}
	if st := c.nodes[2].Stats(); st.Recoveries != 0 {
		t.Fatalf("node 2 alone ran %d recoveries", st.Recoveries)
	}
	err := c.nodes[2].KeepQuorum(context.Background(), time.Millisecond, func(owner.NodeID) bool { return false })
	if !errors.Is(err, owner.ErrNoQuorum) {
		t.Fatalf("quorum watch of a lone node: %v, want ErrNoQuorum", err)
	}
	c.nodes[2].Fence()
	if err := c.kernels[2].access(context.Background(), 4, func([]byte) {}); !errors.Is(err, owner.ErrFenced) {
		t.Fatalf("access on a fenced node: %v, want ErrFenced", err)
	}
}

// TestTwoReplicasSurviveTwoDeaths: with two replicas the giver of a
// hand-off keeps a copy and sends one more, so the page outlives both the
// node that got it and the one that gave it.
func TestTwoReplicasSurviveTwoDeaths(t *testing.T) {
	c := newClusterWith(t, 5, 5, func(cfg *owner.NodeConfig) {
		cfg.Replicas, cfg.FenceWait, cfg.Timeout = 2, 50*time.Millisecond, 5*time.Second
	})
	c.write(t, 0, 0, 'A')
	if got := c.read(t, 4, 0); got != 'A' {
		t.Fatalf("node 4 reads %q from page 0, want 'A'", got)
	}
	// The extra copy travels beside the hand-off, unacknowledged: wait
	// until node 1, the next after node 0, keeps it.
	waitFor(t, "node 1 keeping the second copy of page 0", func() bool { return c.nodes[1].Stats().Copies > 0 })
	c.kill(4)
	c.kill(0)
	if got := c.read(t, 2, 0); got != 'A' {
		t.Fatalf("after nodes 4 and 0 died, page 0 reads %q on node 2, want 'A'", got)
	}
}

// TestSyncAfterHandOff: a page written here and handed on before the sync
// must still be copied elsewhere by it: the hand-off alone leaves its copy
// on this node, which may die with the receiver.
func TestSyncAfterHandOff(t *testing.T) {
	c := newClusterWith(t, 4, 8, func(cfg *owner.NodeConfig) {
		cfg.Replicas, cfg.FenceWait, cfg.Timeout = 1, 50*time.Millisecond, 5*time.Second
	})
	c.write(t, 3, 6, 'W') // node 3's own page
	if err := c.kernels[3].Invalidate(6); err != nil {
		t.Fatal(err)
	}
	if got := c.read(t, 2, 6); got != 'W' {
		t.Fatalf("node 2 reads %q from page 6, want 'W'", got)
	}
	if err := c.nodes[3].Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	c.kill(2)
	c.kill(3)
	if got := c.read(t, 1, 6); got != 'W' {
		t.Fatalf("after nodes 2 and 3 died, synced page 6 reads %q on node 1, want 'W'", got)
	}
}

// TestFailedSyncCopiesAgain: the pages of a sync that failed are still to
// be copied: the next sync must not find nothing to do.
func TestFailedSyncCopiesAgain(t *testing.T) {
	c := newReplicaCluster(t)
	c.write(t, 2, 4, 'F')
	if err := c.kernels[2].Invalidate(4); err != nil {
		t.Fatal(err)
	}
	// Node 2's copies go to node 0 first. Node 0 stops, and only node 2
	// is told: had node 0 heard of a broken link, it would leave node 2
	// out of a new epoch, racing with the second sync.
	c.net.Stop(0)
	if err := c.nodes[2].Sync(); err == nil {
		t.Fatal("sync to an unreachable peer succeeded")
	}
	c.nodes[2].PeerLost(0)
	if err := c.nodes[2].Sync(); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	if n := c.nodes[1].Stats().Copies; n != 1 {
		t.Fatalf("after the second sync node 1 keeps %d copies, want page 4's", n)
	}
}
