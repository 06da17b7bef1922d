package net

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// Inmem is an in-memory network between the nodes of one test process, in
// the spirit of hashicorp/raft's InmemTransport. It can delay messages
// (random delays reorder them), drop them, and partition nodes; a node can
// disconnect a peer for good.
type Inmem struct {
	mu       sync.Mutex
	deliver  []func(owner.Message) error // by NodeID; guarded by mu
	cut      map[[2]owner.NodeID]bool    // guarded by mu: pairs that cannot talk
	gone     map[[2]owner.NodeID]bool    // guarded by mu: pairs that never talk again
	maxDelay time.Duration               // guarded by mu
	dropRate float64                     // guarded by mu
	rng      *rand.Rand                  // guarded by mu
	errs     []error                     // guarded by mu: messages a node rejected
}

// NewInmem returns a network of n nodes with no delay, no loss and no
// partition; seed makes delays and drops repeatable.
func NewInmem(n int, seed uint64) *Inmem {
	return &Inmem{
		deliver: make([]func(owner.Message) error, n),
		cut:     map[[2]owner.NodeID]bool{},
		gone:    map[[2]owner.NodeID]bool{},
		rng:     rand.New(rand.NewPCG(seed, seed)),
	}
}

// Attach sets where messages to node id go.
func (nw *Inmem) Attach(id owner.NodeID, deliver func(owner.Message) error) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.deliver[id] = deliver
}

// Transport is node id's side of the network. Messages it sends carry
// From = id whatever the sender claims, as on a real connection.
func (nw *Inmem) Transport(id owner.NodeID) owner.Transport { return inmemEnd{nw, id} }

// SetDelay delays each message by a random duration up to max; different
// delays reorder messages.
func (nw *Inmem) SetDelay(max time.Duration) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.maxDelay = max
}

// SetDropRate drops each message with probability p.
func (nw *Inmem) SetDropRate(p float64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.dropRate = p
}

// Partition cuts a and b off from each other, both ways.
func (nw *Inmem) Partition(a, b owner.NodeID) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut[[2]owner.NodeID{a, b}], nw.cut[[2]owner.NodeID{b, a}] = true, true
}

// Heal removes every partition, but no Disconnect.
func (nw *Inmem) Heal() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	clear(nw.cut)
}

// Errors returns the errors receivers returned for delivered messages.
func (nw *Inmem) Errors() []error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return append([]error(nil), nw.errs...)
}

type inmemEnd struct {
	nw   *Inmem
	from owner.NodeID
}

// Send copies m, so the sender may reuse m.Data at once, and delivers it on
// another goroutine, as a socket would.
func (e inmemEnd) Send(m owner.Message) error {
	nw := e.nw
	nw.mu.Lock()
	if int(m.To) >= len(nw.deliver) || nw.deliver[m.To] == nil {
		nw.mu.Unlock()
		return fmt.Errorf("no node %d on the network", m.To)
	}
	pair := [2]owner.NodeID{e.from, m.To}
	if nw.gone[pair] {
		nw.mu.Unlock()
		return fmt.Errorf("node %d is disconnected from %d", m.To, e.from)
	}
	if nw.cut[pair] {
		nw.mu.Unlock()
		return fmt.Errorf("node %d is partitioned from %d", m.To, e.from)
	}
	drop := nw.dropRate > 0 && nw.rng.Float64() < nw.dropRate
	var delay time.Duration
	if nw.maxDelay > 0 {
		delay = time.Duration(nw.rng.Int64N(int64(nw.maxDelay)))
	}
	deliver := nw.deliver[m.To]
	nw.mu.Unlock()
	if drop {
		return nil
	}
	m.From = e.from
	m.Data = append([]byte(nil), m.Data...)
	time.AfterFunc(delay, func() {
		nw.mu.Lock()
		gone := nw.gone[pair]
		nw.mu.Unlock()
		if gone {
			return // as a closed connection loses what it had not delivered
		}
		if err := deliver(m); err != nil {
			nw.mu.Lock()
			nw.errs = append(nw.errs, err)
			nw.mu.Unlock()
		}
	})
	return nil
}

// Disconnect cuts e and peer off from each other for good, both ways: Heal
// does not undo it, and messages already on their way are dropped. Neither
// side is told; a test that wants the peer to notice tells it.
func (e inmemEnd) Disconnect(peer owner.NodeID) {
	nw := e.nw
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.gone[[2]owner.NodeID{e.from, peer}], nw.gone[[2]owner.NodeID{peer, e.from}] = true, true
}
