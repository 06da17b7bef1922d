package owner

import "testing"

// Named read copy scenarios, message by message (see machine_test.go).

func readRequest(from, to NodeID, p PageID, requester NodeID) Message {
	return Message{Type: MsgReadRequest, From: from, To: to, Page: p, Requester: requester}
}

func readCopyAt(from, to NodeID, p PageID, v uint64) Message {
	return Message{Type: MsgReadCopy, From: from, To: to, Page: p, Version: v}
}

func revokeMsg(from, to NodeID, p PageID) Message {
	return Message{Type: MsgRevoke, From: from, To: to, Page: p}
}

func revokeAck(from, to NodeID, p PageID) Message {
	return Message{Type: MsgRevokeAck, From: from, To: to, Page: p}
}

func serveRead(p PageID) Action      { return Action{Kind: ActServeRead, Page: p} }
func takeReadCopy(p PageID) Action   { return Action{Kind: ActTakeReadCopy, Page: p} }
func dropReadCopy(p PageID) Action   { return Action{Kind: ActDropReadCopy, Page: p} }
func invalidateRead(p PageID) Action { return Action{Kind: ActInvalidateRead, Page: p} }

// TestReadCopiesThenWrite: two nodes read node 0's page through
// segment.ro. Node 0 first takes the page from its own writable mapping,
// then serves both; both keep their copies and re-read locally. A write
// through segment on node 0 takes both copies back at once and is served
// only when both said they dropped them.
func TestReadCopiesThenWrite(t *testing.T) {
	ms := newCluster(3, 3, false) // node 0 owns page 0
	if r := ms[1].AccessRead(0); r != AccessWaits {
		t.Fatalf("read on node 1: %v", r)
	}
	expect(t, ms[1], sends(readRequest(1, 0, 0, 1)))
	step(t, ms[0], readRequest(1, 0, 0, 1))
	expect(t, ms[0], acts(invalidate(0)))
	ms[2].AskRead(0) // node 2 sweeps ahead meanwhile
	expect(t, ms[2], sends(readRequest(2, 0, 0, 2)))
	step(t, ms[0], readRequest(2, 0, 0, 2))
	expect(t, ms[0], Ready{})
	ms[0].InvalidateDone(0)
	// The downgrade starts a new version: copies hold bytes that no
	// older hand-off's replica has.
	expect(t, ms[0], sends(readCopyAt(0, 1, 0, 1), readCopyAt(0, 2, 0, 1)))
	for _, n := range []NodeID{1, 2} {
		step(t, ms[n], readCopyAt(0, n, 0, 1))
	}
	expect(t, ms[1], acts(takeReadCopy(0), serveRead(0)))
	expect(t, ms[2], acts(takeReadCopy(0)))
	if r := ms[2].AccessRead(0); r != AccessHere {
		t.Fatalf("re-read on node 2: %v", r)
	}

	if r := ms[0].Access(0); r != AccessWaits {
		t.Fatalf("write on node 0 with copies out: %v", r)
	}
	expect(t, ms[0], sends(revokeMsg(0, 1, 0), revokeMsg(0, 2, 0)))
	step(t, ms[1], revokeMsg(0, 1, 0))
	expect(t, ms[1], acts(invalidateRead(0)))
	ms[1].InvalidateReadDone(0)
	expect(t, ms[1], Ready{Actions: []Action{dropReadCopy(0)}, Messages: []Message{revokeAck(1, 0, 0)}})
	step(t, ms[0], revokeAck(1, 0, 0))
	expect(t, ms[0], Ready{}) // node 2 still has its copy
	step(t, ms[2], revokeMsg(0, 2, 0))
	expect(t, ms[2], acts(invalidateRead(0)))
	ms[2].InvalidateReadDone(0)
	expect(t, ms[2], Ready{Actions: []Action{dropReadCopy(0)}, Messages: []Message{revokeAck(2, 0, 0)}})
	step(t, ms[0], revokeAck(2, 0, 0))
	expect(t, ms[0], acts(serve(0)))
	if r := ms[0].Access(0); r != AccessHere {
		t.Fatalf("write on node 0 after the upgrade: %v", r)
	}
}

// TestReadDuringRevocation: a read through segment.ro while the kernel
// takes that copy away is served from the copy still kept (nobody writes
// before the acknowledgement), and the invalidation runs again before the
// holder acknowledges: the kernel may have cached the page anew.
func TestReadDuringRevocation(t *testing.T) {
	ms := newCluster(2, 2, false)
	ms[1].AccessRead(0)
	ms[1].Ready()
	step(t, ms[0], readRequest(1, 0, 0, 1))
	ms[0].Ready()
	ms[0].InvalidateDone(0)
	ms[0].Ready()
	step(t, ms[1], readCopyAt(0, 1, 0, 1))
	ms[1].Ready()

	step(t, ms[1], revokeMsg(0, 1, 0))
	expect(t, ms[1], acts(invalidateRead(0)))
	if r := ms[1].AccessRead(0); r != AccessHere {
		t.Fatalf("read during the revocation: %v", r)
	}
	ms[1].InvalidateReadDone(0)
	expect(t, ms[1], acts(invalidateRead(0)))
	ms[1].InvalidateReadDone(0)
	expect(t, ms[1], Ready{Actions: []Action{dropReadCopy(0)}, Messages: []Message{revokeAck(1, 0, 0)}})
}

// TestHandOffTakesCopiesBack: a request for a shared page takes its copies
// back, the owner's own segment.ro cache included, before the page goes.
func TestHandOffTakesCopiesBack(t *testing.T) {
	ms := newCluster(3, 3, false)
	if r := ms[0].AccessRead(0); r != AccessWaits {
		t.Fatalf("read on the owner, which may write the page: %v", r)
	}
	expect(t, ms[0], acts(invalidate(0)))
	ms[0].InvalidateDone(0)
	expect(t, ms[0], acts(serveRead(0)))
	step(t, ms[0], readRequest(1, 0, 0, 1))
	expect(t, ms[0], sends(readCopyAt(0, 1, 0, 1)))

	step(t, ms[0], request(2, 0, 0, 2))
	expect(t, ms[0], Ready{Actions: []Action{invalidateRead(0)}, Messages: []Message{revokeMsg(0, 1, 0)}})
	step(t, ms[0], revokeAck(1, 0, 0))
	expect(t, ms[0], Ready{}) // its own copy is still being taken
	ms[0].InvalidateReadDone(0)
	expect(t, ms[0], handsOff(pageAt(0, 2, 0, 2)))
}
