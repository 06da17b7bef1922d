package owner

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Counters are what a Machine has done, for observability only.
type Counters struct {
	Forwarded       uint64 // requests passed on towards the tail of a queue
	Queued          uint64 // requests queued behind a page on its way or in its hold window
	HoldWaits       uint64 // of those, requests that found the page here but inside its hold window
	Invalidations   uint64 // times local programs were asked to give a page up
	Reinvalidations uint64 // of those, repeats because a local access came in during one
	Recoveries      uint64 // epochs installed after a node was lost or rejoined
	Promoted        uint64 // pages this node took over from a copy in recovery
	Stale           uint64 // messages from an earlier epoch, dropped
	Strangers       uint64 // messages from nodes that are not members of this epoch, dropped
	CopiesSent      uint64 // read copies this node gave other nodes
	CopiesTaken     uint64 // read copies this node got from owners
	Revocations     uint64 // read copies this node took back before a page was written or moved
}

// LatencyBuckets are the upper bounds of the fault latency histogram.
var LatencyBuckets = []time.Duration{
	10 * time.Microsecond, 20 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	time.Second, 10 * time.Second,
}

// Stats is a snapshot of a node's activity since it started.
type Stats struct {
	Counters
	LocalAccesses     uint64      // accesses served at once: the page was here
	RemoteFaults      uint64      // accesses that waited for a page and got it
	FaultErrors       uint64      // accesses that failed: timeout, dead owner, shutdown
	Interrupted       uint64      // accesses a signal interrupted while they waited; they waited on
	ReadaheadDeclined uint64      // reads over several pages declined (see ReadAt)
	PagesIn, PagesOut []uint64    // by peer NodeID
	BytesIn, BytesOut uint64      // page bytes received and sent
	ProtocolErrors    uint64      // messages from peers that broke the protocol
	SendErrors        uint64      // messages that could not be sent
	Syncs             uint64      // msync/fsync calls that made copies
	Copies            int         // copies of other nodes' pages kept here now
	ReadCopies        int         // pages local programs may read through segment.ro now
	Owned             int         // pages this node owns now
	Peers             []PeerState // by NodeID: what this node knows of each member
	// FaultLatency counts remote faults by LatencyBuckets, plus one
	// overflow bucket; FaultLatencySum is their total.
	FaultLatency    []uint64
	FaultLatencySum time.Duration
	// FaultP50, FaultP99 are over the most recent remote faults.
	FaultP50, FaultP99 time.Duration
	// Stages are the medians of the most recent remote faults' stages,
	// by Stage (see stages.go).
	Stages [numStages]time.Duration
}

// recentFaults is how many remote fault latencies the percentiles cover.
const recentFaults = 4096

// stats counts without taking the node's mu: the counters are atomic and
// the latency record has its own lock.
type stats struct {
	localAccesses, remoteFaults, faultErrors, readaheadDeclined atomic.Uint64
	bytesIn, bytesOut, protocolErrors, sendErrors               atomic.Uint64
	syncs, interrupted                                          atomic.Uint64
	pagesIn, pagesOut                                           []atomic.Uint64 // by peer

	mu      sync.Mutex
	buckets []uint64      // guarded by mu
	sum     time.Duration // guarded by mu
	recent  window        // guarded by mu
}

func newStats(nodes int) *stats {
	return &stats{
		pagesIn:  make([]atomic.Uint64, nodes),
		pagesOut: make([]atomic.Uint64, nodes),
		buckets:  make([]uint64, len(LatencyBuckets)+1),
	}
}

func (s *stats) fault(d time.Duration) {
	s.remoteFaults.Add(1)
	i, _ := slices.BinarySearch(LatencyBuckets, d)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[i]++
	s.sum += d
	s.recent.add(d)
}

func (s *stats) snapshot(c Counters) Stats {
	st := Stats{
		Counters:          c,
		LocalAccesses:     s.localAccesses.Load(),
		RemoteFaults:      s.remoteFaults.Load(),
		FaultErrors:       s.faultErrors.Load(),
		Interrupted:       s.interrupted.Load(),
		ReadaheadDeclined: s.readaheadDeclined.Load(),
		BytesIn:           s.bytesIn.Load(),
		BytesOut:          s.bytesOut.Load(),
		ProtocolErrors:    s.protocolErrors.Load(),
		SendErrors:        s.sendErrors.Load(),
		Syncs:             s.syncs.Load(),
	}
	for i := range s.pagesIn {
		st.PagesIn = append(st.PagesIn, s.pagesIn[i].Load())
		st.PagesOut = append(st.PagesOut, s.pagesOut[i].Load())
	}
	s.mu.Lock()
	st.FaultLatency = slices.Clone(s.buckets)
	st.FaultLatencySum = s.sum
	st.FaultP50, st.FaultP99 = s.recent.percentile(50), s.recent.percentile(99)
	s.mu.Unlock()
	return st
}

// PeerState is what a node knows of a member.
type PeerState uint8

const (
	PeerUp      PeerState = iota // a member it has not lost (itself included)
	PeerLeaving                  // said it leaves, and hands its pages on
	PeerLeft                     // said it leaves, and is gone
	PeerDead                     // lost: it died, fell silent or was cut off
)

func (s PeerState) String() string {
	return [...]string{"up", "leaving", "left", "dead"}[s]
}

// Stats returns a snapshot of the node's activity.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	c := n.m.Counters()
	copies, readCopies := n.m.Copies(), n.m.ReadCopies()
	owned := 0
	for p := range PageID(n.m.Pages()) {
		if n.m.Owns(p) {
			owned++
		}
	}
	peers := make([]PeerState, n.cfg.Nodes)
	for id := range peers {
		g := n.m.Group()
		switch leaving, dead := g.Leaving(NodeID(id)), g.Dead(NodeID(id)); {
		case leaving && dead:
			peers[id] = PeerLeft
		case leaving:
			peers[id] = PeerLeaving
		case dead:
			peers[id] = PeerDead
		}
	}
	n.mu.Unlock()
	st := n.stats.snapshot(c)
	st.Stages = n.stages.medians()
	st.Copies, st.ReadCopies, st.Owned, st.Peers = copies, readCopies, owned, peers
	return st
}
