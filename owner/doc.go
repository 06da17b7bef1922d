// Package owner is the ownership protocol of dsmfs and its driver.
//
// Every page of the shared segment has exactly one owner node; only the
// owner's programs may touch it. A node that needs a page it does not own
// asks for it, and the current owner takes the page away from its own
// programs and hands over the bytes together with the ownership.
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
//   - Machine (machine.go) is the protocol as a pure state machine: events in,
//     messages and actions out. It owns no goroutines, sockets, clocks, bytes
//     or logging, so whole clusters of machines can be simulated in one
//     process, deterministically.
//   - Node (node.go) is the one driver. It runs a Machine under a mutex and
//     reaches the world only through the small interfaces declared in
//     ports.go: a Transport to the peers, a PageStore for the bytes of the
//     pages held here and a Kernel that takes pages away from local programs.
//
// Beside the protocol, the driver carries what rides on the same
// connections without changing ownership: the cluster's file-lock table on
// node 0 (locks.go, lockserver.go, lockclient.go), owner queries for
// `dsmfs owners` (owners.go), leaving the cluster (leave.go: survivors pull
// the leaver's pages by ordinary requests), and counters (stats.go).
//
// Failures change ownership only through epochs (epoch.go, pure; the
// driver's side in recovery.go): with replicas (replicas.go: copies kept at
// hand-offs and fsync), the lowest live member of a quorum freezes the live
// nodes into a new epoch, plans an owner for every page from what they own
// and the copies they keep, and installs it; page traffic of an earlier
// epoch is dropped. The same change takes a restarted node back in.
//
// This package imports none of dsmfs's other packages; they import it. It
// must never touch the kernel, a socket or the page bytes except through
// its ports.
package owner
