// Package owner is the ownership protocol of dsmfs and its driver.
//
// Every page of the shared segment has exactly one owner node; only the
// owner's programs may touch it. A node that needs a page it does not own
// asks for it, and the current owner takes the page away from its own
// programs and hands over the bytes together with the ownership.
//
// A page here is the protocol's unit, as in IVY: --block kernel pages that
// migrate together (one by default). Package fs, which meets the kernel,
// calls it a block and keeps "page" for the kernel's 4 KiB page.
//
// Owners are found with Li & Hudak's dynamic distributed manager: each node
// keeps a probable owner per page and requests travel along those hints. The
// hints and the queue of waiting nodes follow Naimi & Trehel: a node forwards
// a request to its probable owner and then points at the requester, so the
// hints always form a tree rooted at the last requester, and each node waiting
// for a page remembers at most one successor. Requests for one page are thus
// queued across the cluster, never lost, and chains stay short.
//
// The package has two halves, in the style of etcd-io/raft:
//
//   - Machine is the protocol as a pure state machine: events in, messages
//     and actions out. It owns no goroutines, sockets, clocks, bytes or
//     logging, so whole clusters of machines are simulated in one process,
//     deterministically, failures included (sim_test.go, simfail_test.go).
//     Its parts: machine.go (state, Step, Ready), handoff.go (asking for and
//     handing over pages), membership.go (members, dead, quorum,
//     coordinator, admission), recovery.go (epochs: freeze, reports, fence,
//     install, and the Plan of owners), copies.go (copies kept for
//     recovery), leave.go (a node leaving hands its pages over), wire.go
//     (every payload and its size).
//   - Node (node.go and the node_*.go files) is the one driver. It runs a
//     Machine under a mutex and reaches the world only through the small
//     interfaces declared in ports.go: a Transport to the peers, a
//     PageStore and a CopyStore for bytes, a Kernel that takes pages away
//     from local programs, and Services (the lock service, owner/locks)
//     that ride on the same connections without touching ownership.
//
// Failures change ownership only through epochs: with copies (--replicas),
// the lowest live member of a quorum freezes the live nodes into a new
// epoch, plans an owner for every page from what they own and the copies
// they keep, and installs it; page traffic of an earlier epoch is dropped.
// The same change takes a restarted node back in.
//
// This package imports none of dsmfs's other packages; they import it. It
// must never touch the kernel, a socket or the page bytes except through
// its ports.
package owner
