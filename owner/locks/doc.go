// Package locks is the cluster's lock service: flock(2) and fcntl(2) locks
// on the segment that exclude programs on every node, not just on one.
//
// One node, the server (node 0), keeps the table of held locks and of the
// requests waiting for them (table.go, a plain data structure); the others
// ask it over the node's connections (wire.go is the message format). A
// Service on every node is both ends: its client half sends the local
// programs' requests and waits for the answers, its server half, on node 0,
// runs them against the table. It registers with the owner.Node for its
// two message types and to hear of lost peers: a lost peer's locks go, and
// if the server is the one lost, waiting calls fail.
//
// It knows nothing of pages and must never block the transport goroutine
// that hands it a message: replies go to buffered calls, and a grant that
// no call takes any more is given back at once, so that no lock is ever
// held by nobody.
package locks
