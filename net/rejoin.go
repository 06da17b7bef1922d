package net

import (
	"context"
	"errors"
	"fmt"
	"maps"
	stdnet "net"
	"slices"
	"sync"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// Rejoin: a member restarted after a crash, a fence or a leave comes back
// into a running cluster that keeps replicas, holding no pages. During its
// Join it learns from its peers' Hellos that the cluster runs and which
// members live, and connects to those only; the running members take its
// connections in after Start (acceptLateComers, and redial for the ones it
// waits for us to dial), once the node says it may rejoin.

// rejoin notes that the cluster runs with the members live names alive:
// only those are to be connected, the others are dead. It drops the
// connections made to any other, and returns the peers to connect to.
func (t *TCP) rejoin(live []string) map[owner.NodeID]bool {
	t.log.Info("rejoining a running cluster, holding no pages", "live", live)
	want := map[owner.NodeID]bool{t.cfg.Self: true}
	for _, name := range live {
		if id, ok := t.memberID(name); ok {
			want[id] = true
		}
	}
	t.rejoined = slices.Sorted(maps.Keys(want))
	delete(want, t.cfg.Self)
	for id := range t.conns {
		if c := t.conns[id].Load(); c != nil && !want[owner.NodeID(id)] {
			c.c.Close()
			t.conns[id].Store(nil)
		}
	}
	return want
}

// connected says whether every peer in want is connected.
func (t *TCP) connected(want map[owner.NodeID]bool) bool {
	for id := range want {
		if t.conns[id].Load() == nil {
			return false
		}
	}
	return true
}

// Rejoined is nil if Join started the cluster afresh. If Join found it
// running (this process restarts a member that died), it is the members
// alive then, ourselves included, sorted; the others, dead, have no
// connection until they restart too.
func (t *TCP) Rejoined() []owner.NodeID { return slices.Clone(t.rejoined) }

// errNotRecovered: the running cluster still counts this restarted node
// as a member, alive; it must recover from its death first.
var errNotRecovered = errors.New("the cluster still counts this node as a member: it has not recovered from its death yet")

// checkRunning checks, during Join, a peer's Hello that lists live members:
// the peer belongs to a running cluster, which this fresh process may
// rejoin only if it keeps replicas, and once it no longer counts us alive.
func (t *TCP) checkRunning(peer Hello) error {
	switch {
	case len(peer.Live) == 0:
		return nil
	case peer.Replicas == 0:
		return &MismatchError{fmt.Sprintf("peer %s belongs to a running cluster without --replicas: a restarted node cannot rejoin it; restart every node", peer.Name)}
	case slices.Contains(peer.Live, t.cfg.Hello.Name):
		t.waiting.Do(func() { t.log.Info("waiting for the cluster to recover from this node's death", "peer", peer.Name) })
		return errNotRecovered
	}
	return nil
}

// acceptLateComers answers connections after Start: a restarted member may
// take its empty place again; strangers, garbage and members the cluster
// still counts as members are refused. We read the caller's Hello before
// we answer, so that ours tells a restarted member refused for now to wait
// (see checkRunning), and one we take that it is in: it cannot tell a
// refusal from a closed connection once the handshake is over.
func (t *TCP) acceptLateComers(ev Events) {
	t.acceptLoop(t.ctx.Done(), func(c stdnet.Conn) {
		var refused error
		hello, err := t.accepted(t.ctx, c, func(peer Hello) []string {
			var wait bool
			wait, refused = t.refusal(peer, ev)
			return t.liveFor(peer.Name, wait, ev)
		})
		if err == nil {
			err = refused
		}
		if err == nil {
			err = t.admit(c, hello, ev)
		}
		if err != nil {
			t.refuse(c, hello.Name, err)
		}
	})
}

// redial connects again, every redialInterval until Close, to the members
// this node dials (those numbered above it) that have no connection and
// may rejoin: restarted, they wait in Join for us to dial. Without
// replicas none may, but one that went is dialed until a handshake tells
// it so, and it stops at once instead of at the end of its join timeout.
func (t *TCP) redial(ev Events) {
	tick := time.NewTicker(redialInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		var tries sync.WaitGroup
		for id := t.cfg.Self + 1; int(id) < len(t.conns); id++ {
			if t.conns[id].Load() == nil && (ev.CanRejoin(id) || t.untold[id].Load()) {
				tries.Go(func() { t.redialOnce(id, ev) })
			}
		}
		tries.Wait()
	}
}

// redialOnce tries once to connect to member id.
func (t *TCP) redialOnce(id owner.NodeID, ev Events) {
	addr := t.cfg.Hello.Members[id]
	ctx, cancel := context.WithTimeout(t.ctx, redialTimeout)
	defer cancel()
	c, err := t.connect(ctx, addr)
	if err != nil {
		return // it is not back
	}
	hello, err := t.handshake(t.ctx, c, addr, t.liveFor(addr, false, ev), nil)
	if err == nil {
		t.untold[id].Store(false) // our Hello told it the cluster runs
	}
	if err == nil {
		_, err = t.refusal(hello, ev)
	}
	if err == nil {
		err = t.admit(c, hello, ev)
	}
	if err != nil {
		t.refuse(c, addr, err)
	}
}

// refuse closes a connection made after Start, saying why unless we are
// closing (which is why then): a refusal of an untrusted peer is counted.
func (t *TCP) refuse(c stdnet.Conn, name string, err error) {
	c.Close()
	var r *refusal
	switch {
	case t.closed.Load():
	case errors.As(err, &r) || name == "":
		t.refused.note(c.RemoteAddr(), asRefusal(err))
	default:
		t.refused.log.warn("refusing peer", "peer", name, "remote", c.RemoteAddr().String(), "reason", err)
	}
}

// refusal says why a peer that connected after Start, saying hello, may
// not take the place of a restarted member (nil if it may), and whether it
// may later, as a restarted member the cluster still counts as a member.
func (t *TCP) refusal(hello Hello, ev Events) (wait bool, err error) {
	id, ok := t.memberID(hello.Name)
	switch {
	case !ok || id == t.cfg.Self:
		return false, errors.New("it is not another member")
	case t.cfg.Hello.Replicas == 0:
		return false, errors.New("this cluster runs without --replicas, a restarted node cannot rejoin")
	case len(hello.Live) > 0:
		return false, errors.New("it is not a restarted node: its Hello lists live members")
	case !ev.CanRejoin(id):
		return true, errors.New("it is still a member (its death is not recovered yet)")
	case t.conns[id].Load() != nil:
		return true, errors.New("its old connection has not ended yet")
	}
	return false, nil
}

// admit takes a connection made after Start from a restarted member, which
// refusal let in, into its empty place, and starts reading it.
func (t *TCP) admit(c stdnet.Conn, hello Hello, ev Events) error {
	id, _ := t.memberID(hello.Name)
	cn := t.newConn(id, c)
	if !t.conns[id].CompareAndSwap(nil, cn) {
		return errors.New("another connection from it came first")
	}
	if t.closed.Load() {
		c.Close() // Close may have missed it; the read loop ends at once
	}
	t.log.Info("restarted peer connected", "peer", cn.name)
	go t.readLoop(cn, ev)
	return nil
}

// liveFor is our Hello's Live after Start, for the peer called name: the
// members alive, the peer among them if and only if it must wait. So a
// restarted member knows whether we take it, whatever the node counts
// alive.
func (t *TCP) liveFor(name string, wait bool, ev Events) []string {
	var live []string
	for _, id := range ev.Live() {
		if n := t.cfg.Hello.Members[id]; n != name {
			live = append(live, n)
		}
	}
	if wait {
		live = append(live, name)
	}
	return live
}
