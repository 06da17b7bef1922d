package owner

// A deterministic cluster simulator in the style of etcd-io/raft's rafttest:
// whole clusters of Machines run in one goroutine against a network that
// keeps the transport contract (per-pair order, loss only with a
// connection, PeerLost after the last delivery) and otherwise delivers in a
// seeded random order, and a fake kernel whose invalidations and hold
// windows end at random later steps. Failures, recovery, rejoin and leave
// (simfail_test.go) run through the same Machines as in production: the
// simulator only plays the transport, the kernel, the timers and the
// driver's byte moves. It carries each page's bytes itself (a write number
// per page per node) and every served access writes a new one, so a lost
// update, a page served from stale bytes or a page with two users shows up
// at the step it happens.

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var seedFlag = flag.Int64("seed", -1, "run only this TestSimulation (or TestSimulationFailures) seed and log every step")

// simSeeds is how many schedules a full TestSimulation runs; -short runs a
// tenth.
const simSeeds = 3000

// simConfig is one schedule's cluster and workload, derived from its seed.
type simConfig struct {
	nodes, pages int
	hold         bool
	steps        int // random steps before the drain
	// newest is the chance that the network delivers on the connection
	// written last rather than on a random one: the higher, the longer
	// old messages linger.
	newest float64
	// replicas are the copies kept of each page; failures (crashes and
	// cut-offs, always fewer than half the nodes) need at least one.
	replicas int
	failures int
	// leaves is how many nodes leave gracefully.
	leaves int
	// reads: programs also read through segment.ro (simread_test.go).
	reads bool
}

// simConfigFor derives the cluster from the seed alone, so that -seed
// replays a schedule exactly. Seeds cycle through the cluster sizes so that
// each size gets its share of a run; pages are mostly few, to force
// contention. One schedule in four has a node leave.
func simConfigFor(seed int64) (simConfig, *rand.Rand) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	cfg := simConfig{
		nodes: 2 + int(seed%7),
		hold:  seed/7%2 == 1,
		pages: 1 + rng.IntN(1+rng.IntN(16)),
		steps: 200 + rng.IntN(1800),
	}
	if rng.IntN(2) == 0 {
		cfg.newest = rng.Float64() / 2
	}
	if cfg.nodes > 2 && rng.IntN(4) == 0 {
		cfg.leaves = 1
	}
	cfg.reads = seed%4 != 0
	return cfg, rng
}

// TestSimulation runs thousands of seeded schedules: a random phase of
// accesses (through segment and, in three schedules of four, through
// segment.ro), deliveries, kernel events and leaves, then a drain with no new
// accesses that must answer every access and leave each page with one
// owner holding all its writes.
func TestSimulation(t *testing.T) {
	if *seedFlag >= 0 {
		cfg, rng := simConfigFor(*seedFlag)
		s := newSim(t, cfg, rng, replaySeed("TestSimulation", *seedFlag))
		s.verbose = true
		s.run()
		t.Logf("%+v: %d writes, longest request path %d hops", cfg, s.nwrites, s.maxHops)
		return
	}
	total := int64(simSeeds)
	if testing.Short() {
		total /= 10
	}
	for nodes := 2; nodes <= 8; nodes++ {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			t.Parallel()
			maxHops, runs, left := 0, 0, 0
			for seed := int64(nodes - 2); seed < total; seed += 7 {
				cfg, rng := simConfigFor(seed)
				s := newSim(t, cfg, rng, replaySeed("TestSimulation", seed))
				s.run()
				maxHops = max(maxHops, s.maxHops)
				runs++
				left += s.left
			}
			t.Logf("%d schedules, %d nodes left, longest request path %d hops (bound %d)", runs, left, maxHops, nodes-1)
		})
	}
}

func replaySeed(test string, seed int64) string {
	return fmt.Sprintf("go test ./owner -run '%s$' -seed=%d -v", test, seed)
}

// TestHoldProgress checks that the hold window cannot starve anyone: two
// nodes keep faulting on a single page, and each must get it many times.
func TestHoldProgress(t *testing.T) {
	const steps = 4000
	for seed := range int64(10) {
		rng := rand.New(rand.NewPCG(uint64(seed), 0x401d))
		s := newSim(t, simConfig{nodes: 2, pages: 1, hold: true, steps: steps}, rng,
			fmt.Sprintf("go test ./owner -run 'TestHoldProgress$' -v (seed %d)", seed))
		s.run()
		// A visit takes a request, two kernel steps per invalidation,
		// the page and a hold that expires on one step in ten: about
		// forty steps here. A page stuck at one node would get nowhere
		// near a fifth of that.
		for n, got := range s.arrivals {
			if got < steps/200 {
				t.Fatalf("seed %d: node %d got the page only %d times in %d steps (arrivals %v)", seed, n, got, steps, s.arrivals)
			}
		}
	}
}

// envelope is a message in flight.
type envelope struct {
	msg Message
	// hops counts the messages a request has taken so far, this one
	// included.
	hops int
}

// pipe is the connection from one node to another, one way, as the
// transport contract has it: its messages in order. Once sealed (its
// sender closed it, or stopped) it takes no new message but delivers what
// it has; once closed (its receiver stopped reading) it delivers nothing.
type pipe struct {
	queue          []envelope
	sealed, closed bool
}

type nodePage struct {
	node NodeID
	page PageID
}

// invalidation is the fake kernel taking a page from one node's programs. It
// ends in two steps, like the real one: the kernel drops the mappings, then
// the driver reports InvalidateDone; a local access may map the page again
// in between, which is what Machine's touched rule is for.
type invalidation struct {
	nodePage
	dropped bool
}

type sim struct {
	t       *testing.T
	cfg     simConfig
	rng     *rand.Rand
	replay  string // the command that reruns this schedule
	verbose bool
	step    int

	ms       []*Machine
	running  []bool              // not crashed, fenced, or gone after a leave
	pipes    [][]*pipe           // by from, to
	deferred [][]envelope        // per node: messages from an epoch not installed there yet
	invals   []invalidation      // ActInvalidate not yet reported done
	holds    []nodePage          // ActHold not yet expired
	inFlight []int               // per page: MsgPage envelopes in the pipes
	ver      [][]uint64          // ver[n][p]: the write whose bytes node n's page store holds for page p
	copies   []map[PageID]uint64 // copies[n][p]: the write a copy kept on n holds
	writes   []uint64            // per page: its latest write
	nwrites  uint64              // writes so far; each write is named by this count
	mapped   [][]bool            // mapped[n][p]: programs on n use p (served, not invalidated since)
	waiting  [][]int             // waiting[n][p]: accesses on n waiting for p
	// abandoned[n][p] counts accesses on n that stopped waiting for p
	// (their READ timed out) and that the kernel will issue again.
	abandoned [][]int
	arrivals  []int    // per node: pages it received
	epochs    []uint32 // per node: the epoch it was in at its last Ready
	maxHops   int

	leaves map[NodeID]*simLeave // nodes leaving
	left   int                  // nodes that left
	fail   *simFailures         // nil unless the schedule has failures
	reads  simReads             // accesses through segment.ro (simread_test.go)
}

func newSim(t *testing.T, cfg simConfig, rng *rand.Rand, replay string) *sim {
	s := &sim{t: t, cfg: cfg, rng: rng, replay: replay,
		inFlight: make([]int, cfg.pages),
		writes:   make([]uint64, cfg.pages),
		arrivals: make([]int, cfg.nodes),
		epochs:   make([]uint32, cfg.nodes),
		leaves:   map[NodeID]*simLeave{},
	}
	for n := range NodeID(cfg.nodes) {
		s.ms = append(s.ms, NewMachine(Config{Self: n, Nodes: cfg.nodes, Pages: cfg.pages, Hold: cfg.hold, Replicas: cfg.replicas}))
		s.running = append(s.running, true)
		s.deferred = append(s.deferred, nil)
		s.ver = append(s.ver, make([]uint64, cfg.pages))
		s.copies = append(s.copies, map[PageID]uint64{})
		s.mapped = append(s.mapped, make([]bool, cfg.pages))
		s.waiting = append(s.waiting, make([]int, cfg.pages))
		s.abandoned = append(s.abandoned, make([]int, cfg.pages))
	}
	for a := range NodeID(cfg.nodes) {
		s.pipes = append(s.pipes, make([]*pipe, cfg.nodes))
		for b := range NodeID(cfg.nodes) {
			if a != b {
				s.pipes[a][b] = &pipe{}
			}
		}
	}
	if cfg.failures > 0 {
		s.fail = newSimFailures(cfg)
	}
	s.reads = newSimReads(cfg)
	return s
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("step %d of %+v: %s\nreplay: %s", s.step, s.cfg, fmt.Sprintf(format, args...), s.replay)
}

func (s *sim) logf(format string, args ...any) {
	if s.verbose {
		s.t.Logf("step %d: %s", s.step, fmt.Sprintf(format, args...))
	}
}

// run plays the random phase, then drains to quiescence.
func (s *sim) run() {
	s.check()
	for range s.cfg.steps {
		s.step++
		s.randomStep()
		if s.fail != nil {
			s.fail.stranger(s)
		}
		s.check()
	}
	// Liveness: with no new accesses every pending event is consumed
	// once, so a correct drain needs at most a request's N-1 hops, a page
	// message, two invalidations of two kernel steps and a hold per
	// waiting (node, page), a few recoveries, plus whatever was in
	// flight. Twice that is the budget; running past it means a request
	// is circling or stuck.
	inFlight := 0
	s.eachPipe(func(_, _ NodeID, p *pipe) { inFlight += len(p.queue) })
	perPage := s.cfg.nodes + 6
	budget := 2 * (2*s.cfg.nodes*s.cfg.pages*perPage + inFlight + 2*len(s.invals) + 2*len(s.reads.invals) + len(s.holds) + s.retries()*perPage)
	if s.fail != nil || len(s.leaves) > 0 {
		budget += 40 * s.cfg.nodes * (s.cfg.nodes + s.cfg.pages)
	}
	for drained := 0; s.drainStep(); drained++ {
		if drained == budget {
			s.fatalf("no quiescence after %d drain steps: %s", budget, s.pending())
		}
		s.step++
		s.check()
	}
	s.checkQuiescent()
}

// randomStep picks one event of the random phase. Local accesses are always
// possible; the others only when something is pending.
func (s *sim) randomStep() {
	if !slices.Contains(s.running, true) {
		return // every node stopped: only a restart could change anything
	}
	for {
		switch r := s.rng.IntN(16); {
		case r >= 14:
			if s.cfg.reads && s.reads.randomStep(s) {
				return
			}
		case r == 10 && s.fail != nil:
			if s.fail.randomStep(s) {
				return
			}
		case r == 11 && s.leaveStep(true), r == 12 && s.abandon(), r == 13 && s.retry():
			return
		case r < 3:
			n := NodeID(s.rng.IntN(s.cfg.nodes))
			if !s.running[n] {
				continue
			}
			s.access(n, PageID(s.rng.IntN(s.cfg.pages)))
			return
		case r < 4 && len(s.invals) > 0:
			// A page that is leaving: the access that exercises touched.
			iv := s.invals[s.rng.IntN(len(s.invals))]
			s.access(iv.node, iv.page)
			return
		case r >= 4 && r < 7 && s.deliver():
			return
		case r >= 7 && r < 9 && len(s.invals) > 0:
			s.kernelStep()
			return
		case r == 9 && len(s.holds) > 0:
			s.expireHold()
			return
		}
	}
}

// drainStep performs one pending event, if any, and reports whether it did.
func (s *sim) drainStep() bool {
	events := []func() bool{s.deliver, s.kernelStepIf, s.expireHoldIf, s.retry, func() bool { return s.leaveStep(false) }, s.reads.kernelStepIf(s)}
	if s.fail != nil {
		events = append(events, func() bool { return s.fail.drainStep(s) })
	}
	for _, i := range s.rng.Perm(len(events)) {
		if events[i]() {
			return true
		}
	}
	return false
}

func (s *sim) kernelStepIf() bool {
	if len(s.invals) == 0 {
		return false
	}
	s.kernelStep()
	return true
}

func (s *sim) expireHoldIf() bool {
	if len(s.holds) == 0 {
		return false
	}
	s.expireHold()
	return true
}

// pending describes what is left, for a failed drain.
func (s *sim) pending() string {
	var b strings.Builder
	s.eachPipe(func(from, to NodeID, p *pipe) {
		if len(p.queue) > 0 {
			fmt.Fprintf(&b, "pipe %d->%d (closed %v): %d messages, first %v\n", from, to, p.closed, len(p.queue), p.queue[0].msg)
		}
	})
	fmt.Fprintf(&b, "%d invalidations, %d holds, waiting %v, abandoned %v, running %v", len(s.invals), len(s.holds), s.waiting, s.abandoned, s.running)
	fmt.Fprintf(&b, "\nread copies: %d invalidations, waiting %v", len(s.reads.invals), s.reads.waiting)
	for n, m := range s.ms {
		for p, c := range m.readCopies {
			fmt.Fprintf(&b, "\nnode %d holds a read copy of page %d: %+v", n, p, *c)
		}
		for p, cs := range m.copySets {
			fmt.Fprintf(&b, "\nnode %d page %d: phase %d shared %v holders %v revoking %v readers %v", n, p, m.pages[p].phase, m.pages[p].shared, cs.holders.ids(), cs.revoking.ids(), cs.readers.ids())
		}
	}
	for n, m := range s.ms {
		e, frozen := m.Epoch()
		fmt.Fprintf(&b, "\nnode %d: epoch %d frozen %v coordinating %v deferred %d members %v dead %v leaving %v", n, e, frozen, m.coord != nil, len(s.deferred[n]), m.group.members, m.group.dead, m.group.leaving)
	}
	for n, l := range s.leaves {
		m := s.ms[n]
		fmt.Fprintf(&b, "\nnode %d leaving: sent left %v, acks %v, held %d, handed off %v, changed %v", n, l.sentLeft, l.acks, m.Held(), m.handedOff, m.group.Changed())
	}
	if s.fail != nil {
		b.WriteString("\n" + s.fail.String())
	}
	return b.String()
}

func (s *sim) access(n NodeID, p PageID) {
	switch r := s.ms[n].Access(p); r {
	case AccessHere:
		s.logf("access page %d on node %d: local", p, n)
		s.write(n, p)
	case AccessWaits:
		s.logf("access page %d on node %d: waits", p, n)
		s.waiting[n][p]++
	case AccessClosed:
		if !s.ms[n].closing {
			s.fatalf("node %d refused an access to page %d, but it is not closing", n, p)
		}
		s.logf("access page %d on node %d: refused, the node leaves", p, n)
	default:
		s.fatalf("access to page %d on node %d failed (%d) with no node lost", p, n, r)
	}
	s.apply(n, nil, 0)
}

// write is a served access: it reads the page and writes it back one
// version up, so that an access served from stale bytes is a lost update.
func (s *sim) write(n NodeID, p PageID) {
	if s.ver[n][p] != s.writes[p] {
		s.fatalf("node %d served page %d at write %d, latest is %d: lost update", n, p, s.ver[n][p], s.writes[p])
	}
	s.nwrites++
	s.ver[n][p], s.writes[p] = s.nwrites, s.nwrites
	s.mapped[n][p] = true
}

// held reports whether a partition holds back the pipe from a to b.
func (s *sim) held(a, b NodeID) bool { return s.fail != nil && s.fail.cut[a] != s.fail.cut[b] }

// eachPipe calls f for every pipe, in order.
func (s *sim) eachPipe(f func(from, to NodeID, p *pipe)) {
	for a, row := range s.pipes {
		for b, p := range row {
			if p != nil {
				f(NodeID(a), NodeID(b), p)
			}
		}
	}
}

// deliverable are the pipes with a message to deliver now.
func (s *sim) deliverable() [][2]NodeID {
	var out [][2]NodeID
	s.eachPipe(func(from, to NodeID, p *pipe) {
		if len(p.queue) > 0 && !p.closed && !s.held(from, to) {
			out = append(out, [2]NodeID{from, to})
		}
	})
	return out
}

// deliver delivers the first message of a pipe, if one can be, and
// reports whether it did.
func (s *sim) deliver() bool {
	ks := s.deliverable()
	if len(ks) == 0 {
		return false
	}
	k := ks[s.rng.IntN(len(ks))]
	if s.rng.Float64() < s.cfg.newest {
		k = ks[len(ks)-1]
	}
	p := s.pipes[k[0]][k[1]]
	env := p.queue[0]
	p.queue = p.queue[1:]
	if env.msg.Type == MsgPage {
		s.inFlight[env.msg.Page]--
	}
	s.receive(env)
	return true
}

// receive steps a delivered message as the driver does: one from an epoch
// not installed yet waits for ActInstalled.
func (s *sim) receive(env envelope) {
	msg := env.msg
	to := msg.To
	switch msg.Type {
	case MsgReplicaAck:
		return // the driver's sync bookkeeping
	case MsgLeftAck:
		if l := s.leaves[to]; l != nil {
			delete(l.acks, msg.From)
		}
		return
	}
	err := s.ms[to].Step(msg)
	switch {
	case errors.Is(err, ErrLater):
		s.logf("held back for a later epoch: %v", msg)
		s.deferred[to] = append(s.deferred[to], env)
		return
	case err != nil:
		s.fatalf("node %d: Step(%v): %v", to, msg, err)
	}
	s.logf("deliver %v (hop %d)", msg, env.hops)
	if forwarded := s.apply(to, &msg, env.hops); msg.Type == MsgRequest && !forwarded {
		s.maxHops = max(s.maxHops, env.hops)
	}
}

// kernelStep advances a random pending invalidation by one of its two steps.
func (s *sim) kernelStep() {
	i := s.rng.IntN(len(s.invals))
	iv := &s.invals[i]
	if !iv.dropped {
		s.logf("kernel drops page %d on node %d", iv.page, iv.node)
		iv.dropped = true
		s.mapped[iv.node][iv.page] = false
		return
	}
	n, p := iv.node, iv.page
	s.invals = slices.Delete(s.invals, i, i+1)
	s.logf("invalidate done page %d on node %d", p, n)
	s.ms[n].InvalidateDone(p)
	s.apply(n, nil, 0)
}

func (s *sim) expireHold() {
	i := s.rng.IntN(len(s.holds))
	h := s.holds[i]
	s.holds = slices.Delete(s.holds, i, i+1)
	s.logf("hold expires page %d on node %d", h.page, h.node)
	s.ms[h.node].HoldExpired(h.page)
	s.apply(h.node, nil, 0)
}

// abandon has a random waiting access stop waiting, as a READ does when
// its timeout passes; the kernel issues it again later (retry). The
// machine is not told: the page still comes, and must be kept for the
// retry or handed on, never lost. It reports whether an access waited.
func (s *sim) abandon() bool {
	var waits []nodePage
	for n := range s.waiting {
		for p, w := range s.waiting[n] {
			if w > 0 {
				waits = append(waits, nodePage{NodeID(n), PageID(p)})
			}
		}
	}
	if len(waits) == 0 {
		return false
	}
	w := waits[s.rng.IntN(len(waits))]
	s.logf("access to page %d on node %d gives up waiting", w.page, w.node)
	s.waiting[w.node][w.page]--
	s.abandoned[w.node][w.page]++
	return true
}

// retry issues an abandoned access again, and reports whether there was one.
func (s *sim) retry() bool {
	for n := range s.abandoned {
		for p, a := range s.abandoned[n] {
			if a > 0 {
				s.abandoned[n][p]--
				s.logf("the kernel retries the access")
				s.access(NodeID(n), PageID(p))
				return true
			}
		}
	}
	return false
}

// retries counts the abandoned accesses the kernel has yet to retry.
func (s *sim) retries() int {
	total := 0
	for n := range s.abandoned {
		for _, a := range s.abandoned[n] {
			total += a
		}
	}
	return total
}

// dataOf is a page message's bytes: the write they hold.
func dataOf(write uint64) []byte { return binary.LittleEndian.AppendUint64(nil, write) }

// apply carries out node n's Ready as node.go does: actions in order, then
// the messages. in is the message just stepped, hops its path length for a
// request (0 for local events). It reports whether a request was sent on.
func (s *sim) apply(n NodeID, in *Message, hops int) (forwarded bool) {
	if e, _ := s.ms[n].Epoch(); e != s.epochs[n] {
		// A new epoch ends hold windows; the driver's timers fire later
		// and find nothing held.
		s.epochs[n] = e
		s.holds = slices.DeleteFunc(s.holds, func(h nodePage) bool { return h.node == n })
	}
	rd := s.ms[n].Ready()
	for _, a := range rd.Actions {
		np := nodePage{n, a.Page}
		s.logf("  node %d: %v", n, a)
		switch a.Kind {
		case ActTakePage:
			s.ver[n][a.Page] = binary.LittleEndian.Uint64(in.Data)
			s.arrivals[n]++
		case ActServe:
			if s.waiting[n][a.Page] == 0 && s.abandoned[n][a.Page] == 0 && !s.ms[n].cfg.Rejoin {
				s.fatalf("node %d: serve page %d with no access waiting", n, a.Page)
			}
			for ; s.waiting[n][a.Page] > 0; s.waiting[n][a.Page]-- {
				s.write(n, a.Page)
			}
		case ActFail:
			s.checkFail(n, a.Page)
			s.waiting[n][a.Page] = 0
			s.reads.waiting[n][a.Page] = 0
		case ActServeRead, ActTakeReadCopy, ActDropReadCopy, ActInvalidateRead, ActPromoteRead:
			s.reads.apply(s, n, a, in)
		case ActInvalidate:
			for _, iv := range s.invals {
				if iv.nodePage == np {
					s.fatalf("node %d: second invalidation of page %d before the first is done", n, a.Page)
				}
			}
			for _, h := range s.holds {
				if h == np {
					s.fatalf("node %d: gives page %d away inside its hold window", n, a.Page)
				}
			}
			s.invals = append(s.invals, invalidation{nodePage: np})
		case ActHold:
			if !s.cfg.hold {
				s.fatalf("node %d: hold on page %d without Config.Hold", n, a.Page)
			}
			s.holds = append(s.holds, np)
		case ActKeepCopy:
			s.copies[n][a.Page] = s.ver[n][a.Page]
		case ActStoreCopy:
			s.copies[n][a.Page] = binary.LittleEndian.Uint64(in.Data)
		case ActDropCopy:
			delete(s.copies[n], a.Page)
		case ActPromote:
			s.promote(n, a.Page)
		case ActDisconnect:
			s.disconnect(n, a.Node)
		case ActReportTimer, ActFenceTimer:
			if s.fail == nil {
				s.fatalf("node %d: %v with no failure in the schedule", n, a)
			}
			s.fail.timers = append(s.fail.timers, simTimer{node: n, kind: a.Kind, epoch: a.Epoch})
		case ActInstalled:
			if s.fail == nil {
				s.fatalf("node %d: %v with no failure in the schedule", n, a)
			}
			s.fail.installs++
			deferred := s.deferred[n]
			s.deferred[n] = nil
			defer func() {
				for _, env := range deferred {
					s.receive(env)
				}
			}()
		default:
			s.fatalf("node %d: unknown action %v", n, a)
		}
	}
	for _, msg := range rd.Messages {
		if msg.From != n || int(msg.To) >= s.cfg.nodes || msg.To == n {
			s.fatalf("node %d sends %v", n, msg)
		}
		env := envelope{msg: msg}
		switch msg.Type {
		case MsgRequest:
			// A request never passes its requester or any node twice,
			// so it reaches the tail in at most N-1 hops.
			env.hops = hops + 1
			if env.hops > s.cfg.nodes-1 && s.fail == nil && len(s.leaves) == 0 {
				s.fatalf("%v takes hop %d, more than N-1", msg, env.hops)
			}
			forwarded = true
		case MsgPage:
			if s.mapped[n][msg.Page] {
				s.fatalf("node %d sends page %d while its programs still use it", n, msg.Page)
			}
			env.msg.Data = dataOf(s.ver[n][msg.Page])
		case MsgReplica:
			env.msg.Data = dataOf(s.copies[n][msg.Page])
		case MsgReadCopy:
			if !s.ms[n].Owns(msg.Page) {
				s.fatalf("node %d sends a read copy of page %d, which it does not own", n, msg.Page)
			}
			env.msg.Data = dataOf(s.ver[n][msg.Page])
		}
		s.logf("  send %v", msg)
		s.sendEnvelope(env)
	}
	return forwarded
}

// sendEnvelope puts env on its pipe; a closed pipe loses it, as a send to
// a connection that ended fails.
func (s *sim) sendEnvelope(env envelope) {
	p := s.pipes[env.msg.From][env.msg.To]
	if p.closed || p.sealed {
		s.logf("  lost: the connection to node %d is closed", env.msg.To)
		return
	}
	if env.msg.Type == MsgPage {
		s.inFlight[env.msg.Page]++
	}
	p.queue = append(p.queue, env)
}

// closePipe stops delivery on the pipe from a to b: what is on it is lost.
func (s *sim) closePipe(a, b NodeID) {
	p := s.pipes[a][b]
	for _, env := range p.queue {
		if env.msg.Type == MsgPage {
			s.inFlight[env.msg.Page]--
		}
	}
	p.queue, p.closed = nil, true
}

// checkFail checks that waiting accesses to page p on node n may fail:
// without copies, its owner is a node that is gone; with them, never.
func (s *sim) checkFail(n NodeID, p PageID) {
	if s.cfg.replicas > 0 {
		s.fatalf("node %d fails accesses to page %d although the cluster keeps copies", n, p)
	}
}

// promote is node n taking page p over from its copy in a recovery: a
// write may be lost only if no running node kept it.
func (s *sim) promote(n NodeID, p PageID) {
	s.promoteWrite(n, p, s.copies[n][p]) // no copy: 0, the start content
}

// promoteWrite is node n taking page p over at write w.
func (s *sim) promoteWrite(n NodeID, p PageID, w uint64) {
	if w != s.writes[p] {
		for m := range NodeID(s.cfg.nodes) {
			if !s.running[m] {
				continue
			}
			if c, ok := s.copies[m][p]; ok && c == s.writes[p] || s.ms[m].Owns(p) && s.ver[m][p] == s.writes[p] {
				s.fatalf("node %d promotes page %d at write %d, but node %d keeps write %d", n, p, w, m, s.writes[p])
			}
		}
		s.logf("page %d rolls back from write %d to %d: the nodes that held it failed", p, s.writes[p], w)
		s.writes[p] = w
	}
	s.ver[n][p] = w
}

// check asserts the safety invariants that hold after every step: each page
// is owned by at most one running node, counting hand-offs on the wire
// their receiver would take (exactly one when no node failed), and only the
// owner's programs use it.
func (s *sim) check() {
	taken := make([]int, s.cfg.pages) // hand-offs their receivers would take, by page
	s.eachPipe(func(_, to NodeID, pp *pipe) {
		for _, env := range pp.queue {
			if env.msg.Type == MsgPage && s.running[to] {
				if e, _ := s.ms[to].Epoch(); e == env.msg.Epoch {
					taken[env.msg.Page]++
				}
			}
		}
	})
	for n, d := range s.deferred {
		for _, env := range d {
			if env.msg.Type == MsgPage && s.running[n] {
				taken[env.msg.Page]++ // it may be taken once its epoch is installed
			}
		}
	}
	for p := range s.cfg.pages {
		pg := PageID(p)
		var owners []int
		for n, m := range s.ms {
			if !s.running[n] {
				continue
			}
			if m.Owns(pg) {
				owners = append(owners, n)
			} else if s.mapped[n][p] {
				s.fatalf("programs on node %d use page %d, which it does not own", n, p)
			}
		}
		switch {
		case len(owners)+taken[p] > 1:
			s.fatalf("page %d: owners %v and %d hand-offs that would be taken", p, owners, taken[p])
		case s.fail == nil && len(owners)+s.inFlight[p] != 1:
			s.fatalf("page %d: owners %v and %d copies in flight", p, owners, s.inFlight[p])
		}
	}
	s.reads.check(s)
}

// checkQuiescent asserts what must hold once nothing is pending: every
// access was answered, each page has one running owner whose bytes hold
// every write that was not lost with a failed node, and every running
// node's hints lead to that owner.
func (s *sim) checkQuiescent() {
	for n := range s.cfg.nodes {
		if !s.running[n] {
			continue
		}
		for p, w := range s.waiting[n] {
			if w+s.abandoned[n][p] > 0 {
				s.fatalf("quiescent, but %d accesses on node %d still wait for page %d:\n%s", w+s.abandoned[n][p], n, p, s.pending())
			}
			if r := s.reads.waiting[n][p]; r > 0 {
				s.fatalf("quiescent, but %d accesses through segment.ro on node %d still wait for page %d:\n%s", r, n, p, s.pending())
			}
		}
		if e, frozen := s.ms[n].Epoch(); frozen {
			s.fatalf("quiescent, but node %d is frozen in epoch %d", n, e)
		}
	}
	for p := range s.cfg.pages {
		pg := PageID(p)
		owner := -1
		for n, m := range s.ms {
			if s.running[n] && m.Owns(pg) {
				owner = n
			}
		}
		if owner < 0 {
			s.fatalf("quiescent, but page %d has no owner among the running nodes:\n%s", p, s.pending())
		}
		if s.ver[owner][p] != s.writes[p] {
			s.fatalf("page %d: owner %d has write %d, the latest is %d: lost update", p, owner, s.ver[owner][p], s.writes[p])
		}
		for n := range s.cfg.nodes {
			var path []string
			at := NodeID(n)
			if !s.running[at] {
				continue
			}
			for !s.ms[at].Owns(pg) {
				path = append(path, fmt.Sprint(at))
				if len(path) == s.cfg.nodes {
					s.fatalf("page %d: hints from node %d do not lead to owner %d: %s", p, n, owner, strings.Join(path, "->"))
				}
				if at = s.ms[at].Owner(pg); at == None || !s.running[at] {
					s.fatalf("page %d: hints from node %d lead to stopped node %v (%s)", p, n, at, strings.Join(path, "->"))
				}
			}
		}
	}
}
