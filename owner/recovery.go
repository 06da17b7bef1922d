package owner

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Recovery, the driver's part (the pure part is epoch.go). With replicas,
// a lost peer's pages are not given up: the lowest live member, if the live
// members are a quorum, freezes every live node into a new epoch, gathers
// what each owns and keeps copies of, waits until any node left out has had
// time to fence itself, and installs Plan's owner map everywhere.
//
// A node left out may still be alive, cut off by a broken connection or a
// partition. It cannot hear a quorum (the members that left it out are one,
// and they disconnect it before they answer), so KeepQuorum tells it to
// fence itself within half a peer timeout (fence.go), while the
// coordinator waits a whole one (NodeConfig.FenceWait) before it installs.
// The same epoch change takes a restarted node back in (rejoin.go).

// ErrPageLost is returned for an access to a page that died with its owner,
// no copy of it left.
var ErrPageLost = errors.New("the page was lost with its owner")

// nextEpoch is the epoch a coordinator starts above the highest it has
// seen: a round number in the high 16 bits and the coordinator in the low
// ones, so that two nodes coordinating at once (each thinking the other
// dead) never start the same epoch, and the newer round always wins.
func nextEpoch(seen uint32, self NodeID) uint32 {
	return (seen>>16+1)<<16 | uint32(self)
}

// recovery is one recovery this node coordinates.
type recovery struct {
	epoch   uint32
	reports map[NodeID][]Holding
	waiting map[NodeID]bool // members yet to report
	done    chan struct{}   // closed when none is waiting
}

// coordinatorLocked reports whether this node is to run recovery: it is the
// lowest live member and the live members are a quorum; mu held.
func (n *Node) coordinatorLocked() bool {
	live := func(id NodeID) bool { return !n.dead[id] }
	for id := range n.cfg.Self {
		if n.members[id] && live(id) {
			return false
		}
	}
	return !n.closed && n.members[n.cfg.Self] && n.quorumLocked(live)
}

// recoverPagesOf marks peer dead and, if it is a member, has its pages
// recovered; accesses waiting for them wait for the new owner map. Syncs
// waiting for a copy on peer fail.
func (n *Node) recoverPagesOf(peer NodeID) {
	n.failCopyWaits(func(k copyKey, _ *syncCall) bool { return k.peer == peer }, fmt.Errorf("node %d: %w", peer, ErrPeerDead))
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dead[peer] = true
	if n.members[peer] {
		n.startRecoveryLocked()
	}
}

// membersChangedLocked reports whether the live nodes are not the members:
// a member died, its pages yet to be recovered, or a restarted node asks to
// rejoin; mu held.
func (n *Node) membersChangedLocked() bool {
	for id, m := range n.members {
		if m == n.dead[id] {
			return true
		}
	}
	return false
}

// startRecoveryLocked has the members recovered after a loss; mu held. One
// goroutine coordinates at a time, once more for each loss meanwhile.
func (n *Node) startRecoveryLocked() {
	n.recoverAgain = true
	if n.recovering {
		return
	}
	n.recovering = true
	go func() {
		for {
			n.mu.Lock()
			again := n.recoverAgain
			n.recoverAgain = false
			n.recovering = again
			n.mu.Unlock()
			if !again {
				return
			}
			if err := n.coordinate(); err != nil {
				n.log.Error("recovery failed", "err", err)
			}
		}
	}()
}

// coordinate runs one recovery, if this node is the coordinator.
func (n *Node) coordinate() error {
	n.mu.Lock()
	if !n.coordinatorLocked() || !n.membersChangedLocked() {
		n.mu.Unlock()
		return nil
	}
	epoch := nextEpoch(n.maxEpoch, n.cfg.Self)
	n.maxEpoch = epoch
	if err := n.m.Freeze(epoch); err != nil {
		n.mu.Unlock()
		return err
	}
	rec := &recovery{epoch: epoch, reports: map[NodeID][]Holding{n.cfg.Self: n.holdingsLocked()}, waiting: map[NodeID]bool{}, done: make(chan struct{})}
	out, next := n.nextMembersLocked()
	for _, id := range next {
		if id != n.cfg.Self {
			rec.waiting[id] = true
		}
	}
	asked := slices.Collect(maps.Keys(rec.waiting))
	if len(asked) == 0 {
		close(rec.done)
	}
	n.recovery = rec
	n.mu.Unlock()

	n.log.Warn("new epoch: recovering the pages of lost members, taking in restarted ones", "epoch", epoch, "lost", out, "members", next)
	for _, id := range out {
		n.transport.Disconnect(id)
	}
	for _, id := range asked {
		query := Message{Type: MsgRecoverQuery, From: n.cfg.Self, To: id, Epoch: epoch, Data: EncodeNodes(next)}
		if err := n.transport.Send(query); err != nil {
			n.log.Warn("cannot ask for recovery", "peer", id, "err", err)
		}
	}
	if err := n.awaitReports(rec); err != nil || n.superseded(rec) {
		return err
	}
	if len(out) > 0 {
		// A node left out may still run, cut off: by now it has lost
		// its quorum; give it the time to fence itself before its
		// pages move.
		time.Sleep(n.cfg.FenceWait)
	}
	n.mu.Lock()
	superseded := n.recovery != rec
	n.recovery = nil
	n.mu.Unlock()
	if superseded {
		return nil
	}
	owners := Plan(n.cfg.Pages, rec.reports)
	install := Message{Type: MsgRecoverInstall, From: n.cfg.Self, Epoch: epoch, Data: EncodeOwnerMap(owners)}
	for id := range rec.reports {
		if id == n.cfg.Self {
			continue
		}
		install.To = id
		if err := n.transport.Send(install); err != nil {
			n.log.Warn("cannot send the new owner map", "peer", id, "err", err)
		}
	}
	return n.install(epoch, owners)
}

// superseded reports whether a newer epoch replaced rec.
func (n *Node) superseded(rec *recovery) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.recovery != rec
}

// nextMembersLocked are the members of the epoch this node starts, the
// live nodes (members that did not die, and restarted nodes that asked to
// rejoin), and the members left out, dead; mu held.
func (n *Node) nextMembersLocked() (out, next []NodeID) {
	n.nextMembers = make([]bool, n.cfg.Nodes)
	for id := range NodeID(n.cfg.Nodes) {
		switch {
		case n.dead[id] && n.members[id]:
			out = append(out, id)
		case !n.dead[id]:
			next = append(next, id)
			n.nextMembers[id] = true
		}
	}
	return out, next
}

// awaitReports waits for every member's report. A member silent for a
// peer timeout is dead too: the recovery starts again without it.
func (n *Node) awaitReports(rec *recovery) error {
	select {
	case <-rec.done:
		return nil
	case <-time.After(n.cfg.FenceWait):
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.recovery != rec {
		return nil // superseded (see receiveRecovery); coordinate finds out
	}
	var silent []NodeID
	for id := range rec.waiting {
		n.dead[id] = true
		silent = append(silent, id)
	}
	n.recoverAgain = true
	n.recovery = nil
	return fmt.Errorf("epoch %d: nodes %v did not report; recovering without them", rec.epoch, silent)
}

// holdingsLocked is this node's recovery report: the pages it owns and the
// copies it keeps of others; mu held.
func (n *Node) holdingsLocked() []Holding {
	hs := n.m.Holdings()
	for p, c := range n.copies {
		if !n.m.Owns(p) {
			hs = append(hs, Holding{Page: p, Kind: HoldCopy, Version: c.version})
		}
	}
	return hs
}

// install starts epoch with owners: promoted pages take their bytes from
// the copy kept here (zeros, the start content, if there is none), waiting
// accesses are served, asked again or failed, and messages held back for
// this epoch are stepped.
func (n *Node) install(epoch uint32, owners []NodeID) error {
	n.mu.Lock()
	promoted := func(p PageID) uint64 {
		c, ok := n.copies[p]
		if !ok {
			clear(n.store.Bytes(p))
			return 0
		}
		copy(n.store.Bytes(p), c.data)
		return c.version
	}
	if err := n.m.Install(epoch, func(p PageID) NodeID { return owners[p] }, promoted); err != nil {
		n.mu.Unlock()
		return err
	}
	for p, o := range owners {
		if o == n.cfg.Self {
			n.dropCopyLocked(PageID(p))
		}
	}
	n.members, n.nextMembers = n.nextMembers, nil
	for p := range n.waiters {
		switch {
		case n.m.Lost(p):
		case n.m.Owns(p):
			n.serveWaitersLocked(p)
		default:
			n.m.Access(p)
		}
	}
	n.failWaitersLocked(n.m.Lost, func(p PageID) error { return fmt.Errorf("page %d: %w", p, ErrPageLost) })
	rd := n.m.Ready()
	deferred := n.deferred
	n.deferred = nil
	resend := n.copiesToResendLocked(epoch)
	n.mu.Unlock()
	n.send(rd.Messages)
	n.sendCopies(resend)
	for _, msg := range deferred {
		if err := n.Receive(msg); err != nil {
			n.log.Warn("message held back for the new epoch", "msg", msg.String(), "err", err)
		}
	}
	n.log.Warn("recovered: new owner map installed", "epoch", epoch)
	return nil
}

// deferLocked drops msg if it is from an earlier epoch and holds it back
// for after Install if it is from one not installed here yet, and reports
// whether it did either; mu held.
func (n *Node) deferLocked(msg Message) bool {
	epoch, frozen := n.m.Epoch()
	switch {
	case msg.Epoch < epoch:
		n.stats.staleMessages.Add(1)
		return true
	case msg.Epoch > epoch || frozen:
		msg.Data = append([]byte(nil), msg.Data...)
		n.deferred = append(n.deferred, msg)
		return true
	}
	return false
}

// receiveRecovery handles the recovery messages.
func (n *Node) receiveRecovery(msg Message) error {
	switch msg.Type {
	case MsgRecoverQuery:
		return n.receiveQuery(msg)
	case MsgRecoverReply:
		return n.receiveReport(msg)
	case MsgRecoverInstall:
		owners, err := DecodeOwnerMap(msg.Data, n.cfg.Pages, n.cfg.Nodes)
		if err != nil {
			return err
		}
		n.mu.Lock()
		epoch, frozen := n.m.Epoch()
		n.mu.Unlock()
		if !frozen || epoch != msg.Epoch {
			return nil // superseded by a newer recovery
		}
		return n.install(msg.Epoch, owners)
	case MsgJoin:
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.members[msg.From] {
			return nil // another node's epoch took it in already
		}
		n.log.Info("restarted node asks to rejoin", "peer", msg.From)
		n.dead[msg.From] = false
		n.startRecoveryLocked()
	}
	return nil
}

// receiveQuery freezes this node into the epoch a coordinator starts, cuts
// the members it leaves out, and reports what this node holds.
func (n *Node) receiveQuery(msg Message) error {
	next, err := DecodeNodes(msg.Data, n.cfg.Nodes)
	if err != nil {
		return err
	}
	n.mu.Lock()
	if err := n.m.Freeze(msg.Epoch); err != nil {
		// The coordinator missed a newer epoch: an empty reply
		// stamped with ours tells it to try again above it.
		epoch, _ := n.m.Epoch()
		n.mu.Unlock()
		n.log.Info("stale recovery query", "from", msg.From, "err", err)
		return n.transport.Send(Message{Type: MsgRecoverReply, From: n.cfg.Self, To: msg.From, Epoch: epoch})
	}
	n.maxEpoch = max(n.maxEpoch, msg.Epoch)
	n.recovery = nil // a newer epoch than any this node coordinates
	n.nextMembers = make([]bool, n.cfg.Nodes)
	for _, id := range next {
		n.nextMembers[id], n.dead[id] = true, false
	}
	var out []NodeID
	for id := range NodeID(n.cfg.Nodes) {
		if n.members[id] && !n.nextMembers[id] {
			out = append(out, id)
			n.dead[id] = true
		}
	}
	report := EncodeHoldings(n.holdingsLocked())
	n.mu.Unlock()
	// Cut the nodes left out before answering, so that they lose their
	// quorum before the coordinator starts to wait for them to fence.
	for _, id := range out {
		n.transport.Disconnect(id)
	}
	return n.transport.Send(Message{Type: MsgRecoverReply, From: n.cfg.Self, To: msg.From, Epoch: msg.Epoch, Data: report})
}

// receiveReport takes a member's report for the recovery this node
// coordinates, or gives that recovery up for a newer epoch.
func (n *Node) receiveReport(msg Message) error {
	hs, err := DecodeHoldings(msg.Data, n.cfg.Pages)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	rec := n.recovery
	if rec != nil && msg.Epoch > rec.epoch {
		// A newer epoch than this one: give it up, and coordinate
		// again, above it, if this node still should.
		n.maxEpoch = max(n.maxEpoch, msg.Epoch)
		n.recovery, n.recoverAgain = nil, true
		if len(rec.waiting) > 0 { // else done is closed already
			clear(rec.waiting)
			close(rec.done)
		}
		return nil
	}
	if rec == nil || rec.epoch != msg.Epoch || !rec.waiting[msg.From] {
		return nil // for a recovery given up
	}
	rec.reports[msg.From] = hs
	delete(rec.waiting, msg.From)
	if len(rec.waiting) == 0 {
		close(rec.done)
	}
	return nil
}
