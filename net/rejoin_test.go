package net

import (
	"errors"
	"fmt"
	stdnet "net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// cluster is a cluster on loopback whose nodes share one view of the
// membership, which the test sets: who lives, and who may rejoin.
type cluster struct {
	t        *testing.T
	ls       []stdnet.Listener
	replicas int
	trs      []*TCP
	got      []chan owner.Message
	lost     []chan owner.NodeID

	mu        sync.Mutex
	live      []owner.NodeID        // guarded by mu
	canRejoin map[owner.NodeID]bool // guarded by mu
}

// newCluster joins and starts n nodes, all alive.
func newCluster(t *testing.T, n, replicas int) *cluster {
	return newClusterOn(t, listeners(t, n), replicas)
}

// newClusterOn is newCluster on the listeners ls.
func newClusterOn(t *testing.T, ls []stdnet.Listener, replicas int) *cluster {
	n := len(ls)
	c := &cluster{t: t, ls: ls, replicas: replicas,
		trs: make([]*TCP, n), got: make([]chan owner.Message, n), lost: make([]chan owner.NodeID, n)}
	var all []owner.NodeID
	for id := range owner.NodeID(n) {
		all = append(all, id)
	}
	c.setView(all, nil)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var err error
			c.trs[i], err = Join(t.Context(), c.config(i, 5*time.Second))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		c.start(i)
	}
	return c
}

func (c *cluster) config(i int, joinTimeout time.Duration) Config {
	cfg := config(c.ls, i)
	cfg.Hello.Replicas = c.replicas
	cfg.PeerTimeout = 5 * time.Second
	cfg.JoinTimeout = joinTimeout
	return cfg
}

// setView says which nodes live and which may rejoin.
func (c *cluster) setView(live, canRejoin []owner.NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.canRejoin = map[owner.NodeID]bool{}
	for _, id := range canRejoin {
		c.canRejoin[id] = true
	}
}

func (c *cluster) start(i int) {
	c.t.Cleanup(c.trs[i].Close)
	got, lost := make(chan owner.Message, 16), make(chan owner.NodeID, 16)
	c.got[i], c.lost[i] = got, lost
	c.trs[i].Start(Events{
		Deliver: func(m owner.Message) error { got <- m; return nil },
		Lost:    func(id owner.NodeID) { lost <- id },
		Fenced:  func(time.Duration) { c.t.Errorf("node %d fenced", i) },
		Live: func() []owner.NodeID {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.live
		},
		CanRejoin: func(id owner.NodeID) bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.canRejoin[id]
		},
	})
}

// kill closes node i's transport, as its process dying would, and waits
// for the nodes live to lose it.
func (c *cluster) kill(i int, live []owner.NodeID) {
	c.trs[i].Close()
	for _, id := range live {
		select {
		case lost := <-c.lost[id]:
			if lost != owner.NodeID(i) {
				c.t.Fatalf("node %d lost node %d, want %d", id, lost, i)
			}
		case <-time.After(5 * time.Second):
			c.t.Fatalf("node %d did not lose node %d", id, i)
		}
	}
}

// restart joins a fresh node i, on a new listener at its address.
func (c *cluster) restart(i int, joinTimeout time.Duration) (*TCP, error) {
	l, err := stdnet.Listen("tcp", c.ls[i].Addr().String())
	if err != nil {
		c.t.Fatal(err)
	}
	c.ls[i] = l
	tr, err := Join(c.t.Context(), c.config(i, joinTimeout))
	if err != nil {
		l.Close()
	}
	return tr, err
}

// exchange checks that messages flow both ways between node i and each of
// the nodes live.
func (c *cluster) exchange(i int, live []owner.NodeID) {
	receive := func(got chan owner.Message, typ owner.MsgType, from owner.NodeID) {
		select {
		case m := <-got:
			if m.Type != typ || m.From != from {
				c.t.Fatalf("got %v, want a %v from node %d", m, typ, from)
			}
		case <-time.After(5 * time.Second):
			c.t.Fatalf("no %v from node %d", typ, from)
		}
	}
	for _, id := range live {
		if id == owner.NodeID(i) {
			continue
		}
		if err := c.trs[i].Send(owner.Message{Type: owner.MsgJoin, To: id}); err != nil {
			c.t.Fatal(err)
		}
		receive(c.got[id], owner.MsgJoin, owner.NodeID(i))
		// The peer takes the connection once its side of the handshake
		// is over, which may be just after Join returns here.
		waitFor(c.t, fmt.Sprintf("node %d sending to node %d", id, i), func() bool {
			return c.trs[id].Send(owner.Message{Type: owner.MsgRequest, To: owner.NodeID(i)}) == nil
		})
		receive(c.got[i], owner.MsgRequest, id)
	}
}

// TestRejoin: members killed, once the cluster has recovered from their
// death, restart one after the other: each joins the members alive only,
// says so in Rejoined, and then talks with each of them both ways.
func TestRejoin(t *testing.T) {
	for _, tc := range []struct {
		kill, restart []int
	}{
		{kill: []int{0}, restart: []int{0}},       // it dials the others
		{kill: []int{1}, restart: []int{1}},       // it dials node 2, node 0 redials it
		{kill: []int{2}, restart: []int{2}},       // the others redial it
		{kill: []int{0, 2}, restart: []int{2, 0}}, // node 0 dead while node 2 rejoins
	} {
		t.Run(fmt.Sprintf("kill %v restart %v", tc.kill, tc.restart), func(t *testing.T) {
			c := newCluster(t, 3, 1)
			live := []owner.NodeID{0, 1, 2}
			for _, i := range tc.kill {
				live = slices.DeleteFunc(live, func(id owner.NodeID) bool { return id == owner.NodeID(i) })
				c.kill(i, live)
			}
			for n, i := range tc.restart {
				var rejoinable []owner.NodeID
				for _, d := range tc.restart[n:] {
					rejoinable = append(rejoinable, owner.NodeID(d))
				}
				c.setView(slices.Clone(live), rejoinable) // the cluster has recovered from the deaths
				tr, err := c.restart(i, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				live = append(live, owner.NodeID(i))
				slices.Sort(live)
				if got := tr.Rejoined(); !slices.Equal(got, live) {
					t.Fatalf("node %d rejoined %v, want %v", i, got, live)
				}
				c.trs[i] = tr
				c.start(i)
				c.exchange(i, live)
			}
			for _, id := range live {
				select {
				case lost := <-c.lost[id]:
					t.Errorf("node %d lost node %d", id, lost)
				default:
				}
			}
		})
	}
}

// TestRejoinWithoutReplicas: a cluster without --replicas cannot take a
// restarted node back; the node's Join says so at once.
func TestRejoinWithoutReplicas(t *testing.T) {
	c := newCluster(t, 3, 0)
	c.kill(2, []owner.NodeID{0, 1})
	c.setView([]owner.NodeID{0, 1}, []owner.NodeID{2})
	start := time.Now()
	_, err := c.restart(2, 10*time.Second)
	var mismatch *MismatchError
	if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), "running cluster without --replicas") {
		t.Fatalf("got %v, want a MismatchError about --replicas", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Join failed after %v", took)
	}
}

// TestRejoinWithoutReplicasToldByDial: a restarted node waiting to be
// dialed, in a cluster without --replicas whose nodes (rightly) let
// nobody rejoin, is still dialed once: the handshake tells it that the
// cluster runs, and its Join fails with a MismatchError, not with a join
// timeout that blames the dialers.
func TestRejoinWithoutReplicasToldByDial(t *testing.T) {
	c := newCluster(t, 3, 0)
	c.kill(2, []owner.NodeID{0, 1})
	c.setView([]owner.NodeID{0, 1}, nil)
	_, err := c.restart(2, time.Minute)
	var mismatch *MismatchError
	if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), "restart every node") {
		t.Fatalf("got %v, want a MismatchError saying to restart every node", err)
	}
}

// TestNotDialedSaysWhatToDo: a node whose lower-numbered peer never dials
// is told what that means with and without --replicas.
func TestNotDialedSaysWhatToDo(t *testing.T) {
	for replicas, want := range map[int]string{0: "stop every node and start them all again", 1: "once it has recovered from this node's death"} {
		ls := listeners(t, 2)
		defer ls[0].Close()
		cfg := config(ls, 1)
		cfg.Hello.Replicas, cfg.JoinTimeout = replicas, 200*time.Millisecond
		_, err := Join(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("replicas %d: got %v, want an error saying %q", replicas, err, want)
		}
	}
}

// TestRejoinStillMember: a restarted node that the cluster still counts as
// a member, dead or not (its death not yet recovered), is refused, and its
// Join tries until its timeout.
func TestRejoinStillMember(t *testing.T) {
	c := newCluster(t, 3, 1)
	c.kill(0, []owner.NodeID{1, 2})
	c.setView([]owner.NodeID{1, 2}, nil) // known dead, not recovered
	start := time.Now()
	_, err := c.restart(0, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not recovered from its death") {
		t.Fatalf("got %v, want an error saying the cluster has not recovered", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("Join gave up after %v, before its timeout", took)
	}
	for _, id := range []int{1, 2} {
		if heard := c.trs[id].LastHeard(0); !heard.IsZero() {
			t.Errorf("node %d has a connection to node 0 (last heard at %v)", id, heard)
		}
	}
}
