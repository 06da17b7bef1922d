package owner

import (
	"context"
	"testing"
	"time"
)

// BenchmarkMachineMigration is one whole hand-off between two machines: the
// fault, the request, the invalidation, the page and the serve.
func BenchmarkMachineMigration(b *testing.B) {
	ms := [2]*Machine{
		NewMachine(Config{Self: 0, Nodes: 2, Pages: 2}),
		NewMachine(Config{Self: 1, Nodes: 2, Pages: 2}),
	}
	deliver := func(from int) {
		for _, m := range ms[from].Ready().Messages {
			if err := ms[m.To].Step(m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for i := range b.N {
		taker := 1 - i%2 // the page (0, first owned by node 0) goes back and forth
		ms[taker].Access(0)
		deliver(taker)
		ms[1-taker].InvalidateDone(0)
		deliver(1 - taker)
		ms[taker].Ready()
	}
}

// BenchmarkMachineAccessOwned is the check every local access makes.
func BenchmarkMachineAccessOwned(b *testing.B) {
	m := NewMachine(Config{Self: 0, Nodes: 2, Pages: 1024})
	for i := range b.N {
		if m.Access(PageID(i%512)) != AccessHere {
			b.Fatal("not owned")
		}
	}
}

type benchStore struct{ mem []byte }

func (s benchStore) Bytes(p PageID) []byte     { return s.mem[int(p)*4096 : int(p+1)*4096] }
func (s benchStore) Arrive(p PageID, d []byte) { copy(s.Bytes(p), d) }
func (s benchStore) Left(PageID) error         { return nil }

// benchCopies keeps one reused buffer per page, as pages.Copies does.
type benchCopies map[PageID][]byte

func (c benchCopies) Keep(p PageID, d []byte) {
	if c[p] == nil {
		c[p] = make([]byte, 4096)
	}
	copy(c[p], d)
}
func (c benchCopies) Copy(p PageID) []byte { return c[p] }
func (c benchCopies) Drop(PageID)          {}

// BenchmarkNodeReadOwned is the driver's part of a READ of an owned page:
// lock, machine check, copy of 4 KiB.
func BenchmarkNodeReadOwned(b *testing.B) {
	n := NewNode(NodeConfig{Config: Config{Self: 0, Nodes: 2, Pages: 1024}, PageSize: 4096}, nil, Stores{Pages: benchStore{make([]byte, 1024*4096)}, Reads: benchStore{make([]byte, 1024*4096)}, Copies: benchCopies{}}, nil)
	dst := make([]byte, 4096)
	b.SetBytes(4096)
	b.ReportAllocs()
	for i := range b.N {
		if err := n.ReadAt(context.Background(), dst, int64(i%512)*4096); err != nil {
			b.Fatal(err)
		}
	}
}

// syncTransport delivers each message at once, in the sender's goroutine.
type syncTransport struct{ nodes []*Node }

func (t *syncTransport) Send(m Message) error { return t.nodes[m.To].Receive(m) }
func (t *syncTransport) Disconnect(NodeID)    {}

// noCache is a kernel with nothing cached: invalidations are immediate.
type noCache struct{}

func (noCache) Invalidate(PageID) error     { return nil }
func (noCache) InvalidateAll() error        { return nil }
func (noCache) InvalidateRead(PageID) error { return nil }

// BenchmarkNodeHandOff is the drivers' part of a hand-off, with and without
// the copy a giver keeps under --replicas 1: one page goes back and forth
// between two nodes over a transport that delivers at once.
func BenchmarkNodeHandOff(b *testing.B) {
	for _, replicas := range []int{0, 1} {
		b.Run(map[int]string{0: "replicas=0", 1: "replicas=1"}[replicas], func(b *testing.B) {
			t := &syncTransport{}
			for id := range NodeID(2) {
				cfg := NodeConfig{Config: Config{Self: id, Nodes: 2, Pages: 2, Replicas: replicas}, PageSize: 4096, Timeout: time.Second}
				t.nodes = append(t.nodes, NewNode(cfg, t, Stores{Pages: benchStore{make([]byte, 2*4096)}, Reads: benchStore{make([]byte, 2*4096)}, Copies: benchCopies{}}, noCache{}))
			}
			dst := make([]byte, 4096)
			b.ReportAllocs()
			for i := range b.N {
				if err := t.nodes[1-i%2].ReadAt(context.Background(), dst, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
