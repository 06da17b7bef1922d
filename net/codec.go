package net

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/dsmfs/dsmfs/owner"
)

// A frame is a 24-byte header and a payload:
//
//	type u8 | flags u8 | requester u16 | page u32 | payload length u32 | epoch u32 | version u64
//
// little endian; flag 1 is Message.Ack. The sender is the connection's
// peer, never a header field.
const headerSize = 24

// frameHello opens every connection; its payload is a JSON Hello.
const frameHello = 0x48

// helloHeaderSize is the header of a Hello frame: only the first 12 bytes of
// a header, as in protocol version 1, whose frames had no epoch or version.
// Peers of any version can thus read each other's Hello, and refuse one
// another by a MismatchError that names the versions.
const helloHeaderSize = 12

// maxHelloSize bounds a Hello's payload, so a garbage length cannot make us
// allocate much.
const maxHelloSize = 64 << 10

// flagAck in a header's flags is Message.Ack.
const flagAck = 1

type header struct {
	typ       uint8
	flags     uint8
	requester uint16
	page      uint32
	length    uint32
	epoch     uint32
	version   uint64
}

func putHeader(b []byte, h header) {
	b[0], b[1] = h.typ, h.flags
	binary.LittleEndian.PutUint16(b[2:], h.requester)
	binary.LittleEndian.PutUint32(b[4:], h.page)
	binary.LittleEndian.PutUint32(b[8:], h.length)
	binary.LittleEndian.PutUint32(b[12:], h.epoch)
	binary.LittleEndian.PutUint64(b[16:], h.version)
}

func parseHeader(b []byte) header {
	return header{
		typ:       b[0],
		flags:     b[1],
		requester: binary.LittleEndian.Uint16(b[2:]),
		page:      binary.LittleEndian.Uint32(b[4:]),
		length:    binary.LittleEndian.Uint32(b[8:]),
		epoch:     binary.LittleEndian.Uint32(b[12:]),
		version:   binary.LittleEndian.Uint64(b[16:]),
	}
}

// encodeMessage writes m as one frame into buf, which must hold
// headerSize+len(m.Data) bytes, and returns the frame.
func encodeMessage(buf []byte, m owner.Message) []byte {
	var flags uint8
	if m.Ack {
		flags |= flagAck
	}
	putHeader(buf, header{
		typ:       uint8(m.Type),
		flags:     flags,
		requester: uint16(m.Requester),
		page:      uint32(m.Page),
		length:    uint32(len(m.Data)),
		epoch:     m.Epoch,
		version:   m.Version,
	})
	n := copy(buf[headerSize:], m.Data)
	return buf[:headerSize+n]
}

// decoder reads protocol frames from one peer. Its buffer is reused: a
// decoded message's Data is valid until the next call.
type decoder struct {
	r        io.Reader
	from, to owner.NodeID // the peer, and this node
	dims     owner.Dims   // what payload sizes are checked against
	buf      []byte
}

// header reads the next frame header that is not a heartbeat.
func (d *decoder) header() (header, error) {
	for {
		if _, err := io.ReadFull(d.r, d.buf[:headerSize]); err != nil {
			return header{}, err
		}
		h := parseHeader(d.buf)
		if h.typ != frameHeartbeat {
			return h, nil
		}
		if h.length != 0 {
			return h, fmt.Errorf("heartbeat frame with %d payload bytes", h.length)
		}
	}
}

func newDecoder(r io.Reader, from, to owner.NodeID, dims owner.Dims) *decoder {
	return &decoder{r: r, from: from, to: to, dims: dims, buf: make([]byte, headerSize+dims.PageSize)}
}

// next reads one message, skipping heartbeats.
func (d *decoder) next() (owner.Message, error) {
	h, err := d.header()
	if err != nil {
		return owner.Message{}, err
	}
	m := owner.Message{
		Type:      owner.MsgType(h.typ),
		From:      d.from,
		To:        d.to,
		Page:      owner.PageID(h.page),
		Requester: owner.NodeID(h.requester),
		Epoch:     h.epoch,
		Version:   h.version,
		Ack:       h.flags&flagAck != 0,
	}
	n := int(h.length)
	if err := owner.CheckPayload(m.Type, n, d.dims); err != nil {
		return m, fmt.Errorf("frame type %#x: %w", h.typ, err)
	}
	if n > 0 {
		// CheckPayload bounds n by the segment and the cluster, so a
		// garbage length cannot make this allocate much.
		if headerSize+n > len(d.buf) {
			d.buf = make([]byte, headerSize+n)
		}
		m.Data = d.buf[headerSize : headerSize+n]
		if _, err := io.ReadFull(d.r, m.Data); err != nil {
			return m, fmt.Errorf("truncated %v frame: %w", m.Type, err)
		}
	}
	return m, nil
}
