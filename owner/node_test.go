package owner_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	dsmnet "github.com/dsmfs/dsmfs/net"
	"github.com/dsmfs/dsmfs/owner"
	"github.com/dsmfs/dsmfs/pages"
)

const pageSize = 4096

// fakeKernel stands in for one node's page cache: programs use cached
// copies of pages without asking the daemon, a per-page lock plays the
// folio lock (held during a READ and during an invalidation), and
// Invalidate writes dirty copies back through the node before dropping
// them, as FUSE does.
type fakeKernel struct {
	node  *owner.Node
	locks []sync.Mutex
	cache map[owner.PageID][]byte // guarded by the page's lock, and mu for the map
	mu    sync.Mutex
}

func newFakeKernel(pages int) *fakeKernel {
	return &fakeKernel{locks: make([]sync.Mutex, pages), cache: map[owner.PageID][]byte{}}
}

func (k *fakeKernel) cached(p owner.PageID) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cache[p]
}

func (k *fakeKernel) setCached(p owner.PageID, b []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b == nil {
		delete(k.cache, p)
	} else {
		k.cache[p] = b
	}
}

// access is a program touching page p: a fault (READ) if the page is not
// cached, then fn on the cached copy, which becomes dirty.
func (k *fakeKernel) access(ctx context.Context, p owner.PageID, fn func([]byte)) error {
	k.locks[p].Lock()
	defer k.locks[p].Unlock()
	page := k.cached(p)
	if page == nil {
		page = make([]byte, pageSize)
		if err := k.node.ReadAt(ctx, page, int64(p)*pageSize); err != nil {
			return err
		}
		k.setCached(p, page)
	}
	fn(page)
	return nil
}

func (k *fakeKernel) Invalidate(p owner.PageID) error {
	k.locks[p].Lock()
	defer k.locks[p].Unlock()
	if page := k.cached(p); page != nil {
		if _, err := k.node.WriteAt(context.Background(), page, int64(p)*pageSize); err != nil {
			return err
		}
		k.setCached(p, nil)
	}
	return nil
}

// InvalidateRead: the fake kernel caches nothing of segment.ro.
func (k *fakeKernel) InvalidateRead(owner.PageID) error { return nil }

// stores are a node's stores around its page store: read copies in a
// store of their own (never unmapped, as the page stores), replicas in
// memory.
func stores(t *testing.T, store *pages.Store, npages int) owner.Stores {
	t.Helper()
	reads, err := pages.New(npages, pageSize)
	if err != nil {
		t.Fatal(err)
	}
	return owner.Stores{Pages: store, Reads: reads, Copies: pages.NewCopies(pageSize)}
}

func (k *fakeKernel) InvalidateAll() error {
	for p := range k.locks {
		if err := k.Invalidate(owner.PageID(p)); err != nil {
			return err
		}
	}
	return nil
}

type cluster struct {
	net     *dsmnet.Inmem
	nodes   []*owner.Node
	kernels []*fakeKernel
}

func newCluster(t *testing.T, n, npages int, hold time.Duration) *cluster {
	return newClusterPrefetch(t, n, npages, hold, 0)
}

func newClusterPrefetch(t *testing.T, n, npages int, hold time.Duration, prefetch int) *cluster {
	return newClusterWith(t, n, npages, func(cfg *owner.NodeConfig) {
		cfg.HoldWindow, cfg.Prefetch = hold, prefetch
	})
}

// newClusterWith is a cluster of n nodes whose configuration set changes.
func newClusterWith(t *testing.T, n, npages int, set func(*owner.NodeConfig)) *cluster {
	c := &cluster{net: dsmnet.NewInmem(n, 1)}
	for i := range n {
		store, err := pages.New(npages, pageSize)
		if err != nil {
			t.Fatal(err)
		}
		// The store is not unmapped when the test ends: a recovery
		// may still be installing into it, and the memory of a few
		// pages is returned when the test binary exits.
		k := newFakeKernel(npages)
		id := owner.NodeID(i)
		cfg := owner.NodeConfig{
			Config:   owner.Config{Self: id, Nodes: n, Pages: npages},
			PageSize: pageSize,
			Timeout:  20 * time.Second,
		}
		set(&cfg)
		k.node = owner.NewNode(cfg, c.net.Transport(id), stores(t, store, npages), k)
		c.net.Attach(id, k.node.Receive, nil)
		c.nodes = append(c.nodes, k.node)
		c.kernels = append(c.kernels, k)
	}
	return c
}

// TestNodesCountExactly has programs on every node increment counters on a
// few shared pages through the page cache; every increment must survive
// the migrations, with reordering delays on the network.
func TestNodesCountExactly(t *testing.T) {
	for _, tc := range []struct {
		nodes int
		hold  time.Duration
		delay time.Duration
	}{{2, 0, 0}, {3, 0, 200 * time.Microsecond}, {5, 50 * time.Microsecond, 100 * time.Microsecond}, {8, 0, 50 * time.Microsecond}} {
		t.Run(fmt.Sprintf("nodes=%d/hold=%v/delay=%v", tc.nodes, tc.hold, tc.delay), func(t *testing.T) {
			const npages, counters, rounds = 16, 3, 300
			c := newCluster(t, tc.nodes, npages, tc.hold)
			c.net.SetDelay(tc.delay)
			var wg sync.WaitGroup
			errs := make(chan error, tc.nodes)
			for i, k := range c.kernels {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := range rounds {
						p := owner.PageID((i + r) % counters * 5) // pages first owned by different nodes
						err := k.access(context.Background(), p, func(b []byte) {
							binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)+1)
						})
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			total := uint64(0)
			for p := range counters {
				var got uint64
				c.kernels[0].access(context.Background(), owner.PageID(p*5), func(b []byte) { got = binary.LittleEndian.Uint64(b) })
				total += got
			}
			if want := uint64(tc.nodes * rounds); total != want {
				t.Fatalf("counters sum to %d, want %d", total, want)
			}
			if errs := c.net.Errors(); len(errs) > 0 {
				t.Fatalf("nodes rejected messages: %v", errs)
			}
		})
	}
}

// TestFaultTimesOut: a page whose owner never answers fails the access with
// ErrTimeout instead of hanging.
func TestFaultTimesOut(t *testing.T) {
	nw := dsmnet.NewInmem(2, 1)
	store, err := pages.New(4, pageSize)
	if err != nil {
		t.Fatal(err)
	}
	k := newFakeKernel(4) // the store is never unmapped, as in newClusterWith
	k.node = owner.NewNode(owner.NodeConfig{
		Config:   owner.Config{Self: 0, Nodes: 2, Pages: 4},
		PageSize: pageSize,
		Timeout:  50 * time.Millisecond,
	}, nw.Transport(0), stores(t, store, 4), k)
	nw.Attach(0, k.node.Receive, nil)
	nw.Attach(1, func(owner.Message) error { return nil }, nil) // a peer that never answers
	start := time.Now()
	err = k.node.ReadAt(context.Background(), make([]byte, pageSize), 3*pageSize)
	if err == nil || !errors.Is(err, owner.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("waited %v", waited)
	}
	// Pages owned here still work.
	if err := k.node.ReadAt(context.Background(), make([]byte, pageSize), 0); err != nil {
		t.Fatalf("owned page: %v", err)
	}
}

// TestClusterOwners: every node's answer covers exactly the pages it owns,
// and a node that does not answer is reported, not waited for forever.
func TestClusterOwners(t *testing.T) {
	c := newCluster(t, 3, 9, 0)
	// Node 2 takes page 0 from node 0.
	if err := c.kernels[2].access(context.Background(), 0, func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	got := c.nodes[1].ClusterOwners(context.Background())
	want := [][]owner.Run{
		{{First: 1, Last: 2, Owner: 0}},
		{{First: 3, Last: 5, Owner: 1}},
		{{First: 0, Last: 0, Owner: 2}, {First: 6, Last: 8, Owner: 2}},
	}
	for i, a := range got {
		if a.Err != nil || fmt.Sprint(a.Runs) != fmt.Sprint(want[i]) {
			t.Errorf("node %d answered %v (err %v), want %v", i, a.Runs, a.Err, want[i])
		}
	}

	c.net.Attach(2, func(owner.Message) error { return nil }, nil) // node 2 falls silent
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	got = c.nodes[0].ClusterOwners(ctx)
	if got[2].Err == nil || got[1].Err != nil {
		t.Fatalf("silent node 2: got errors %v, %v", got[1].Err, got[2].Err)
	}
}

// TestReadSpanNeverWaits: a read over several pages (kernel readahead) is
// served when all are here, and otherwise fails at once with ErrNotHere
// while the missing pages are fetched ahead of the faults to come.
func TestReadSpanNeverWaits(t *testing.T) {
	c := newCluster(t, 2, 4, 0) // node 0 owns pages 0-1, node 1 pages 2-3
	buf := make([]byte, 2*pageSize)
	if err := c.nodes[0].ReadAt(context.Background(), buf, 0); err != nil {
		t.Fatalf("span of owned pages: %v", err)
	}
	if err := c.nodes[0].ReadAt(context.Background(), buf, pageSize); !errors.Is(err, owner.ErrNotHere) {
		t.Fatalf("span into node 1's page 2: got %v, want ErrNotHere", err)
	}
	waitFor(t, "page 2 fetched ahead", func() bool {
		o := c.nodes[0].Owners()
		return o[0].Owner == 0 && o[0].Last >= 2
	})
	if err := c.nodes[0].ReadAt(context.Background(), buf, pageSize); err != nil {
		t.Fatalf("span after the prefetch: %v", err)
	}
}

// TestWriteSpanStopsShort: a write reaching into a page owned elsewhere takes
// the bytes up to that page and reports a short count, so the kernel sends
// the rest again instead of holding two pages locked while it waits.
func TestWriteSpanStopsShort(t *testing.T) {
	c := newCluster(t, 2, 4, 0)
	src := make([]byte, 2*pageSize)
	for i := range src {
		src[i] = byte(i%251) + 1
	}
	// Like the kernel, send the rest again after each short write. Pages
	// 2 and 3 are node 1's, so each call may take at most one of them.
	var counts []int
	for done := 0; done < len(src); {
		n, err := c.nodes[0].WriteAt(context.Background(), src[done:], int64(pageSize+100+done))
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, n)
		done += n
	}
	if want := []int{pageSize - 100, pageSize, 100}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("writes took %v bytes, want %v", counts, want)
	}
	got := make([]byte, 2*pageSize)
	if err := c.nodes[1].ReadAt(context.Background(), got[:pageSize], pageSize); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[1].ReadAt(context.Background(), got[pageSize:], 2*pageSize); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[100:], src[:2*pageSize-100]) {
		t.Fatal("node 1 reads other bytes than node 0 wrote")
	}
}

// TestStatsCountMigrations: a remote fault shows up on both sides, a page
// out on the giver and a page in and a latency sample on the taker, and
// each side times its stages of it.
func TestStatsCountMigrations(t *testing.T) {
	c := newCluster(t, 2, 4, 0)
	if err := c.kernels[0].access(context.Background(), 0, func(b []byte) { b[0] = 1 }); err != nil {
		t.Fatal(err) // not zeros, or only a header would move (TestZeroPagesMoveAsHeaders)
	}
	if err := c.kernels[1].access(context.Background(), 0, func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	if err := c.kernels[1].access(context.Background(), 3, func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	taker, giver := c.nodes[1].Stats(), c.nodes[0].Stats()
	if taker.RemoteFaults != 1 || taker.LocalAccesses != 1 || taker.PagesIn[0] != 1 || taker.BytesIn != pageSize {
		t.Errorf("taker: %+v", taker)
	}
	if taker.FaultP50 <= 0 || taker.FaultLatency[len(taker.FaultLatency)-1] != 0 {
		t.Errorf("taker latency: p50 %v, buckets %v", taker.FaultP50, taker.FaultLatency)
	}
	if giver.PagesOut[1] != 1 || giver.Invalidations-giver.Reinvalidations != 1 || giver.BytesOut != pageSize {
		t.Errorf("giver: %+v", giver)
	}
	if taker.Owned != 3 || giver.Owned != 1 {
		t.Errorf("owned: taker %d, giver %d; want 3 and 1", taker.Owned, giver.Owned)
	}
	if want := []owner.PeerState{owner.PeerUp, owner.PeerUp}; !slices.Equal(taker.Peers, want) {
		t.Errorf("taker's peers %v, want %v", taker.Peers, want)
	}
	for s, d := range taker.Stages {
		if owner.Stage(s) != owner.StageOwner && d <= 0 {
			t.Errorf("taker's %s stage: %v", owner.StageNames[s], d)
		}
	}
	if taker.Stages[owner.StageWait] < taker.Stages[owner.StageAway] {
		t.Errorf("taker's wait %v is shorter than its part away %v", taker.Stages[owner.StageWait], taker.Stages[owner.StageAway])
	}
	// The giver notes its stage once its send returns, which the in-memory
	// network may let happen after the taker has the page.
	waitFor(t, "the giver's owner stage", func() bool { return c.nodes[0].Stats().Stages[owner.StageOwner] > 0 })
	c.nodes[0].PeerLost(1)
	if st := c.nodes[0].Stats(); st.Peers[1] != owner.PeerDead || st.Peers[1].String() != "dead" {
		t.Errorf("after losing node 1, node 0 says it is %v", st.Peers[1])
	}
}

// TestZeroPagesMoveAsHeaders: a page nobody wrote moves without its
// bytes and arrives as zeros, even where the taker's store held other
// bytes of it before; a written page moves whole.
func TestZeroPagesMoveAsHeaders(t *testing.T) {
	c := newCluster(t, 2, 4, 0)
	ctx := context.Background()
	// Page 1 goes to node 1 and is written there, then comes back to
	// node 0 and is cleared: node 1's store keeps the old bytes.
	c.kernels[1].access(ctx, 1, func(b []byte) { b[7] = 9 })
	c.kernels[0].access(ctx, 1, func(b []byte) { clear(b) })
	if st := c.nodes[1].Stats(); st.BytesOut != pageSize {
		t.Fatalf("node 1 sent %d bytes handing back the written page, want %d", st.BytesOut, pageSize)
	}
	var got []byte
	if err := c.kernels[1].access(ctx, 1, func(b []byte) { got = slices.Clone(b) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, make([]byte, pageSize)) {
		t.Fatalf("the cleared page arrived as %v..., want zeros", got[:8])
	}
	if st := c.nodes[0].Stats(); st.PagesOut[1] != 2 || st.BytesOut != 0 {
		t.Fatalf("node 0 sent %d pages and %d bytes, want 2 pages as headers alone", st.PagesOut[1], st.BytesOut)
	}
}

// TestSequentialFaultsPrefetch: once a node's faults walk forward (the two
// pages before the fault are here), the pages ahead are asked for too.
func TestSequentialFaultsPrefetch(t *testing.T) {
	c := newClusterPrefetch(t, 2, 64, 0, 8) // node 1 owns pages 32-63
	buf := make([]byte, pageSize)
	for p := int64(32); p < 35; p++ {
		if err := c.nodes[0].ReadAt(context.Background(), buf, p*pageSize); err != nil {
			t.Fatal(err)
		}
	}
	// The fault on 34 found 32 and 33 here: pages 35-42 come unasked.
	waitFor(t, "pages 35-42 prefetched", func() bool {
		o := c.nodes[0].Owners()
		return o[0].Owner == 0 && o[0].Last >= 34+8
	})
	// Random faults do not prefetch: node 1 touching page 10 alone moves
	// page 10 only. (Nor does a node without Prefetch; the other tests
	// count exact moves.)
	if err := c.nodes[1].ReadAt(context.Background(), buf, 10*pageSize); err != nil {
		t.Fatal(err)
	}
	c.barrier(t, 1)
	if got := c.nodes[1].Stats().PagesIn[0]; got != 1 {
		t.Fatalf("a lone fault moved %d pages", got)
	}
}

// TestSentPagesReleased: the memory of pages handed away goes back to the
// kernel in batches, except for pages that came back meanwhile, whose bytes
// must survive.
func TestSentPagesReleased(t *testing.T) {
	const npages = 256
	nw := dsmnet.NewInmem(2, 1)
	var nodes [2]*owner.Node
	var pageStores [2]*pages.Store
	for i := range 2 {
		st, err := pages.New(npages, pageSize)
		if err != nil {
			t.Fatal(err)
		}
		pageStores[i] = st // never unmapped: the nodes' goroutines may outlive the test
		k := newFakeKernel(npages)
		nodes[i] = owner.NewNode(owner.NodeConfig{
			Config: owner.Config{Self: owner.NodeID(i), Nodes: 2, Pages: npages}, PageSize: pageSize, Timeout: 10 * time.Second,
		}, nw.Transport(owner.NodeID(i)), stores(t, st, npages), k)
		k.node = nodes[i]
		nw.Attach(owner.NodeID(i), nodes[i].Receive, nil)
	}
	ctx := context.Background()
	pattern := bytes.Repeat([]byte("live"), pageSize/4)
	for p := int64(0); p <= 64; p++ {
		if _, err := nodes[0].WriteAt(ctx, pattern, p*pageSize); err != nil {
			t.Fatal(err)
		}
	}
	// Page 0 goes to node 1 and comes back before node 0 has sent a batch.
	buf := make([]byte, pageSize)
	if err := nodes[1].ReadAt(ctx, buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].ReadAt(ctx, buf, 0); err != nil {
		t.Fatal(err)
	}
	// 64 more pages leave node 0: a batch of 64 is released, but not
	// page 0. The sender releases after its send returns, which may be
	// after the page has reached node 1: wait for it.
	for p := int64(1); p <= 64; p++ {
		if err := nodes[1].ReadAt(ctx, buf, p*pageSize); err != nil || !bytes.Equal(buf, pattern) {
			t.Fatalf("page %d on node 1: %q..., %v", p, buf[:8], err)
		}
	}
	waitFor(t, "node 0 to release the memory of the 64 pages it handed away", func() bool {
		for p := owner.PageID(1); p <= 64; p++ {
			if !bytes.Equal(pageStores[0].Bytes(p), make([]byte, pageSize)) {
				return false
			}
		}
		return true
	})
	if err := nodes[0].ReadAt(ctx, buf, 0); err != nil || !bytes.Equal(buf, pattern) {
		t.Fatalf("page 0 lost its bytes: %q..., %v", buf[:8], err)
	}
}

// slowSend is a transport that reads a page's bytes only after a pause, as
// a socket write of a large frame can, leaving a wide window in which the
// sender's store must not change under it.
type slowSend struct{ owner.Transport }

func (s slowSend) Send(m owner.Message) error {
	if m.Type == owner.MsgPage {
		time.Sleep(200 * time.Microsecond)
	}
	return s.Transport.Send(m)
}

// TestSlowSendsKeepBytes: pages bounce between nodes while earlier sends are
// still reading them and batches of sent pages are released; every
// increment must survive.
func TestSlowSendsKeepBytes(t *testing.T) {
	const n, npages, rounds = 2, 8, 1500
	nw := dsmnet.NewInmem(n, 1)
	var kernels []*fakeKernel
	for i := range n {
		store, err := pages.New(npages, pageSize)
		if err != nil {
			t.Fatal(err)
		}
		k := newFakeKernel(npages) // the store is never unmapped, as in newClusterWith
		id := owner.NodeID(i)
		k.node = owner.NewNode(owner.NodeConfig{
			Config: owner.Config{Self: id, Nodes: n, Pages: npages}, PageSize: pageSize, Timeout: 20 * time.Second,
		}, slowSend{nw.Transport(id)}, stores(t, store, npages), k)
		nw.Attach(id, k.node.Receive, nil)
		kernels = append(kernels, k)
	}
	var wg sync.WaitGroup
	for i, k := range kernels {
		wg.Go(func() {
			for r := range rounds {
				p := owner.PageID((r*3 + i) % npages) // few pages: each is sent again within a release batch
				if err := k.access(context.Background(), p, func(b []byte) {
					binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)+1)
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := uint64(0)
	for p := range owner.PageID(npages) {
		kernels[0].access(context.Background(), p, func(b []byte) { total += binary.LittleEndian.Uint64(b) })
	}
	if total != n*rounds {
		t.Fatalf("counters sum to %d, want %d: an update was lost", total, n*rounds)
	}
}

// TestClosedNodeTakesNoPages: once shut down or leaving, a node serves the
// pages still here (the kernel's write-back among them) but asks for none,
// not even for readahead.
func TestClosedNodeTakesNoPages(t *testing.T) {
	c := newClusterPrefetch(t, 2, 8, 0, 4) // node 0 owns 0-3
	c.nodes[0].Close()
	buf := make([]byte, 2*pageSize)
	if err := c.nodes[0].ReadAt(context.Background(), buf[:pageSize], 0); err != nil {
		t.Fatalf("a page still here: %v", err)
	}
	if err := c.nodes[0].ReadAt(context.Background(), buf, 3*pageSize); !errors.Is(err, owner.ErrNotHere) {
		t.Fatalf("readahead into node 1's page: got %v, want ErrNotHere", err)
	}
	if err := c.nodes[0].ReadAt(context.Background(), buf[:pageSize], 5*pageSize); !errors.Is(err, owner.ErrClosed) {
		t.Fatalf("a fault on node 1's page: got %v, want ErrClosed", err)
	}
	c.barrier(t, 0)
	if got := c.nodes[0].Stats().PagesIn[1]; got != 0 {
		t.Fatalf("a closed node took %d pages", got)
	}
}

// barrier returns once every message node id sent so far has been handled
// and answered: it asks every node for its pages, and each answer travels
// behind whatever that node sent id before it (transports are FIFO per
// pair). A check that nothing happened follows it, not a sleep.
func (c *cluster) barrier(t *testing.T, id int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, o := range c.nodes[id].ClusterOwners(ctx) {
		if o.Err != nil {
			t.Fatalf("barrier: node %d: %v", o.Node, o.Err)
		}
	}
}

// waitFor polls cond until it holds, failing the test after a few seconds
// with what it waited for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestInterruptedAccessWaitsOn: a signal that interrupts a program's fault
// ends the FUSE request's context. The access must not end with it: the
// kernel turns a failed READ of a fault it retries into SIGBUS. It waits
// on, and is served when the page comes.
func TestInterruptedAccessWaitsOn(t *testing.T) {
	c := newCluster(t, 2, 2, 0)
	release := make(chan struct{})
	c.net.Attach(0, func(m owner.Message) error {
		if m.Type == owner.MsgPage {
			<-release // the page is on its way for as long as the test says
		}
		return c.nodes[0].Receive(m)
	}, nil)
	ctx, interrupt := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.nodes[0].ReadAt(ctx, make([]byte, pageSize), pageSize) }() // node 1's page
	waitFor(t, "the request for page 1", func() bool { return c.nodes[1].Stats().PagesOut[0] == 1 })
	interrupt()
	waitFor(t, "the interrupt to be counted", func() bool { return c.nodes[0].Stats().Interrupted == 1 })
	select {
	case err := <-done:
		t.Fatalf("the interrupted access ended before its page came: %v", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the interrupted access failed: %v", err)
	}
	if st := c.nodes[0].Stats(); st.RemoteFaults != 1 || st.FaultErrors != 0 {
		t.Fatalf("remote faults %d, fault errors %d; want 1 and 0", st.RemoteFaults, st.FaultErrors)
	}
}

// slowPages delays every page it sends, so that handing many on takes a
// while.
type slowPages struct {
	owner.Transport
	delay time.Duration
}

func (s slowPages) Send(m owner.Message) error {
	if m.Type == owner.MsgPage {
		time.Sleep(s.delay)
	}
	return s.Transport.Send(m)
}

// lockedBuffer is a log that goroutines write while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLeaveSaysPagesLeft: a leave that takes a while says, now and then,
// how many pages it still has to hand on. 100 pages sent 5 ms apart take
// at least half a second, five times the progress period.
func TestLeaveSaysPagesLeft(t *testing.T) {
	const n, npages = 2, 200
	nw := dsmnet.NewInmem(n, 1)
	var logs lockedBuffer
	var nodes []*owner.Node
	for i := range n {
		store, err := pages.New(npages, pageSize)
		if err != nil {
			t.Fatal(err)
		}
		k := newFakeKernel(npages)
		id := owner.NodeID(i)
		cfg := owner.NodeConfig{Config: owner.Config{Self: id, Nodes: n, Pages: npages}, PageSize: pageSize, Timeout: 20 * time.Second}
		var tr owner.Transport = nw.Transport(id)
		if id == 1 {
			cfg.Progress = 100 * time.Millisecond
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			tr = slowPages{tr, 5 * time.Millisecond}
		}
		k.node = owner.NewNode(cfg, tr, stores(t, store, npages), k)
		nw.Attach(id, k.node.Receive, nil)
		nodes = append(nodes, k.node)
	}
	if err := nodes[1].Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`msg="leaving: pages left to hand on" pages=[1-9]\d* survivors=1`).MatchString(logs.String()) {
		t.Errorf("no progress line in the leaver's log:\n%s", logs.String())
	}
}
