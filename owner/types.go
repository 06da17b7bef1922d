package owner

import "fmt"

// NodeID numbers a member of the cluster: its index in the sorted list of
// member names.
type NodeID uint16

// None is the NodeID of no node.
const None NodeID = 0xFFFF

// PageID numbers a page of the segment, from 0.
type PageID uint32

// MsgType tells what a Message asks for.
type MsgType uint8

const (
	// MsgRequest asks for Page on behalf of Requester. It is forwarded along
	// probable owners until it reaches the tail of the page's queue.
	MsgRequest MsgType = iota + 1
	// MsgPage hands Page and its ownership to the receiver. Data holds the
	// page's bytes.
	MsgPage
	// MsgOwnersQuery asks a node which pages it owns; Page carries the
	// query's number. It observes the protocol and takes no part in it.
	MsgOwnersQuery
	// MsgOwnersReply answers MsgOwnersQuery: Page is the query's number
	// and Data the owned runs, as EncodeHints writes them.
	MsgOwnersReply
	// MsgLockRequest asks the lock service's server (node 0) to get,
	// set, release or cancel a file lock; Data is LockPayloadSize bytes
	// that package owner/locks encodes. The node hands both lock
	// messages to the Service registered for them.
	MsgLockRequest
	// MsgLockReply answers a MsgLockRequest, in the same payload.
	MsgLockReply
	// MsgLeaving says the sender is leaving the cluster: it takes no
	// pages any more.
	MsgLeaving
	// MsgPull asks the receiver to request Page, which the leaving sender
	// owns at Version, from the sender: the page then moves by the
	// ordinary protocol.
	MsgPull
	// MsgLeft says the sender has left and holds nothing; Data is its
	// probable owners (EncodeHints), for the receiver to route around it.
	MsgLeft
	// MsgLeftAck answers MsgLeft once the receiver routes around the
	// sender.
	MsgLeftAck
	// MsgReplica is a copy of Page at Version for the receiver to keep, so
	// that the page survives its owner's death. Data holds the bytes.
	MsgReplica
	// MsgReplicaAck says the receiver keeps Page at Version or newer.
	MsgReplicaAck
	// MsgRecoverQuery starts recovery for Epoch: the receiver stops
	// moving pages and answers what it owns and which replicas it keeps.
	// Data lists the nodes left out of the new epoch (EncodeNodes).
	MsgRecoverQuery
	// MsgRecoverReply answers MsgRecoverQuery for Epoch; Data is the
	// sender's pages (EncodeHoldings).
	MsgRecoverReply
	// MsgRecoverInstall ends recovery: Epoch starts with Data, the owner
	// of every page and the holders of read copies (EncodeInstall).
	MsgRecoverInstall
	// MsgJoin says Requester restarted, holds nothing and is connected
	// to every live member: it asks to become a member again. A member
	// that does not coordinate relays it to the coordinator.
	MsgJoin
	// MsgPageAck says the receiver took Page, a MsgPage that asked for it
	// (Message.Ack).
	MsgPageAck
	// MsgLost tells the coordinator (the lowest live member) that a node
	// lost its connection to another; Data names both (EncodeNodes).
	// Messages may have died with it, so only a new epoch without one of
	// them can go on.
	MsgLost
	// MsgReadRequest asks for a read copy of Page on behalf of
	// Requester. It travels along probable owners to the tail of the
	// page's queue, which serves it once it has the page.
	MsgReadRequest
	// MsgReadCopy is a read copy of Page at Version for the receiver's
	// programs to read through segment.ro; Data holds the bytes.
	MsgReadCopy
	// MsgRevoke tells the receiver to take its read copy of Page from
	// its programs; it answers MsgRevokeAck once they no longer have it.
	MsgRevoke
	// MsgRevokeAck says the sender's programs no longer have its read
	// copy of Page.
	MsgRevokeAck
)

func (t MsgType) String() string {
	switch t {
	case MsgRequest:
		return "request"
	case MsgPage:
		return "page"
	case MsgOwnersQuery:
		return "owners-query"
	case MsgOwnersReply:
		return "owners-reply"
	case MsgLockRequest:
		return "lock-request"
	case MsgLockReply:
		return "lock-reply"
	case MsgLeaving:
		return "leaving"
	case MsgPull:
		return "pull"
	case MsgLeft:
		return "left"
	case MsgLeftAck:
		return "left-ack"
	case MsgReplica:
		return "replica"
	case MsgReplicaAck:
		return "replica-ack"
	case MsgRecoverQuery:
		return "recover-query"
	case MsgRecoverReply:
		return "recover-reply"
	case MsgRecoverInstall:
		return "recover-install"
	case MsgJoin:
		return "join"
	case MsgPageAck:
		return "page-ack"
	case MsgLost:
		return "lost"
	case MsgReadRequest:
		return "read-request"
	case MsgReadCopy:
		return "read-copy"
	case MsgRevoke:
		return "revoke"
	case MsgRevokeAck:
		return "revoke-ack"
	}
	return fmt.Sprintf("msgtype(%d)", uint8(t))
}

// Message travels between nodes. From is set by the receiving transport from
// the connection it came on, never trusted from the wire.
type Message struct {
	Type      MsgType
	From, To  NodeID
	Page      PageID
	Requester NodeID
	// Epoch is the cluster configuration the sender was in: recovery
	// starts a new one, and page traffic from an older one is dropped.
	Epoch uint32
	// Version counts the hand-offs and syncs of Page, in MsgPage,
	// MsgReplica, MsgReplicaAck, MsgReadCopy and MsgPull: the newest copy
	// has the highest.
	Version uint64
	// Ack asks the receiver of a MsgPage to say it took it (MsgPageAck):
	// the giver is leaving, and must know its last hand-offs arrived, or
	// keeps no copies, and holds the bytes until then (lost.go).
	Ack bool
	// Data is the page's bytes in MsgPage, MsgReplica and MsgReadCopy. The Machine never reads or
	// writes it; the driver fills it when sending and consumes it when
	// receiving.
	Data []byte
}

func (m Message) String() string {
	ack := ""
	if m.Ack {
		ack = " ack"
	}
	return fmt.Sprintf("%s page=%d %d->%d requester=%d epoch=%d version=%d%s", m.Type, m.Page, m.From, m.To, m.Requester, m.Epoch, m.Version, ack)
}

// ActionKind tells the driver what to do.
type ActionKind uint8

const (
	// ActServe: the page is here now; answer the local accesses waiting
	// for it from the page store.
	ActServe ActionKind = iota + 1
	// ActTakePage: the MsgPage being stepped hands the page to this node:
	// put its bytes in the page store.
	ActTakePage
	// ActInvalidate: take the page away from local programs (the kernel
	// writes dirty data back first), then report InvalidateDone.
	ActInvalidate
	// ActHold: the page just arrived; report HoldExpired after the hold
	// window.
	ActHold
	// ActFail: the local accesses waiting for the page fail: it died with
	// its owner (Lost), or its owner is dead and no copy is kept.
	ActFail
	// ActKeepCopy: keep a copy of the page as the page store has it now,
	// before the hand-off being sent can change anything: if the hand-off
	// dies on the wire, this copy is the page.
	ActKeepCopy
	// ActStoreCopy: keep the bytes of the MsgReplica being stepped as the
	// page's copy.
	ActStoreCopy
	// ActDropCopy: forget the page's copy; the page here is newer.
	ActDropCopy
	// ActPromote: the page is this node's now, from its copy (or, with no
	// copy kept, as it was at start, zeros): put those bytes in the page
	// store.
	ActPromote
	// ActDisconnect: close the connection to Node for good; recovery left
	// it out.
	ActDisconnect
	// ActReportTimer: report ReportsOverdue(Epoch) after the fence wait:
	// members that have not reported by then are dead.
	ActReportTimer
	// ActFenceTimer: report FenceWaited(Epoch) after the fence wait, by
	// which any node left out of Epoch has fenced itself.
	ActFenceTimer
	// ActInstalled: Epoch is installed here; messages held back for it
	// can be stepped now.
	ActInstalled
	// ActServeRead: a read copy of the page is here now; answer the local
	// accesses through segment.ro waiting for it, from the page store if
	// this node owns the page, else from the read copy store.
	ActServeRead
	// ActTakeReadCopy: keep the bytes of the MsgReadCopy being stepped in
	// the read copy store.
	ActTakeReadCopy
	// ActDropReadCopy: the read copy store may forget the page.
	ActDropReadCopy
	// ActInvalidateRead: take the page from local programs' segment.ro
	// mappings, then report InvalidateReadDone.
	ActInvalidateRead
	// ActPromoteRead: the page is this node's now, from its read copy:
	// put the read copy store's bytes in the page store.
	ActPromoteRead
)

func (k ActionKind) String() string {
	switch k {
	case ActServe:
		return "serve"
	case ActTakePage:
		return "take-page"
	case ActInvalidate:
		return "invalidate"
	case ActHold:
		return "hold"
	case ActFail:
		return "fail"
	case ActKeepCopy:
		return "keep-copy"
	case ActStoreCopy:
		return "store-copy"
	case ActDropCopy:
		return "drop-copy"
	case ActPromote:
		return "promote"
	case ActDisconnect:
		return "disconnect"
	case ActReportTimer:
		return "report-timer"
	case ActFenceTimer:
		return "fence-timer"
	case ActInstalled:
		return "installed"
	case ActServeRead:
		return "serve-read"
	case ActTakeReadCopy:
		return "take-read-copy"
	case ActDropReadCopy:
		return "drop-read-copy"
	case ActInvalidateRead:
		return "invalidate-read"
	case ActPromoteRead:
		return "promote-read"
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// Action is work for the driver: on Page for the page actions, on Node for
// ActDisconnect, for Epoch for the timers and ActInstalled.
type Action struct {
	Kind  ActionKind
	Page  PageID
	Node  NodeID
	Epoch uint32
}

func (a Action) String() string {
	switch a.Kind {
	case ActDisconnect:
		return fmt.Sprintf("%v node %d", a.Kind, a.Node)
	case ActReportTimer, ActFenceTimer, ActInstalled:
		return fmt.Sprintf("%v epoch %d", a.Kind, a.Epoch)
	}
	return fmt.Sprintf("%v page %d", a.Kind, a.Page)
}

// Ready is what the Machine asks the driver to do after one or more events:
// actions in order, then messages to send. An action never depends on a
// message of the same Ready having been sent.
type Ready struct {
	Actions  []Action
	Messages []Message
}

// Empty reports whether there is nothing to do.
func (rd Ready) Empty() bool { return len(rd.Actions) == 0 && len(rd.Messages) == 0 }
