package owner

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Syncs, the driver's side of copies (copies.go): msync and fsync send
// every page written here since its last copy to Replicas peers and wait
// until they keep it.

// ErrTooFewReplicas is Sync's answer when fewer live peers remain than
// copies are wanted.
var ErrTooFewReplicas = errors.New("too few live peers to keep the copies")

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

// wroteLocked notes that page p changed here since its last copy; mu held.
func (n *Node) wroteLocked(p PageID) {
	if n.cfg.Replicas > 0 {
		n.dirty[p] = true
	}
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
	targets := n.m.CopyTargets()
	if len(targets) < n.cfg.Replicas {
		n.mu.Unlock()
		return fmt.Errorf("%w: %d of %d", ErrTooFewReplicas, len(targets), n.cfg.Replicas)
	}
	call := &syncCall{done: make(chan error, 1)}
	epoch, _ := n.m.Epoch()
	var msgs []Message
	for p := range n.dirty {
		delete(n.dirty, p)
		version, owned, ok := n.m.Sync(p)
		if !ok {
			continue // none: a page leaves only with its copy kept here
		}
		data := n.copies.Copy(p)
		if owned {
			data = n.store.Bytes(p)
		}
		data = slices.Clone(data) // sent after mu is released
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

// ackCopy counts an acknowledged copy for the syncs waiting for it.
func (n *Node) ackCopy(msg Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
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
