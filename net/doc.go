// Package net carries the ownership protocol between dsmfs nodes: it
// implements owner.Transport over TCP, with one kept-open connection per
// pair of nodes, a handshake that refuses peers that disagree on the
// segment, and a small binary frame codec.
//
// It moves bytes and reports what it received; it never decides anything
// about pages. Anything a peer sends that does not decode is a reason to drop
// that connection, never to panic.
package net
