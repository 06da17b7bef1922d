package net

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// The transport contract of owner.Transport, held to both transports by the
// same cases: delivery, per-peer order, Disconnect, a dead peer, and a peer
// that stops reading.

// contractNet is three nodes connected by one kind of transport.
type contractNet struct {
	ends []owner.Transport
	got  []chan owner.Message // by node: what was delivered to it
	lost []chan owner.NodeID  // by node: the peers it was told it lost
	// deliver, if set for a node, runs before a delivery to it: a test
	// can make a node stop reading.
	mu      sync.Mutex
	deliver []func(owner.Message)
	// stop ends a node as a crash would: its connections close.
	stop func(owner.NodeID)
}

const contractNodes = 3

func newContractNet() *contractNet {
	n := &contractNet{deliver: make([]func(owner.Message), contractNodes)}
	for range contractNodes {
		n.got = append(n.got, make(chan owner.Message, 1024))
		n.lost = append(n.lost, make(chan owner.NodeID, contractNodes))
	}
	return n
}

func (n *contractNet) deliverTo(id owner.NodeID) func(owner.Message) error {
	return func(m owner.Message) error {
		n.mu.Lock()
		before := n.deliver[id]
		n.mu.Unlock()
		if before != nil {
			before(m)
		}
		m.Data = append([]byte(nil), m.Data...) // valid only during the call
		n.got[id] <- m
		return nil
	}
}

func (n *contractNet) lostTo(id owner.NodeID) func(owner.NodeID) {
	return func(peer owner.NodeID) { n.lost[id] <- peer }
}

func inmemContractNet(t *testing.T) *contractNet {
	n := newContractNet()
	nw := NewInmem(contractNodes, 1)
	nw.SetDelay(2 * time.Millisecond) // reorders what different pairs send
	for id := range owner.NodeID(contractNodes) {
		nw.Attach(id, n.deliverTo(id), n.lostTo(id))
		n.ends = append(n.ends, nw.Transport(id))
	}
	n.stop = nw.Stop
	return n
}

func tcpContractNet(t *testing.T) *contractNet {
	n := newContractNet()
	ls := listeners(t, contractNodes)
	ts := make([]*TCP, contractNodes)
	var wg sync.WaitGroup
	for i := range contractNodes {
		wg.Go(func() {
			tr, err := Join(context.Background(), config(ls, i))
			if err != nil {
				t.Error(err)
				return
			}
			ts[i] = tr
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	all := []owner.NodeID{0, 1, 2}
	for i, tr := range ts {
		t.Cleanup(tr.Close)
		id := owner.NodeID(i)
		tr.Start(Events{
			Deliver:   n.deliverTo(id),
			Lost:      n.lostTo(id),
			Live:      func() []owner.NodeID { return all },
			CanRejoin: func(owner.NodeID) bool { return false },
		})
		n.ends = append(n.ends, tr)
	}
	n.stop = func(id owner.NodeID) { ts[id].Close() }
	return n
}

// contractCases runs every case over both transports, each case on a
// fresh network.
func contractCases(t *testing.T, cases map[string]func(*testing.T, *contractNet)) {
	for kind, make := range map[string]func(*testing.T) *contractNet{"inmem": inmemContractNet, "tcp": tcpContractNet} {
		for name, run := range cases {
			t.Run(kind+"/"+name, func(t *testing.T) { run(t, make(t)) })
		}
	}
}

func (n *contractNet) next(t *testing.T, id owner.NodeID) owner.Message {
	t.Helper()
	select {
	case m := <-n.got[id]:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("node %d: nothing delivered", id)
		return owner.Message{}
	}
}

func (n *contractNet) nextLost(t *testing.T, id owner.NodeID) owner.NodeID {
	t.Helper()
	select {
	case peer := <-n.lost[id]:
		return peer
	case <-time.After(5 * time.Second):
		t.Fatalf("node %d: no peer reported lost", id)
		return owner.None
	}
}

func TestTransportContract(t *testing.T) {
	contractCases(t, map[string]func(*testing.T, *contractNet){
		"delivery":   contractDelivery,
		"order":      contractOrder,
		"disconnect": contractDisconnect,
		"dead-peer":  contractDeadPeer,
		"stuck-peer": contractStuckPeer,
	})
}

// contractDelivery: a message arrives whole, From set by the transport
// whatever the sender claims, and the sender may reuse Data at once.
func contractDelivery(t *testing.T, n *contractNet) {
	data := bytes.Repeat([]byte{7}, 4096)
	sent := owner.Message{Type: owner.MsgPage, From: 2, To: 1, Page: 5, Requester: 1, Epoch: 3, Version: 9, Data: data}
	if err := n.ends[0].Send(sent); err != nil {
		t.Fatal(err)
	}
	clear(data)
	got := n.next(t, 1)
	sent.From, sent.Data = 0, bytes.Repeat([]byte{7}, 4096)
	if fmt.Sprint(got) != fmt.Sprint(sent) || !bytes.Equal(got.Data, sent.Data) {
		t.Fatalf("delivered %v, want %v (and the bytes sent)", got, sent)
	}
}

// contractOrder: what one node sends another arrives in the order sent;
// two senders' messages interleave, each in its own order.
func contractOrder(t *testing.T, n *contractNet) {
	const each = 300
	for _, from := range []owner.NodeID{0, 2} {
		go func() {
			for i := range each {
				if err := n.ends[from].Send(owner.Message{Type: owner.MsgRequest, To: 1, Page: owner.PageID(i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	next := map[owner.NodeID]owner.PageID{}
	for range 2 * each {
		m := n.next(t, 1)
		if m.Page != next[m.From] {
			t.Fatalf("from node %d: message %d arrived when %d was due", m.From, m.Page, next[m.From])
		}
		next[m.From]++
	}
}

// contractDisconnect: after Disconnect neither side can send to the other,
// both are told the other is lost, after the last message delivered from
// it, and both still talk to the third node.
func contractDisconnect(t *testing.T, n *contractNet) {
	n.ends[0].Disconnect(1)
	if err := n.ends[0].Send(owner.Message{Type: owner.MsgRequest, To: 1}); err == nil {
		t.Error("node 0 sent to node 1 after disconnecting it")
	}
	if peer := n.nextLost(t, 0); peer != 1 {
		t.Errorf("node 0 lost node %d, want 1", peer)
	}
	if peer := n.nextLost(t, 1); peer != 0 {
		t.Errorf("node 1 lost node %d, want 0", peer)
	}
	if err := n.ends[1].Send(owner.Message{Type: owner.MsgRequest, To: 0}); err == nil {
		t.Error("node 1 sent to node 0 after it was told node 0 is lost")
	}
	for _, from := range []owner.NodeID{0, 1} {
		if err := n.ends[from].Send(owner.Message{Type: owner.MsgRequest, To: 2}); err != nil {
			t.Fatal(err)
		}
		if m := n.next(t, 2); m.From != from {
			t.Fatalf("node 2 got %v, want a message from node %d", m, from)
		}
	}
	select {
	case m := <-n.got[0]:
		t.Errorf("node 0 got %v from a disconnected node", m)
	case m := <-n.got[1]:
		t.Errorf("node 1 got %v from a disconnected node", m)
	default:
	}
}

// contractDeadPeer: a node that dies is reported lost to the others, and
// sends to it fail from then on.
func contractDeadPeer(t *testing.T, n *contractNet) {
	n.stop(2)
	for _, id := range []owner.NodeID{0, 1} {
		if peer := n.nextLost(t, id); peer != 2 {
			t.Fatalf("node %d lost node %d, want 2", id, peer)
		}
		if err := n.ends[id].Send(owner.Message{Type: owner.MsgRequest, To: 2}); err == nil {
			t.Errorf("node %d sent to the dead node 2", id)
		}
	}
}

// contractStuckPeer: a node that stops reading holds up no sender. Its
// senders go on at once, with everything sent to it queued, and their
// messages to other nodes arrive.
func contractStuckPeer(t *testing.T, n *contractNet) {
	release := make(chan struct{})
	n.mu.Lock()
	n.deliver[1] = func(owner.Message) { <-release }
	n.mu.Unlock()
	defer close(release)
	page := make([]byte, 4096)
	done := make(chan error, 1)
	go func() {
		// More than the loopback socket buffers of both ends hold.
		for i := range 4 << 10 {
			if err := n.ends[0].Send(owner.Message{Type: owner.MsgPage, To: 1, Page: owner.PageID(i), Data: page}); err != nil {
				done <- err
				return
			}
		}
		done <- n.ends[0].Send(owner.Message{Type: owner.MsgRequest, To: 2, Page: 1})
	}()
	if m := n.next(t, 2); m.From != 0 || m.Page != 1 {
		t.Fatalf("node 2 got %v", m)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after a few seconds
// with what it waited for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
