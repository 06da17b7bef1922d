package owner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrTimeout is returned for an access whose page did not arrive in time.
var ErrTimeout = errors.New("page did not arrive in time")

// ErrClosed is returned for accesses after Close.
var ErrClosed = errors.New("node is shut down")

// NodeConfig configures the driver.
type NodeConfig struct {
	Config
	PageSize int
	// HoldWindow is how long a page that arrived stays before the next
	// request for it is served. Zero hands it on at once.
	HoldWindow time.Duration
	// Timeout bounds how long a local access waits for a page.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Node drives one node's Machine: FUSE handlers call Read and Write, the
// transport calls Receive, and Node answers through its ports.
//
// Locking: mu guards the machine and the waiters, and is held while page
// bytes move between the page store and a waiting access, so that a page is
// never sent or overwritten halfway through. Nothing blocking happens under
// mu: sends and invalidations run after it is released.
type Node struct {
	cfg       NodeConfig
	transport Transport
	store     PageStore
	kernel    Kernel
	log       *slog.Logger

	mu      sync.Mutex
	m       *Machine           // guarded by mu
	waiters map[PageID]*waiter // guarded by mu: local accesses waiting for a page
	closed  bool               // guarded by mu
	// queries are ClusterOwners calls waiting for answers; guarded by mu.
	queries   map[PageID]*ownersQuery
	nextQuery PageID // guarded by mu
}

// waiter is a local access waiting for its page to arrive.
type waiter struct {
	page PageID
	dst  []byte // a read copies the page here
	src  []byte // a write copies this into the page at off
	off  int
	done chan error
	next *waiter // the next waiter for the same page
}

// apply performs the access on the page store; called with mu held.
func (w *waiter) apply(s PageStore) {
	if w.src != nil {
		s.Write(w.page, w.off, w.src)
	} else {
		s.Read(w.page, w.dst)
	}
}

// NewNode returns a driver for cfg. Call Receive for every message the
// transport delivers.
func NewNode(cfg NodeConfig, t Transport, s PageStore, k Kernel) *Node {
	cfg.Hold = cfg.HoldWindow > 0
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Node{
		cfg: cfg, transport: t, store: s, kernel: k, log: log,
		m:       NewMachine(cfg.Config),
		waiters: make(map[PageID]*waiter),
		queries: make(map[PageID]*ownersQuery),
	}
}

// Read copies page p into dst, fetching the page first if another node owns
// it. Called from FUSE handlers.
func (n *Node) Read(ctx context.Context, p PageID, dst []byte) error {
	return n.access(ctx, &waiter{page: p, dst: dst})
}

// Write copies src into page p at offset off, fetching the page first if
// another node owns it. Called from FUSE handlers.
func (n *Node) Write(ctx context.Context, p PageID, off int, src []byte) error {
	return n.access(ctx, &waiter{page: p, src: src, off: off})
}

func (n *Node) access(ctx context.Context, w *waiter) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	if n.m.Access(w.page) {
		w.apply(n.store)
		n.mu.Unlock()
		return nil
	}
	w.done = make(chan error, 1)
	w.next = n.waiters[w.page]
	n.waiters[w.page] = w
	rd := n.m.Ready()
	n.mu.Unlock()
	// An access only ever asks for the page: no action here, so no
	// invalidation can run inside the FUSE handler that called us.
	n.send(rd.Messages)
	return n.wait(ctx, w)
}

func (n *Node) wait(ctx context.Context, w *waiter) error {
	timer := time.NewTimer(n.cfg.Timeout)
	defer timer.Stop()
	var err error
	select {
	case err = <-w.done:
		return err
	case <-timer.C:
		err = fmt.Errorf("page %d: %w after %v", w.page, ErrTimeout, n.cfg.Timeout)
	case <-ctx.Done():
		err = fmt.Errorf("page %d: %w", w.page, ctx.Err())
	}
	n.mu.Lock()
	gone := n.removeWaiter(w)
	n.mu.Unlock()
	if !gone {
		// Served while we gave up: the access has happened.
		return <-w.done
	}
	return err
}

// removeWaiter unlinks w and reports whether it was still waiting; mu held.
func (n *Node) removeWaiter(w *waiter) bool {
	head := n.waiters[w.page]
	if head == w {
		if w.next == nil {
			delete(n.waiters, w.page)
		} else {
			n.waiters[w.page] = w.next
		}
		return true
	}
	for link := head; link != nil; link = link.next {
		if link.next == w {
			link.next = w.next
			return true
		}
	}
	return false
}

// Receive feeds a message from a peer. msg.Data is only read during the
// call. An error means the peer broke the protocol.
func (n *Node) Receive(msg Message) error {
	if msg.Type == MsgOwnersQuery || msg.Type == MsgOwnersReply {
		return n.receiveOwners(msg)
	}
	if msg.Type == MsgPage && len(msg.Data) != n.cfg.PageSize {
		return fmt.Errorf("%v: carries %d bytes, a page has %d", msg, len(msg.Data), n.cfg.PageSize)
	}
	n.mu.Lock()
	if err := n.m.Step(msg); err != nil {
		n.mu.Unlock()
		return err
	}
	if msg.Type == MsgPage {
		n.store.Write(msg.Page, 0, msg.Data)
	}
	rd := n.readyLocked()
	n.mu.Unlock()
	n.run(rd)
	return nil
}

// step applies a local event to the machine and runs what follows.
func (n *Node) step(event func(*Machine)) {
	n.mu.Lock()
	event(n.m)
	rd := n.readyLocked()
	n.mu.Unlock()
	n.run(rd)
}

// readyLocked takes the machine's Ready and answers waiting accesses for the
// pages it serves, before mu is released; mu held.
func (n *Node) readyLocked() Ready {
	rd := n.m.Ready()
	for _, a := range rd.Actions {
		if a.Kind != ActServe {
			continue
		}
		for w := n.waiters[a.Page]; w != nil; w = w.next {
			w.apply(n.store)
			w.done <- nil
		}
		delete(n.waiters, a.Page)
	}
	return rd
}

// run carries out a Ready without mu held. ActServe was done under mu.
func (n *Node) run(rd Ready) {
	for _, a := range rd.Actions {
		switch a.Kind {
		case ActInvalidate:
			n.invalidate(a.Page)
		case ActHold:
			p := a.Page
			time.AfterFunc(n.cfg.HoldWindow, func() {
				n.step(func(m *Machine) { m.HoldExpired(p) })
			})
		}
	}
	n.send(rd.Messages)
}

func (n *Node) invalidate(p PageID) {
	if err := n.kernel.Invalidate(p); err != nil {
		// The page may still be mapped here: sending it now could leave
		// two writers. Try again shortly; the requester waits meanwhile.
		n.log.Error("cannot take page from local programs, retrying", "page", p, "err", err)
		time.AfterFunc(10*time.Millisecond, func() {
			if !n.isClosed() {
				n.invalidate(p)
			}
		})
		return
	}
	n.step(func(m *Machine) { m.InvalidateDone(p) })
}

func (n *Node) send(msgs []Message) {
	for _, msg := range msgs {
		if msg.Type == MsgPage {
			// The machine no longer owns the page, so nothing writes
			// it until it comes back, which needs this send to finish.
			msg.Data = n.store.Bytes(msg.Page)
		}
		if err := n.transport.Send(msg); err != nil {
			n.log.Error("send failed", "msg", msg.String(), "err", err)
		}
	}
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// Close fails the waiting accesses and every later one.
func (n *Node) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for p, w := range n.waiters {
		for ; w != nil; w = w.next {
			w.done <- ErrClosed
		}
		delete(n.waiters, p)
	}
}

// Self is this node's ID.
func (n *Node) Self() NodeID { return n.cfg.Self }
