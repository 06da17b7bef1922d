package net

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// Inmem is an in-memory network between the nodes of one test process, in
// the spirit of hashicorp/raft's InmemTransport, that keeps the transport
// contract of owner.Transport as TCP does: messages between two nodes
// arrive in the order they were sent, each once, until their connection
// closes. It can delay messages (random delays reorder the messages of
// different pairs, never those of one pair) and close connections, as a
// crash or a recovery's Disconnect does.
type Inmem struct {
	mu       sync.Mutex
	nodes    []inmemNode                    // by NodeID; guarded by mu
	pairs    map[[2]owner.NodeID]*inmemPair // guarded by mu: by (from, to)
	maxDelay time.Duration                  // guarded by mu
	rng      *rand.Rand                     // guarded by mu
	errs     []error                        // guarded by mu: messages a node rejected
}

// inmemNode is where one node's messages and losses go.
type inmemNode struct {
	deliver func(owner.Message) error
	lost    func(owner.NodeID) // nil: nobody is told
}

// inmemPair is the connection from one node to another, one way: its
// messages in order, and a goroutine delivering them while it runs.
type inmemPair struct {
	queue   []inmemEnvelope // guarded by Inmem.mu
	closed  bool            // guarded by Inmem.mu: disconnected for good
	running bool            // guarded by Inmem.mu: a goroutine delivers the queue
	lastDue time.Time       // guarded by Inmem.mu: no message overtakes the one before
}

type inmemEnvelope struct {
	msg owner.Message
	due time.Time
}

// NewInmem returns a network of n nodes with no delay; seed makes delays
// repeatable.
func NewInmem(n int, seed uint64) *Inmem {
	return &Inmem{
		nodes: make([]inmemNode, n),
		pairs: map[[2]owner.NodeID]*inmemPair{},
		rng:   rand.New(rand.NewPCG(seed, seed)),
	}
}

// Attach sets where messages to node id go, and who is told when one of
// its connections closes (lost may be nil).
func (nw *Inmem) Attach(id owner.NodeID, deliver func(owner.Message) error, lost func(owner.NodeID)) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.nodes[id] = inmemNode{deliver: deliver, lost: lost}
}

// Transport is node id's side of the network. Messages it sends carry
// From = id whatever the sender claims, as on a real connection.
func (nw *Inmem) Transport(id owner.NodeID) owner.Transport { return inmemEnd{nw, id} }

// SetDelay delays each message by a random duration up to max.
func (nw *Inmem) SetDelay(max time.Duration) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.maxDelay = max
}

// Stop closes every connection of node id, as its crash would: each peer
// is told that id is lost, and id that they are.
func (nw *Inmem) Stop(id owner.NodeID) {
	for peer := range owner.NodeID(len(nw.nodes)) {
		if peer != id {
			nw.disconnect(id, peer)
		}
	}
}

// Errors returns the errors receivers returned for delivered messages.
func (nw *Inmem) Errors() []error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return append([]error(nil), nw.errs...)
}

// pair is the connection from a to b; mu held.
func (nw *Inmem) pairLocked(a, b owner.NodeID) *inmemPair {
	key := [2]owner.NodeID{a, b}
	p := nw.pairs[key]
	if p == nil {
		p = &inmemPair{}
		nw.pairs[key] = p
	}
	return p
}

// disconnect closes the connection between a and b both ways: what is on
// its way is dropped, and each side is told the other is lost, once, after
// the last message it delivered from it, as a TCP read loop tells it.
func (nw *Inmem) disconnect(a, b owner.NodeID) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, end := range [][2]owner.NodeID{{a, b}, {b, a}} {
		p := nw.pairLocked(end[0], end[1])
		if p.closed {
			continue
		}
		p.closed, p.queue = true, nil
		if !p.running { // else run tells, once it stops
			go nw.tellLost(end[1], end[0])
		}
	}
}

// tellLost tells node to that peer is lost, if anybody listens.
func (nw *Inmem) tellLost(to, peer owner.NodeID) {
	nw.mu.Lock()
	lost := nw.nodes[to].lost
	nw.mu.Unlock()
	if lost != nil {
		lost(peer)
	}
}

type inmemEnd struct {
	nw   *Inmem
	from owner.NodeID
}

// Send copies m, so the sender may reuse m.Data at once, and queues it on
// the pair's connection, delivered on another goroutine as a socket would.
func (e inmemEnd) Send(m owner.Message) error {
	nw := e.nw
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if int(m.To) >= len(nw.nodes) || nw.nodes[m.To].deliver == nil {
		return fmt.Errorf("no node %d on the network", m.To)
	}
	p := nw.pairLocked(e.from, m.To)
	if p.closed {
		return fmt.Errorf("node %d is disconnected from %d", m.To, e.from)
	}
	due := time.Now()
	if nw.maxDelay > 0 {
		due = due.Add(time.Duration(nw.rng.Int64N(int64(nw.maxDelay))))
	}
	if due.Before(p.lastDue) {
		due = p.lastDue
	}
	p.lastDue = due
	m.From = e.from
	m.Data = append([]byte(nil), m.Data...)
	p.queue = append(p.queue, inmemEnvelope{m, due})
	if !p.running {
		p.running = true
		go nw.run(p, e.from, m.To)
	}
	return nil
}

// run delivers p's queue in order, each message at its due time, until the
// queue is empty or p closes; then it tells to that from is lost.
func (nw *Inmem) run(p *inmemPair, from, to owner.NodeID) {
	stop := func() {
		p.running = false
		if p.closed {
			go nw.tellLost(to, from)
		}
		nw.mu.Unlock()
	}
	for {
		nw.mu.Lock()
		if p.closed || len(p.queue) == 0 {
			stop()
			return
		}
		env := p.queue[0]
		nw.mu.Unlock()
		time.Sleep(time.Until(env.due))
		nw.mu.Lock()
		if p.closed {
			stop() // a closed connection loses what it had not delivered
			return
		}
		p.queue = p.queue[1:]
		deliver := nw.nodes[to].deliver
		nw.mu.Unlock()
		if err := deliver(env.msg); err != nil {
			nw.mu.Lock()
			nw.errs = append(nw.errs, err)
			nw.mu.Unlock()
		}
	}
}

// Disconnect closes e's connection to peer for good, both ways: messages
// already on their way are dropped, and both sides are told the other is
// lost.
func (e inmemEnd) Disconnect(peer owner.NodeID) { e.nw.disconnect(e.from, peer) }
