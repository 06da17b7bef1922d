package net

import (
	"bytes"
	"testing"

	"github.com/dsmfs/dsmfs/owner"
)

func TestCodecRoundTrip(t *testing.T) {
	page := bytes.Repeat([]byte{0xab}, 4096)
	msgs := []owner.Message{
		{Type: owner.MsgRequest, Page: 7, Requester: 3},
		{Type: owner.MsgPage, Page: 1 << 30, Requester: 2, Data: page},
		{Type: owner.MsgOwnersReply, Page: 9, Data: owner.EncodeHints([]owner.Run{{First: 1, Last: 5, Owner: 1}})},
	}
	var wire bytes.Buffer
	for _, m := range msgs {
		buf := make([]byte, headerSize+len(m.Data))
		wire.Write(encodeMessage(buf, m))
	}
	dec := newDecoder(&wire, 1, 4096, 1<<31)
	for _, want := range msgs {
		got, err := dec.next()
		if err != nil {
			t.Fatal(err)
		}
		want.From = 1 // the connection's peer, never the wire's
		if got.Type != want.Type || got.Page != want.Page || got.Requester != want.Requester || got.From != want.From || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("got %v (%d bytes), want %v (%d bytes)", got, len(got.Data), want, len(want.Data))
		}
	}
}

// TestDecoderRefusesBadFrames: a wrong length or type ends the connection
// with an error, never a panic or a huge allocation.
func TestDecoderRefusesBadFrames(t *testing.T) {
	for name, h := range map[string]header{
		"page too short":    {typ: uint8(owner.MsgPage), length: 100},
		"request with data": {typ: uint8(owner.MsgRequest), length: 8},
		"unknown type":      {typ: 0x77},
		"huge reply":        {typ: uint8(owner.MsgOwnersReply), length: 1 << 31},
	} {
		frame := make([]byte, headerSize)
		putHeader(frame, h)
		if _, err := newDecoder(bytes.NewReader(frame), 1, 4096, 16).next(); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestHelloMismatch(t *testing.T) {
	ours := Hello{Version: 1, Name: "a:1", PageSize: 4096, Pages: 1000, Block: 1, Members: []string{"a:1", "b:1"}}
	for want, change := range map[string]func(*Hello){
		"speaks protocol version 2, we speak 1":   func(h *Hello) { h.Version = 2 },
		"has page size 8192, we have 4096":        func(h *Hello) { h.PageSize = 8192 },
		"has 2000 pages, we have 1000":            func(h *Hello) { h.Pages = 2000 },
		"migrates blocks of 16 pages, we migrate": func(h *Hello) { h.Block = 16 },
		"only it list [c:1]":                      func(h *Hello) { h.Members = []string{"a:1", "b:1", "c:1"} },
	} {
		peer := ours
		peer.Name = "b:1"
		change(&peer)
		err := ours.check(peer)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) || !bytes.Contains([]byte(err.Error()), []byte("peer b:1")) {
			t.Errorf("want an error naming peer b:1 and %q, got %v", want, err)
		}
	}
}

// FuzzDecoder: whatever a peer sends, decoding returns messages or an
// error; it never panics. Seeds: valid frames of each type.
func FuzzDecoder(f *testing.F) {
	for _, m := range []owner.Message{
		{Type: owner.MsgRequest, Page: 3},
		{Type: owner.MsgPage, Page: 1, Data: make([]byte, 64)},
		{Type: owner.MsgOwnersReply, Data: make([]byte, 20)},
		{Type: owner.MsgLockRequest, Data: make([]byte, owner.LockMessageSize)},
	} {
		f.Add(encodeMessage(make([]byte, headerSize+len(m.Data)), m))
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		dec := newDecoder(bytes.NewReader(wire), 1, 64, 64)
		for range 64 {
			if _, err := dec.next(); err != nil {
				return
			}
		}
	})
}

// FuzzReadHello: a stranger's first bytes never panic the handshake.
func FuzzReadHello(f *testing.F) {
	var good bytes.Buffer
	writeHello(&good, Hello{Version: 1, Name: "a:1", PageSize: 4096, Pages: 8, Block: 1, Members: []string{"a:1"}})
	f.Add(good.Bytes())
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, wire []byte) {
		if h, err := readHello(bytes.NewReader(wire)); err == nil {
			(Hello{}).check(h)
		}
	})
}
