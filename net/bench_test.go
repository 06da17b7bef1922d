package net

import (
	"bytes"
	"testing"

	"github.com/dsmfs/dsmfs/owner"
)

// BenchmarkCodecPage encodes and decodes a page frame, as every migration
// does once on each side.
func BenchmarkCodecPage(b *testing.B) {
	m := owner.Message{Type: owner.MsgPage, Page: 42, Requester: 1, Data: make([]byte, 4096)}
	frame := make([]byte, headerSize+4096)
	var r bytes.Reader
	dec := newDecoder(&r, 0, 1, owner.Dims{PageSize: 4096, Pages: 1024, Nodes: 2})
	b.SetBytes(4096)
	b.ReportAllocs()
	for range b.N {
		r.Reset(encodeMessage(frame, m))
		if _, err := dec.next(); err != nil {
			b.Fatal(err)
		}
	}
}
