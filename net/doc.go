// Package net carries the ownership protocol between dsmfs nodes: it
// implements owner.Transport over TCP, with one kept-open connection per
// pair of nodes, a handshake that refuses peers that disagree on the
// segment or cannot prove the shared secret before anything about the
// cluster is said (without a secret or TLS, connections from addresses
// that are not members'), optional mutual TLS,
// heartbeats that declare silent peers dead, new connections to members
// restarted after a crash, and a small binary frame codec.
// Inmem is an in-memory network for tests.
//
// It moves bytes and reports what it received; it never decides anything
// about pages. Anything a peer sends that does not decode is a reason to drop
// that connection, never to panic; a connection not yet trusted can never
// stop this node, hold it up, or fill its log.
package net
