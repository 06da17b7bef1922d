package net

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/dsmfs/dsmfs/owner"
)

func TestCodecRoundTrip(t *testing.T) {
	const units, nodes = 64, 5
	page := bytes.Repeat([]byte{0xab}, 4096)
	msgs := []owner.Message{
		{Type: owner.MsgRequest, Page: 7, Requester: 3, Epoch: 1},
		{Type: owner.MsgPage, Page: 1 << 30, Requester: 2, Epoch: 0xfffffffe, Version: 1<<63 + 5, Data: page},
		{Type: owner.MsgOwnersReply, Page: 9, Data: owner.EncodeOwnersReply([]owner.Run{{First: 1, Last: 5, Owner: 1}}, []owner.Run{{First: 2, Last: 3, Owner: 1}})},
		{Type: owner.MsgReplica, Page: 63, Epoch: 3, Version: 42, Data: page},
		{Type: owner.MsgReplicaAck, Page: 63, Epoch: 3, Version: 42},
		{Type: owner.MsgRecoverQuery, Epoch: 4, Data: []byte{2, 0, 4, 0}},
		{Type: owner.MsgRecoverReply, Epoch: 4, Data: bytes.Repeat([]byte{7}, 13*3)},
		{Type: owner.MsgRecoverInstall, Epoch: 4, Data: bytes.Repeat([]byte{1, 0}, units)},
		{Type: owner.MsgJoin, Epoch: 4},
	}
	var wire bytes.Buffer
	for _, m := range msgs {
		m.To = 1 // not on the wire: the decoded To stays zero
		buf := make([]byte, headerSize+len(m.Data))
		wire.Write(encodeMessage(buf, m))
	}
	dec := newDecoder(&wire, 1, 0, owner.Dims{PageSize: 4096, Pages: units, Nodes: nodes})
	for _, want := range msgs {
		got, err := dec.next()
		if err != nil {
			t.Fatal(err)
		}
		want.From = 1 // the connection's peer, never the wire's
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v (%d bytes), want %v (%d bytes)", got, len(got.Data), want, len(want.Data))
		}
	}
}

// TestDecoderPayloadSizes: each type takes exactly the payload sizes its
// encoding can have, bounded by the segment and the cluster.
func TestDecoderPayloadSizes(t *testing.T) {
	const pageSize, units, nodes = 64, 16, 4
	for _, tc := range []struct {
		typ owner.MsgType
		n   int
		ok  bool
	}{
		{owner.MsgReplica, pageSize, true},
		{owner.MsgReplica, pageSize - 1, false},
		{owner.MsgReplica, 0, false},
		{owner.MsgReplicaAck, 0, true},
		{owner.MsgReplicaAck, 8, false},
		{owner.MsgRecoverQuery, 0, true},
		{owner.MsgRecoverQuery, 2 * nodes, true},
		{owner.MsgRecoverQuery, 3, false},
		{owner.MsgRecoverQuery, 2 * (nodes + 1), false},
		{owner.MsgRecoverReply, 0, true},
		{owner.MsgRecoverReply, 13 * 2 * units, true},
		{owner.MsgRecoverReply, 12, false},
		{owner.MsgRecoverReply, 13 * (2*units + 1), false},
		{owner.MsgRecoverReply, 13 << 27, false},
		{owner.MsgRecoverInstall, 2 * units, true},
		{owner.MsgRecoverInstall, 2*units - 2, false},
		{owner.MsgRecoverInstall, 2*units + 2, false},
		{owner.MsgRecoverInstall, 0, false},
		{owner.MsgJoin, 0, true},
		{owner.MsgJoin, 2, false},
	} {
		frame := make([]byte, headerSize)
		putHeader(frame, header{typ: uint8(tc.typ), length: uint32(tc.n)})
		if tc.ok { // a refused size is refused before its payload is read
			frame = append(frame, make([]byte, tc.n)...)
		}
		m, err := newDecoder(bytes.NewReader(frame), 1, 0, owner.Dims{PageSize: pageSize, Pages: units, Nodes: nodes}).next()
		switch {
		case tc.ok && (err != nil || len(m.Data) != tc.n):
			t.Errorf("%v with %d bytes: got %d bytes, %v", tc.typ, tc.n, len(m.Data), err)
		case !tc.ok && err == nil:
			t.Errorf("%v with %d bytes: decoded", tc.typ, tc.n)
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
		if _, err := newDecoder(bytes.NewReader(frame), 1, 0, owner.Dims{PageSize: 4096, Pages: 16, Nodes: 4}).next(); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestHelloMismatch(t *testing.T) {
	ours := Hello{Name: "a:1", PageSize: 4096, Pages: 1000, Block: 1, Members: []string{"a:1", "b:1"}}
	for want, change := range map[string]func(*Hello){
		"has page size 8192, we have 4096":        func(h *Hello) { h.PageSize = 8192 },
		"has 2000 pages, we have 1000":            func(h *Hello) { h.Pages = 2000 },
		"migrates blocks of 16 pages, we migrate": func(h *Hello) { h.Block = 16 },
		"keeps 1 copies of each page":             func(h *Hello) { h.Replicas = 1 },
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

// TestGreetingMismatch: peers that differ in version or about the secret
// are told apart at the greeting, by a MismatchError if the peer is
// trusted and a refusal if not, each naming both sides.
func TestGreetingMismatch(t *testing.T) {
	nonce := make([]byte, nonceSize)
	for _, tc := range []struct {
		ours, theirs greeting
		want         string
	}{
		{greeting{Version: 4}, greeting{Version: 3}, "speaks protocol version 3, we speak 4"},
		{greeting{Version: 4, Auth: true, Nonce: nonce}, greeting{Version: 4}, "it has no --secret-file, we require one"},
		{greeting{Version: 4}, greeting{Version: 4, Auth: true, Nonce: nonce}, "it requires a --secret-file, we have none"},
		{greeting{Version: 4, Auth: true, Nonce: nonce}, greeting{Version: 4, Auth: true, Nonce: nonce[:3]}, "no proper nonce"},
	} {
		for _, trusted := range []bool{false, true} {
			s := &shake{trusted: trusted}
			err := tc.ours.check(tc.theirs, "peer b:1", s.disagree)
			var mismatch *MismatchError
			var refusal *refusal
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "peer b:1") ||
				trusted != errors.As(err, &mismatch) || trusted == errors.As(err, &refusal) {
				t.Errorf("trusted %v: want an error naming peer b:1 and %q, a MismatchError only if trusted; got %T %v", trusted, tc.want, err, err)
			}
		}
	}
	if err := (greeting{Version: 4}).check(greeting{Version: 4}, "peer b:1", (&shake{}).disagree); err != nil {
		t.Errorf("equal greetings: %v", err)
	}
}

// TestGreetingFromOldVersion: the first frame of a version 1 peer (whose
// header had 12 bytes) and of a version 3 one (a whole Hello) reads as a
// greeting, and is refused by a MismatchError naming both versions.
func TestGreetingFromOldVersion(t *testing.T) {
	for _, version := range []int{1, 3} {
		payload, _ := json.Marshal(map[string]any{"version": version, "name": "b:1", "page_size": 4096, "pages": 8, "members": []string{"a:1", "b:1"}, "auth": false})
		frame := append([]byte{frameHello, 0, 0, 0, 0, 0, 0, 0, byte(len(payload)), 0, 0, 0}, payload...)
		peer, err := readGreeting(bytes.NewReader(frame))
		if err != nil {
			t.Fatal(err)
		}
		var mismatch *MismatchError
		want := fmt.Sprintf("speaks protocol version %d, we speak %d", version, ProtocolVersion)
		if err := (greeting{Version: ProtocolVersion}).check(peer, "peer b:1", (&shake{trusted: true}).disagree); !errors.As(err, &mismatch) || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want a MismatchError saying %q", err, want)
		}
	}
}

// FuzzDecoder: whatever a peer sends, decoding returns messages or an
// error; it never panics. Seeds: valid frames of each type.
func FuzzDecoder(f *testing.F) {
	for _, m := range []owner.Message{
		{Type: owner.MsgRequest, Page: 3},
		{Type: owner.MsgPage, Page: 1, Data: make([]byte, 64)},
		{Type: owner.MsgOwnersReply, Data: make([]byte, 4+2*10)},
		{Type: owner.MsgLockRequest, Data: make([]byte, owner.LockPayloadSize)},
		{Type: owner.MsgReplica, Page: 2, Epoch: 1, Version: 9, Data: make([]byte, 64)},
		{Type: owner.MsgReplicaAck, Page: 2, Epoch: 1, Version: 9},
		{Type: owner.MsgRecoverQuery, Epoch: 2, Data: make([]byte, 2)},
		{Type: owner.MsgRecoverReply, Epoch: 2, Data: make([]byte, 26)},
		{Type: owner.MsgRecoverInstall, Epoch: 2, Data: make([]byte, 2*64)},
		{Type: owner.MsgJoin, Epoch: 2},
	} {
		f.Add(encodeMessage(make([]byte, headerSize+len(m.Data)), m))
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		dec := newDecoder(bytes.NewReader(wire), 1, 0, owner.Dims{PageSize: 64, Pages: 64, Nodes: 4})
		for range 64 {
			if _, err := dec.next(); err != nil {
				return
			}
		}
	})
}

// FuzzReadHello: a stranger's first bytes never panic the reading of a
// greeting or a Hello, nor their checks.
func FuzzReadHello(f *testing.F) {
	var good, greet bytes.Buffer
	writeHello(&good, Hello{Name: "a:1", PageSize: 4096, Pages: 8, Block: 1, Members: []string{"a:1"}})
	writeGreeting(&greet, greeting{Version: ProtocolVersion, Auth: true, Nonce: make([]byte, nonceSize)})
	f.Add(good.Bytes())
	f.Add(greet.Bytes())
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, wire []byte) {
		if h, err := readHello(bytes.NewReader(wire)); err == nil {
			(Hello{}).check(h)
		}
		if g, err := readGreeting(bytes.NewReader(wire)); err == nil {
			(greeting{Auth: true}).check(g, "peer", (&shake{}).disagree)
		}
	})
}
