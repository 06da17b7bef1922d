package net

import (
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// TestInmemDisconnect: after Disconnect the pair cannot talk either way,
// Heal does not undo it, messages on their way are dropped, and both still
// talk to others.
func TestInmemDisconnect(t *testing.T) {
	nw := NewInmem(3, 1)
	got := make(chan owner.Message, 16)
	for id := range owner.NodeID(3) {
		nw.Attach(id, func(m owner.Message) error { got <- m; return nil })
	}
	nw.SetDelay(100 * time.Millisecond) // with seed 1, the first five delays are over 10ms
	e0, e1 := nw.Transport(0), nw.Transport(1)
	for range 5 {
		if err := e0.Send(owner.Message{Type: owner.MsgRequest, To: 1}); err != nil {
			t.Fatal(err)
		}
	}
	e0.Disconnect(1)
	nw.Heal()
	if err := e0.Send(owner.Message{Type: owner.MsgRequest, To: 1}); err == nil {
		t.Error("0 sent to 1 after Disconnect")
	}
	if err := e1.Send(owner.Message{Type: owner.MsgRequest, To: 0}); err == nil {
		t.Error("1 sent to 0 after Disconnect")
	}
	for _, e := range []owner.Transport{e0, e1} {
		if err := e.Send(owner.Message{Type: owner.MsgRequest, To: 2}); err != nil {
			t.Error(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // past every delay
	var to2 int
	for len(got) > 0 {
		m := <-got
		if m.To != 2 {
			t.Errorf("delivered %v after Disconnect", m)
			continue
		}
		to2++
	}
	if to2 != 2 {
		t.Errorf("delivered %d messages to node 2, want 2", to2)
	}
}
