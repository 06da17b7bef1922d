package owner

// The driver reaches the world only through these interfaces; net, pages and
// fs implement them and main wires them together.

// Transport carries messages to peers. Its contract, which net's TCP and
// Inmem both keep (net/contract_test.go holds them to it):
//
//   - Messages from one node to another arrive in the order they were
//     sent, each once, with From and To set by the transport, never taken
//     from the sender's word. Messages of different pairs interleave in any
//     order.
//   - A message is lost only with its connection. The node at each end is
//     then told that the other is lost (the driver's PeerLost), after the
//     last message delivered from it; nothing more arrives from it, and
//     sends to it fail.
//   - Send never waits for the peer: a transport goroutine that answers one
//     peer must not stall behind another that stopped reading. Nor does it
//     call back into the node: deliveries and losses come from the
//     transport's own goroutines.
type Transport interface {
	// Send delivers m to node m.To. It must not keep m.Data after it
	// returns. An error means m will never arrive.
	Send(m Message) error
	// Disconnect closes the connection to peer for good: recovery has
	// left it out of the cluster, so nothing may be sent to it or taken
	// from it any more, and it must notice that it lost its peers.
	Disconnect(peer NodeID)
}

// PageStore holds the bytes of the pages this node owns. Its contents for a
// page this node does not own are meaningless.
type PageStore interface {
	// Bytes is page p itself, not a copy; the driver serializes access.
	Bytes(p PageID) []byte
	// Arrive sets page p's bytes (zeros for none): p came to this node.
	Arrive(p PageID, data []byte)
	// Left says p left this node and nothing reads its bytes any more:
	// the store may give its memory back, until p arrives again.
	Left(p PageID) error
}

// CopyStore holds the bytes of the copies this node keeps of other nodes'
// pages (replicas); which copies exist, at which version, is the
// Machine's.
type CopyStore interface {
	// Keep copies data as page p's copy.
	Keep(p PageID, data []byte)
	// Copy is p's copy, nil if none; valid until the next Keep or Drop
	// of p.
	Copy(p PageID) []byte
	// Drop forgets p's copy.
	Drop(p PageID)
}

// Kernel takes pages away from the programs on this node.
type Kernel interface {
	// Invalidate makes the kernel write page p back to the daemon if it is
	// dirty and drop it from every local mapping; the next access faults.
	// It blocks until that is done, so it needs FUSE requests to be served
	// meanwhile: never call it from a FUSE request handler.
	Invalidate(p PageID) error
	// InvalidateAll does the same for every page at once.
	InvalidateAll() error
	// InvalidateRead drops page p from every local mapping of
	// segment.ro, the read copies' file; the next read faults. It blocks
	// like Invalidate.
	InvalidateRead(p PageID) error
}

// Service is a part of the node with message types of its own, which the
// node hands it instead of the page protocol: the cluster's lock service
// (owner/locks). Both methods run on the transport's goroutines,
// concurrently, and must not block.
type Service interface {
	// Receive takes a message of the service's types; an error means
	// the peer broke the service's protocol.
	Receive(Message) error
	// PeerLost is told of every peer the node loses for good.
	PeerLost(NodeID)
}
