package owner

import (
	"errors"
	"fmt"
	"time"
)

// Copies of pages (replicas), kept so that a page outlives its owner. With
// NodeConfig.Replicas R > 0, a node that hands a page on keeps a copy of
// exactly what it sent, and Sync sends every page written here since its
// last copy to R peers and waits until they keep it. Recovery (recovery.go)
// gives a dead node's pages to whoever keeps the newest copy.

// ErrTooFewReplicas is Sync's answer when fewer live peers remain than
// copies are wanted.
var ErrTooFewReplicas = errors.New("too few live peers to keep the copies")

// pageCopy is a copy of a page kept here for a peer.
type pageCopy struct {
	version uint64
	data    []byte
}

// syncCall is one Sync waiting for its copies to be acknowledged.
type syncCall struct {
	pending int
	done    chan error // gets one value: nil when all are kept, or why not
	pages   []PageID   // to mark written again if it fails
}

// copyWait is a copy of one page to one peer that a syncCall waits for.
type copyWait struct {
	call *syncCall
	msg  Message // the copy, to send again in a new epoch
}

// copyKey names a copy of page on peer.
type copyKey struct {
	page PageID
	peer NodeID
}

// keepCopyLocked keeps the bytes of page p at version, unless a newer copy
// is here already; mu held.
func (n *Node) keepCopyLocked(p PageID, version uint64, data []byte) {
	c, ok := n.copies[p]
	if ok && c.version >= version {
		return
	}
	if c.data == nil {
		c.data = n.copyBufferLocked()
	}
	copy(c.data, data)
	c.version = version
	n.copies[p] = c
}

// dropCopyLocked forgets the copy of page p, if any, keeping its buffer
// for the next copy: a page going back and forth is copied at every
// hand-off, and allocating each time costs more than the copy; mu held.
func (n *Node) dropCopyLocked(p PageID) {
	if c, ok := n.copies[p]; ok {
		n.spareCopies = append(n.spareCopies, c.data)
		delete(n.copies, p)
	}
}

// copyBufferLocked is a page-sized buffer for a copy; mu held.
func (n *Node) copyBufferLocked() []byte {
	if k := len(n.spareCopies); k > 0 {
		b := n.spareCopies[k-1]
		n.spareCopies = n.spareCopies[:k-1]
		return b
	}
	return make([]byte, n.cfg.PageSize)
}

// handOffCopiesLocked keeps a copy of a page being handed on, in the same
// step as the machine lets it go, so that a recovery report never misses
// it: if the hand-off dies on the wire, this copy is the page. With more
// than one replica it also returns copies for Replicas-1 more peers, none
// of which waits for an acknowledgement; mu held.
func (n *Node) handOffCopiesLocked(handOff Message) []Message {
	data := n.store.Bytes(handOff.Page)
	n.keepCopyLocked(handOff.Page, handOff.Version, data)
	var out []Message
	for _, to := range n.copyTargetsLocked() {
		if to == handOff.To || len(out) == n.cfg.Replicas-1 {
			continue
		}
		if out == nil {
			data = append([]byte(nil), data...) // sent after mu is released
		}
		out = append(out, Message{Type: MsgReplica, From: n.cfg.Self, To: to, Page: handOff.Page, Epoch: handOff.Epoch, Version: handOff.Version, Data: data})
	}
	return out
}

// wroteLocked notes that page p changed here since its last copy; mu held.
func (n *Node) wroteLocked(p PageID) {
	if n.cfg.Replicas > 0 {
		n.dirty[p] = true
	}
}

// copyTargetsLocked are the peers that keep the copies this node makes: the
// next Replicas live members after it, in NodeID order round the ring (one
// more for a hand-off, whose receiver is skipped); mu held.
func (n *Node) copyTargetsLocked() []NodeID {
	var out []NodeID
	for i := 1; i < n.cfg.Nodes && len(out) <= n.cfg.Replicas; i++ {
		if id := NodeID((int(n.cfg.Self) + i) % n.cfg.Nodes); !n.dead[id] {
			out = append(out, id)
		}
	}
	return out
}

// Sync returns once every page written here since its last copy is kept by
// Replicas peers (msync and fsync): at the version it has now, or, for a
// page handed on since, at the version it left with. Like a fault, it is
// not interrupted by signals (Go programs get one at every preemption, and
// few programs retry an msync that failed with EINTR): it ends when the
// copies are kept, a peer they wait for is lost, or Timeout passes.
func (n *Node) Sync() error {
	if n.cfg.Replicas == 0 {
		return nil
	}
	n.mu.Lock()
	targets := n.copyTargetsLocked()
	targets = targets[:min(len(targets), n.cfg.Replicas)]
	if len(targets) < n.cfg.Replicas {
		n.mu.Unlock()
		return fmt.Errorf("%w: %d of %d", ErrTooFewReplicas, len(targets), n.cfg.Replicas)
	}
	call := &syncCall{done: make(chan error, 1)}
	epoch, _ := n.m.Epoch()
	var msgs []Message
	for p := range n.dirty {
		delete(n.dirty, p)
		var version uint64
		var data []byte
		if v, ok := n.m.Sync(p); ok {
			version, data = v, append([]byte(nil), n.store.Bytes(p)...)
		} else if c, ok := n.copies[p]; ok {
			// Handed on since it was written: what it carried is the
			// copy kept here, which must not die with this node
			// while the hand-off may still be on the wire.
			version, data = c.version, append([]byte(nil), c.data...)
		} else {
			continue // none: a page leaves only with its copy kept here
		}
		call.pages = append(call.pages, p)
		for _, to := range targets {
			msg := Message{Type: MsgReplica, From: n.cfg.Self, To: to, Page: p, Epoch: epoch, Version: version, Data: data}
			msgs = append(msgs, msg)
			k := copyKey{p, to}
			n.copyWaits[k] = append(n.copyWaits[k], copyWait{call, msg})
			call.pending++
		}
	}
	n.mu.Unlock()
	if call.pending == 0 {
		return nil
	}
	n.sendCopies(msgs)
	n.stats.syncs.Add(1)
	err := n.waitSync(call)
	if err != nil {
		// The pages are not safe yet: the next sync copies them again.
		n.mu.Lock()
		for _, p := range call.pages {
			n.wroteLocked(p)
		}
		n.mu.Unlock()
	}
	return err
}

// waitSync waits until call's copies are acknowledged, or fails it.
func (n *Node) waitSync(call *syncCall) error {
	timer := time.NewTimer(n.cfg.Timeout)
	defer timer.Stop()
	select {
	case err := <-call.done:
		return err
	case <-timer.C:
		err := fmt.Errorf("copies not acknowledged after %v", n.cfg.Timeout)
		n.failCopyWaits(func(_ copyKey, c *syncCall) bool { return c == call }, err)
		return <-call.done
	}
}

// sendCopies sends copies syncs wait for; a copy that cannot go fails the
// syncs waiting on its peer.
func (n *Node) sendCopies(msgs []Message) {
	for _, msg := range msgs {
		if err := n.transport.Send(msg); err != nil {
			n.failCopyWaits(func(k copyKey, _ *syncCall) bool { return k.peer == msg.To }, err)
		}
	}
}

// copiesToResendLocked are the copies syncs still wait for, stamped with
// epoch, just installed: their receivers drop them as from an earlier
// epoch, so they must go again; mu held.
func (n *Node) copiesToResendLocked(epoch uint32) []Message {
	var out []Message
	for _, ws := range n.copyWaits {
		for _, w := range ws {
			if w.call.pending > 0 && w.msg.Epoch < epoch {
				w.msg.Epoch = epoch
				out = append(out, w.msg)
			}
		}
	}
	return out
}

// failCopyWaits ends the syncs waiting for the matching copies with err.
func (n *Node) failCopyWaits(match func(copyKey, *syncCall) bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, ws := range n.copyWaits {
		kept := ws[:0]
		for _, w := range ws {
			switch {
			case !match(k, w.call):
				kept = append(kept, w)
			case w.call.pending > 0:
				w.call.pending = 0
				w.call.done <- err
			}
		}
		if len(kept) == 0 {
			delete(n.copyWaits, k)
		} else {
			n.copyWaits[k] = kept
		}
	}
}

// receiveReplica keeps a copy a peer sent, and acknowledges it; or notes
// that a copy is kept.
func (n *Node) receiveReplica(msg Message) error {
	if int(msg.Page) >= n.cfg.Pages {
		return fmt.Errorf("%v: no such page", msg)
	}
	n.mu.Lock()
	if msg.Type == MsgReplicaAck {
		n.ackCopyLocked(msg)
		n.mu.Unlock()
		return nil
	}
	if len(msg.Data) != n.cfg.PageSize {
		n.mu.Unlock()
		return fmt.Errorf("%v: carries %d bytes, a page has %d", msg, len(msg.Data), n.cfg.PageSize)
	}
	if later := n.deferLocked(msg); later {
		n.mu.Unlock()
		return nil
	}
	if !n.m.Owns(msg.Page) { // an owner has a newer version than any copy
		n.keepCopyLocked(msg.Page, msg.Version, msg.Data)
	}
	n.mu.Unlock()
	return n.transport.Send(Message{Type: MsgReplicaAck, From: n.cfg.Self, To: msg.From, Page: msg.Page, Epoch: msg.Epoch, Version: msg.Version})
}

// ackCopyLocked counts an acknowledged copy for the syncs waiting for it;
// mu held.
func (n *Node) ackCopyLocked(msg Message) {
	k := copyKey{msg.Page, msg.From}
	ws := n.copyWaits[k][:0]
	for _, w := range n.copyWaits[k] {
		switch {
		case w.msg.Version > msg.Version:
			ws = append(ws, w)
		case w.call.pending > 0:
			if w.call.pending--; w.call.pending == 0 {
				w.call.done <- nil
			}
		}
	}
	if len(ws) == 0 {
		delete(n.copyWaits, k)
	} else {
		n.copyWaits[k] = ws
	}
}
