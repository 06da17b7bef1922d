package owner

import (
	"encoding/binary"
	"fmt"
)

// The payloads of every message, in one place: what each type carries in
// Message.Data, how it is encoded (little endian throughout), and the sizes
// a receiver accepts. The transport asks CheckPayload before it reads a
// payload off the wire, so a garbage length never makes it allocate much.

// Dims are what payload sizes depend on: the segment and the cluster.
type Dims struct {
	Pages    int // protocol pages (blocks) in the segment
	PageSize int // bytes of one protocol page
	Nodes    int // members of the cluster
}

// Record sizes of the list payloads.
const (
	nodeSize    = 2         // a NodeID: u16
	hintSize    = 4 + 4 + 2 // a Run: first u32, last u32, owner u16
	holdingSize = 4 + 1 + 8 // a Holding: page u32, kind u8, version u64
	readerSize  = 4 + 2     // a ReadHolder: page u32, node u16
	// LockPayloadSize is the lock service's request and reply
	// (owner/locks): an op or a result u8, a tag u64, and a lock of 32
	// bytes.
	LockPayloadSize = 1 + 8 + 32
)

// CheckPayload reports whether n bytes of payload fit a message of type t
// in a cluster of dims d, and why not.
func CheckPayload(t MsgType, n int, d Dims) error {
	var ok bool
	switch t {
	case MsgRequest, MsgOwnersQuery, MsgLeaving, MsgPull, MsgLeftAck, MsgReplicaAck, MsgJoin, MsgPageAck, MsgReadRequest, MsgRevoke, MsgRevokeAck:
		ok = n == 0
	case MsgPage, MsgReadCopy: // the page's bytes, or none for a page of zeros
		ok = n == d.PageSize || n == 0
	case MsgReplica: // the page's bytes
		ok = n == d.PageSize
	case MsgLeft: // runs (EncodeHints), at most one per page
		ok = n%hintSize == 0 && n <= hintSize*d.Pages
	case MsgOwnersReply: // a count, then owned runs and read copy runs (EncodeOwnersReply)
		ok = n >= 4 && (n-4)%hintSize == 0 && n <= 4+2*hintSize*d.Pages
	case MsgLockRequest, MsgLockReply:
		ok = n == LockPayloadSize
	case MsgLost: // the node that lost a connection, and the node at its other end
		ok = n == 2*nodeSize
	case MsgRecoverQuery: // the next members (EncodeNodes)
		ok = n%nodeSize == 0 && n <= nodeSize*d.Nodes
	case MsgRecoverReply: // holdings (EncodeHoldings): owned, or a replica and a read copy
		ok = n%holdingSize == 0 && n <= holdingSize*2*d.Pages
	case MsgRecoverInstall: // an owner per page, then the read copies' holders (EncodeInstall)
		readers := n - nodeSize*d.Pages
		ok = readers >= 0 && readers%readerSize == 0 && readers <= readerSize*d.Pages*d.Nodes
	default:
		return fmt.Errorf("unknown message type %d", uint8(t))
	}
	if !ok {
		return fmt.Errorf("%v message with %d payload bytes", t, n)
	}
	return nil
}

// EncodeOwnersReply writes a node's answer to an owners query: how many
// runs it owns (little-endian uint32), those runs, then the runs it holds
// read copies of, all as EncodeHints writes them.
func EncodeOwnersReply(owned, readCopies []Run) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(owned)))
	b = append(b, EncodeHints(owned)...)
	return append(b, EncodeHints(readCopies)...)
}

// DecodeOwnersReply reads what EncodeOwnersReply wrote.
func DecodeOwnersReply(b []byte, pages, nodes int) (owned, readCopies []Run, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("owners reply of %d bytes", len(b))
	}
	k := int(binary.LittleEndian.Uint32(b))
	if k > (len(b)-4)/hintSize {
		return nil, nil, fmt.Errorf("owners reply counts %d owned runs in %d bytes", k, len(b))
	}
	if owned, err = DecodeHints(b[4:4+k*hintSize], pages, nodes); err != nil {
		return nil, nil, err
	}
	readCopies, err = DecodeHints(b[4+k*hintSize:], pages, nodes)
	return owned, readCopies, err
}

// EncodeHints writes runs with their owners as little-endian (first, last
// uint32, owner uint16) triples: owned pages in owners replies, probable
// owners when a node leaves.
func EncodeHints(runs []Run) []byte {
	b := make([]byte, 0, hintSize*len(runs))
	for _, r := range runs {
		b = binary.LittleEndian.AppendUint32(b, uint32(r.First))
		b = binary.LittleEndian.AppendUint32(b, uint32(r.Last))
		b = binary.LittleEndian.AppendUint16(b, uint16(r.Owner))
	}
	return b
}

// DecodeHints reads what EncodeHints wrote, checking it against the segment
// and the cluster.
func DecodeHints(b []byte, pages, nodes int) ([]Run, error) {
	if len(b)%hintSize != 0 {
		return nil, fmt.Errorf("hints: %d bytes is not a whole number of runs", len(b))
	}
	out := make([]Run, 0, len(b)/hintSize)
	for ; len(b) > 0; b = b[hintSize:] {
		r := Run{First: PageID(binary.LittleEndian.Uint32(b)), Last: PageID(binary.LittleEndian.Uint32(b[4:])), Owner: NodeID(binary.LittleEndian.Uint16(b[8:]))}
		if r.First > r.Last || int(r.Last) >= pages || int(r.Owner) >= nodes {
			return nil, fmt.Errorf("hints: bad run %d-%d %d", r.First, r.Last, r.Owner)
		}
		out = append(out, r)
	}
	return out, nil
}

// EncodeNodes writes node IDs as little-endian uint16s.
func EncodeNodes(ids []NodeID) []byte {
	b := make([]byte, 0, nodeSize*len(ids))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint16(b, uint16(id))
	}
	return b
}

// DecodeNodes reads what EncodeNodes wrote, checking it against the cluster.
func DecodeNodes(b []byte, nodes int) ([]NodeID, error) {
	if len(b)%nodeSize != 0 {
		return nil, fmt.Errorf("node list of %d bytes", len(b))
	}
	var out []NodeID
	for ; len(b) > 0; b = b[nodeSize:] {
		id := NodeID(binary.LittleEndian.Uint16(b))
		if int(id) >= nodes {
			return nil, fmt.Errorf("node list names node %d of %d", id, nodes)
		}
		out = append(out, id)
	}
	return out, nil
}

// EncodeHoldings writes holdings as (page uint32, kind uint8, version
// uint64) entries, little endian.
func EncodeHoldings(hs []Holding) []byte {
	b := make([]byte, 0, holdingSize*len(hs))
	for _, h := range hs {
		b = binary.LittleEndian.AppendUint32(b, uint32(h.Page))
		b = append(b, byte(h.Kind))
		b = binary.LittleEndian.AppendUint64(b, h.Version)
	}
	return b
}

// DecodeHoldings reads what EncodeHoldings wrote, checking it against the
// segment.
func DecodeHoldings(b []byte, pages int) ([]Holding, error) {
	if len(b)%holdingSize != 0 {
		return nil, fmt.Errorf("holdings of %d bytes", len(b))
	}
	out := make([]Holding, 0, len(b)/holdingSize)
	for ; len(b) > 0; b = b[holdingSize:] {
		h := Holding{Page: PageID(binary.LittleEndian.Uint32(b)), Kind: HoldKind(b[4]), Version: binary.LittleEndian.Uint64(b[5:])}
		if int(h.Page) >= pages || (h.Kind != HoldOwned && h.Kind != HoldCopy && h.Kind != HoldRead) {
			return nil, fmt.Errorf("bad holding: page %d kind %d", h.Page, h.Kind)
		}
		out = append(out, h)
	}
	return out, nil
}

// EncodeInstall writes an epoch's plan: one little-endian uint16 owner per
// page, then a (page uint32, node uint16) pair per read copy reported.
func EncodeInstall(owners []NodeID, readers []ReadHolder) []byte {
	b := EncodeNodes(owners)
	for _, r := range readers {
		b = binary.LittleEndian.AppendUint32(b, uint32(r.Page))
		b = binary.LittleEndian.AppendUint16(b, uint16(r.Node))
	}
	return b
}

// DecodeInstall reads what EncodeInstall wrote for pages pages and nodes
// nodes: an owner, or None, for each page, and the read copies' holders.
func DecodeInstall(b []byte, pages, nodes int) ([]NodeID, []ReadHolder, error) {
	if len(b) < nodeSize*pages || (len(b)-nodeSize*pages)%readerSize != 0 {
		return nil, nil, fmt.Errorf("epoch plan of %d bytes for %d pages", len(b), pages)
	}
	owners := make([]NodeID, pages)
	for p := range owners {
		owners[p] = NodeID(binary.LittleEndian.Uint16(b[nodeSize*p:]))
		if owners[p] != None && int(owners[p]) >= nodes {
			return nil, nil, fmt.Errorf("epoch plan names node %d of %d", owners[p], nodes)
		}
	}
	var readers []ReadHolder
	for b = b[nodeSize*pages:]; len(b) > 0; b = b[readerSize:] {
		r := ReadHolder{Page: PageID(binary.LittleEndian.Uint32(b)), Node: NodeID(binary.LittleEndian.Uint16(b[4:]))}
		if int(r.Page) >= pages || int(r.Node) >= nodes {
			return nil, nil, fmt.Errorf("epoch plan: read copy of page %d on node %d", r.Page, r.Node)
		}
		readers = append(readers, r)
	}
	return owners, readers, nil
}
