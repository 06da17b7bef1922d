package owner

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// NodeConfig configures the driver.
type NodeConfig struct {
	Config
	// PageSize is the size of a protocol page in bytes: the unit that
	// migrates, a block of one or more kernel pages.
	PageSize int
	// HoldWindow is how long a page that arrived stays before the next
	// request for it is served. Zero hands it on at once.
	HoldWindow time.Duration
	// Timeout bounds how long a local access waits for a page.
	Timeout time.Duration
	// Prefetch is how many pages ahead a sequential sweep asks for; zero
	// moves only the pages that are touched.
	Prefetch int
	// FenceWait is how long recovery waits for a node it leaves out to
	// fence itself: at least KeepQuorum's half peer timeout, plus the
	// time to take every page from local programs. It also bounds how
	// long the coordinator waits for the members' reports.
	FenceWait time.Duration
	// Progress is how often a leave that is still handing pages on says
	// how many are left (2s if zero).
	Progress time.Duration
	Logger   *slog.Logger
}

// Node drives one node's Machine: FUSE handlers call ReadAt and WriteAt,
// the transport calls Receive and PeerLost, and Node answers through its
// ports (ports.go): it sends the machine's messages, moves bytes between
// the stores and waiting accesses, and runs the kernel's invalidations and
// the machine's timers.
//
// Locking: mu guards the machine, the waiters and the rest of the node's
// state, and is held while page bytes move between the stores and a
// waiting access, so that a page is never sent or overwritten halfway
// through. Nothing that waits happens under mu: sends, invalidations and
// timers run after it is released (releasing page memory, a batch of
// madvise calls, is the one syscall made under it). sendMu keeps the
// machine's order among messages: it is taken before mu is let go and
// held while a Ready's messages are sent (see release), and never held
// while taking mu.
type Node struct {
	cfg       NodeConfig
	transport Transport
	store     PageStore // the pages this node owns
	reads     PageStore // the read copies of other nodes' pages
	copies    CopyStore // the replicas kept for recovery
	kernel    Kernel
	log       *slog.Logger
	stats     *stats
	stages    *stageClock

	sendMu sync.Mutex
	mu     sync.Mutex
	m      *Machine // guarded by mu
	// waiters are local accesses waiting for a page, through segment and
	// through segment.ro; guarded by mu.
	waiters, readWaiters map[PageID]*waiter
	fenced               bool // guarded by mu: cut off for good (Fence)
	// timedOut are the pages whose last wait timed out, and when
	// (node_retry.go); guarded by mu.
	timedOut map[PageID]time.Time
	// arrived is when the page being stepped in Receive arrived, and
	// handed when this node's request for it was handed on, zero
	// otherwise: the waiters it serves note them (stages.go); guarded by
	// mu.
	arrived, handed time.Time
	// sending counts the sends of each page under way, which read its
	// bytes without mu; guarded by mu. See sent.
	sending map[PageID]int
	// deferred are messages from an epoch not installed here yet, stepped
	// again at ActInstalled; guarded by mu.
	deferred []Message
	// Syncs (node_sync.go), guarded by mu: the pages written since their
	// last copy, and the copies syncs wait for.
	dirty     map[PageID]bool
	copyWaits map[copyKey][]copyWait
	// leave is the leave under way (node_leave.go); guarded by mu.
	leave *leaveAcks
	// queries are ClusterOwners calls waiting for answers; guarded by mu.
	queries   map[PageID]*ownersQuery
	nextQuery PageID // guarded by mu

	// services take the message types they registered for (Register);
	// written before the transport starts, only read after.
	services map[MsgType]Service
}

// Stores are the bytes a node keeps.
type Stores struct {
	Pages  PageStore // the pages it owns
	Reads  PageStore // the read copies of other nodes' pages, for segment.ro
	Copies CopyStore // the replicas it keeps for recovery
}

// NewNode returns a driver for cfg. Call Receive for every message the
// transport delivers, and PeerLost for every peer it loses.
func NewNode(cfg NodeConfig, t Transport, stores Stores, k Kernel) *Node {
	cfg.Hold = cfg.HoldWindow > 0
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Node{
		cfg: cfg, transport: t, store: stores.Pages, reads: stores.Reads, copies: stores.Copies, kernel: k, log: log, stats: newStats(cfg.Nodes), stages: newStageClock(),
		m:           NewMachine(cfg.Config),
		waiters:     make(map[PageID]*waiter),
		readWaiters: make(map[PageID]*waiter),
		sending:     make(map[PageID]int),
		timedOut:    make(map[PageID]time.Time),
		dirty:       make(map[PageID]bool),
		copyWaits:   make(map[copyKey][]copyWait),
		queries:     make(map[PageID]*ownersQuery),
		services:    make(map[MsgType]Service),
	}
}

// Receive feeds a message from a peer. msg.Data is only read during the
// call. An error means the peer broke the protocol.
func (n *Node) Receive(msg Message) error {
	if s := n.services[msg.Type]; s != nil {
		return s.Receive(msg)
	}
	switch msg.Type {
	case MsgOwnersQuery, MsgOwnersReply:
		return n.receiveOwners(msg)
	case MsgReplicaAck:
		n.ackCopy(msg)
		return nil
	case MsgLeftAck:
		n.leftAck(msg.From)
		return nil
	case MsgPage, MsgReplica, MsgReadCopy:
		if len(msg.Data) != n.cfg.PageSize && (len(msg.Data) != 0 || msg.Type == MsgReplica) {
			return fmt.Errorf("%v: carries %d bytes, a page has %d", msg, len(msg.Data), n.cfg.PageSize)
		}
	case MsgRequest, MsgReadRequest:
		n.stages.requested(msg.Page, time.Now())
	}
	var arrived time.Time
	if msg.Type == MsgPage || msg.Type == MsgReadCopy {
		arrived = time.Now()
	}
	n.mu.Lock()
	switch err := n.m.Step(msg); {
	case errors.Is(err, ErrLater):
		msg.Data = slices.Clone(msg.Data)
		n.deferred = append(n.deferred, msg)
		n.mu.Unlock()
		return nil
	case err != nil:
		n.mu.Unlock()
		n.stats.protocolErrors.Add(1)
		return err
	}
	n.arrived = arrived
	rd := n.readyLocked(&msg)
	n.arrived, n.handed = time.Time{}, time.Time{}
	n.release(rd)
	return nil
}

// step applies a local event to the machine and runs what follows.
func (n *Node) step(event func(*Machine)) {
	n.mu.Lock()
	event(n.m)
	n.release(n.readyLocked(nil))
}

// readyLocked takes the machine's Ready and does, before mu is released,
// the actions that move bytes: between the stores, and to the accesses
// waiting for a page. in is the message just stepped, whose bytes some
// actions take; mu held.
func (n *Node) readyLocked(in *Message) Ready {
	rd := n.m.Ready()
	for _, a := range rd.Actions {
		p := a.Page
		switch a.Kind {
		case ActTakePage:
			n.handed = n.stages.served(p)
			n.store.Arrive(p, in.Data)
			n.stats.pagesIn[in.From].Add(1)
			n.stats.bytesIn.Add(uint64(len(in.Data)))
		case ActStoreCopy:
			n.copies.Keep(p, in.Data)
		case ActKeepCopy:
			n.copies.Keep(p, n.store.Bytes(p))
		case ActDropCopy:
			n.copies.Drop(p)
		case ActPromote:
			n.store.Arrive(p, n.copies.Copy(p)) // nil: the start content, zeros
		case ActPromoteRead:
			n.store.Arrive(p, n.reads.Bytes(p))
		case ActTakeReadCopy:
			n.handed = n.stages.served(p)
			n.reads.Arrive(p, in.Data)
			n.stats.bytesIn.Add(uint64(len(in.Data)))
		case ActDropReadCopy:
			if err := n.reads.Left(p); err != nil {
				n.log.Warn("cannot release read copy memory", "err", err)
			}
		case ActServe:
			n.serveWaitersLocked(n.waiters, p, n.store)
		case ActServeRead:
			n.serveWaitersLocked(n.readWaiters, p, n.readSource(p))
		case ActFail:
			err := error(fmt.Errorf("page %d: %w", p, ErrPeerDead))
			if n.m.Lost(p) {
				err = fmt.Errorf("page %d: %w", p, ErrPageLost)
			}
			n.failWaitersLocked(func(q PageID) bool { return q == p }, err)
		}
	}
	for i, msg := range rd.Messages {
		switch msg.Type {
		case MsgPage:
			n.sending[msg.Page]++
		case MsgReplica:
			// A hand-off's extra copy, sent after mu is released,
			// when the copy kept here may have changed.
			rd.Messages[i].Data = slices.Clone(n.copies.Copy(msg.Page))
		}
	}
	return rd
}

// readSource is where a read of page p through segment.ro takes its bytes:
// the page store while this node owns p, the read copy store otherwise.
func (n *Node) readSource(p PageID) PageStore {
	if n.m.Owns(p) {
		return n.store
	}
	return n.reads
}

// serveWaitersLocked performs the accesses in waiters waiting for page p,
// whose bytes are in s now; mu held.
func (n *Node) serveWaitersLocked(waiters map[PageID]*waiter, p PageID, s PageStore) {
	delete(n.timedOut, p)
	for w := waiters[p]; w != nil; w = w.next {
		w.arrived, w.handed = n.arrived, n.handed
		w.apply(s)
		if w.src != nil {
			n.wroteLocked(p)
		}
		w.done <- nil
	}
	delete(waiters, p)
}

// failWaitersLocked ends the accesses waiting for the pages that match,
// through either file, with err; mu held.
func (n *Node) failWaitersLocked(match func(PageID) bool, err error) {
	for _, waiters := range []map[PageID]*waiter{n.waiters, n.readWaiters} {
		for p, w := range waiters {
			if !match(p) {
				continue
			}
			for ; w != nil; w = w.next {
				w.done <- err
			}
			delete(waiters, p)
		}
	}
}

// release lets mu go and carries out the rest of rd: first its messages,
// sent in the order the machine made them (sendMu is taken before mu is
// let go, so the next Ready's wait for these; a read copy must not be
// overtaken by its revocation), then the actions that wait. mu held.
func (n *Node) release(rd Ready) {
	n.sendLocked(rd.Messages)
	n.run(rd.Actions)
}

// releaseInHandler is release for a FUSE request handler: the actions run
// on a goroutine of their own, since an invalidation from inside a handler
// can wait for the very requests the handler holds up.
func (n *Node) releaseInHandler(rd Ready) {
	n.sendLocked(rd.Messages)
	if len(rd.Actions) > 0 {
		go n.run(rd.Actions)
	}
}

// sendLocked lets mu go and sends msgs in order; mu held.
func (n *Node) sendLocked(msgs []Message) {
	if len(msgs) == 0 {
		n.mu.Unlock()
		return
	}
	n.sendMu.Lock()
	n.mu.Unlock()
	pages := n.send(msgs)
	n.sendMu.Unlock()
	for _, p := range pages {
		n.sent(p)
	}
}

// run carries out the actions of a Ready that wait (invalidations,
// disconnects) or start timers, without mu held.
func (n *Node) run(actions []Action) {
	for _, a := range actions {
		switch a.Kind {
		case ActInvalidate:
			n.invalidate(a.Page)
		case ActInvalidateRead:
			n.invalidateRead(a.Page)
		case ActHold:
			p := a.Page
			time.AfterFunc(n.cfg.HoldWindow, func() { n.step(func(m *Machine) { m.HoldExpired(p) }) })
		case ActDisconnect:
			n.log.Warn("leaving a node out of the new epoch", "peer", a.Node)
			n.transport.Disconnect(a.Node)
		case ActReportTimer:
			e := a.Epoch
			time.AfterFunc(n.cfg.FenceWait, func() { n.step(func(m *Machine) { m.ReportsOverdue(e) }) })
		case ActFenceTimer:
			e := a.Epoch
			time.AfterFunc(n.cfg.FenceWait, func() { n.step(func(m *Machine) { m.FenceWaited(e) }) })
		case ActInstalled:
			n.installed(a.Epoch)
		}
	}
}

func (n *Node) invalidate(p PageID) {
	if err := n.kernel.Invalidate(p); err != nil {
		// The page may still be mapped here: sending it now could leave
		// two writers. Try again shortly; the requester waits meanwhile.
		n.log.Error("cannot take page from local programs, retrying", "page", p, "err", err)
		time.AfterFunc(10*time.Millisecond, func() { n.invalidate(p) })
		return
	}
	n.step(func(m *Machine) { m.InvalidateDone(p) })
}

func (n *Node) invalidateRead(p PageID) {
	if err := n.kernel.InvalidateRead(p); err != nil {
		// Programs may still read the copy: a write must wait.
		n.log.Error("cannot take read copy from local programs, retrying", "page", p, "err", err)
		time.AfterFunc(10*time.Millisecond, func() { n.invalidateRead(p) })
		return
	}
	n.step(func(m *Machine) { m.InvalidateReadDone(p) })
}

// send sends msgs, sendMu held, and returns the pages it handed off.
func (n *Node) send(msgs []Message) (handedOff []PageID) {
	for _, msg := range msgs {
		switch msg.Type {
		case MsgPage:
			// The machine no longer owns the page, so nothing writes
			// it until it comes back, which needs this send to finish.
			msg.Data = pageData(n.store.Bytes(msg.Page))
			n.stats.pagesOut[msg.To].Add(1)
			n.stats.bytesOut.Add(uint64(len(msg.Data)))
			handedOff = append(handedOff, msg.Page)
		case MsgReadCopy:
			// The page is shared: nothing writes it until every copy,
			// this one included, is back.
			msg.Data = pageData(n.store.Bytes(msg.Page))
			n.stats.bytesOut.Add(uint64(len(msg.Data)))
		}
		// Times taken before the write: once the message is on the
		// socket its receiver may run while this goroutine does not.
		switch msg.Type {
		case MsgPage, MsgReadCopy:
			n.stages.pageSent(msg.Page, time.Now())
		case MsgRequest, MsgReadRequest:
			if msg.Requester == n.cfg.Self {
				n.stages.requestSent(msg.Page, time.Now())
			}
		}
		if err := n.transport.Send(msg); err != nil {
			n.stats.sendErrors.Add(1)
			n.log.Error("send failed", "msg", msg.String(), "err", err)
		}
	}
	return handedOff
}

// pageData is what a MsgPage or MsgReadCopy carries of page b: nothing for
// a page of zeros, which most pages of a fresh segment are, so that handing
// on pages nobody wrote (a first touch, a leave) costs a header each.
func pageData(b []byte) []byte {
	for _, c := range b {
		if c != 0 {
			return b
		}
	}
	return nil
}

// sent notes that a send of page p is complete: unless p came back or is
// being sent again, the store may give its memory back. sendMu not held.
func (n *Node) sent(p PageID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sending[p]--; n.sending[p] > 0 {
		return
	}
	delete(n.sending, p)
	if !n.m.Owns(p) {
		if err := n.store.Left(p); err != nil {
			n.log.Warn("cannot release page memory", "err", err)
		}
	}
}

// Close fails the waiting accesses and every later one for a page that is
// not here: the node takes no page any more.
func (n *Node) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.m.Close()
	n.failWaitersLocked(func(PageID) bool { return true }, ErrClosed)
}

// Register has s take the messages of types instead of the node, and hear
// of every peer the node loses. Call it before the transport delivers.
func (n *Node) Register(s Service, types ...MsgType) {
	for _, t := range types {
		n.services[t] = s
	}
}

// Self is this node's ID.
func (n *Node) Self() NodeID { return n.cfg.Self }
