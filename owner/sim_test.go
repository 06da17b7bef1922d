package owner

// A deterministic cluster simulator in the style of etcd-io/raft's rafttest:
// whole clusters of Machines run in one goroutine against a network that
// delivers messages in a seeded random order and a fake kernel whose
// invalidations and hold windows end at random later steps. The simulator
// carries each page's bytes itself (a version number per page per node) and
// every served access writes a new version, so a lost update, a page served
// from stale bytes or a page with two users shows up at the step it happens.

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

var seedFlag = flag.Int64("seed", -1, "run only this TestSimulation seed and log every step")

// simSeeds is how many schedules a full TestSimulation runs; -short runs a
// tenth.
const simSeeds = 3000

// simConfig is one schedule's cluster and workload, derived from its seed.
type simConfig struct {
	nodes, pages int
	hold         bool
	steps        int // random steps before the drain
	// newest is the chance that the network delivers the message sent
	// last rather than a random one: the higher, the longer old
	// messages linger.
	newest float64
	// failures lets nodes crash or be cut off, with recovery from copies
	// (simfail_test.go): at most this many of them, always fewer than
	// half the nodes.
	failures int
}

// simConfigFor derives the cluster from the seed alone, so that -seed
// replays a schedule exactly. Seeds cycle through the cluster sizes so that
// each size gets its share of a run; pages are mostly few, to force
// contention.
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
	return cfg, rng
}

// TestSimulation runs thousands of seeded schedules: a random phase of
// accesses, deliveries and kernel events, then a drain with no new accesses
// that must answer every access and leave each page with one owner holding
// all its writes.
func TestSimulation(t *testing.T) {
	if *seedFlag >= 0 {
		cfg, rng := simConfigFor(*seedFlag)
		s := newSim(t, cfg, rng, replaySeed(*seedFlag))
		s.verbose = true
		s.run()
		t.Logf("%+v: %d writes, longest request path %d hops", cfg, s.totalWrites(), s.maxHops)
		return
	}
	total := int64(simSeeds)
	if testing.Short() {
		total /= 10
	}
	for nodes := 2; nodes <= 8; nodes++ {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			t.Parallel()
			maxHops, runs := 0, 0
			for seed := int64(nodes - 2); seed < total; seed += 7 {
				cfg, rng := simConfigFor(seed)
				s := newSim(t, cfg, rng, replaySeed(seed))
				s.run()
				maxHops = max(maxHops, s.maxHops)
				runs++
			}
			t.Logf("%d schedules, longest request path %d hops (bound %d)", runs, maxHops, nodes-1)
		})
	}
}

func replaySeed(seed int64) string {
	return fmt.Sprintf("go test ./owner -run 'TestSimulation$' -seed=%d -v", seed)
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
	net      []envelope     // in flight, oldest first; delivered in random order
	invals   []invalidation // ActInvalidate not yet reported done
	holds    []nodePage     // ActHold not yet expired
	inFlight []int          // per page: MsgPage envelopes in net

	ver     [][]uint64 // ver[n][p]: the write whose bytes node n's page store holds for page p
	writes  []uint64   // per page: its latest write
	nwrites uint64     // writes so far; each write is named by this count
	mapped  [][]bool   // mapped[n][p]: programs on n use p (served, not invalidated since)
	waiting [][]int    // waiting[n][p]: accesses on n waiting for p
	// abandoned[n][p] counts accesses on n that stopped waiting for p
	// (their READ timed out) and that the kernel will issue again.
	abandoned [][]int
	arrivals  []int // per node: ActServe count
	maxHops   int

	fail *simFailures // nil when cfg.failures is 0
}

func newSim(t *testing.T, cfg simConfig, rng *rand.Rand, replay string) *sim {
	s := &sim{t: t, cfg: cfg, rng: rng, replay: replay,
		inFlight: make([]int, cfg.pages),
		writes:   make([]uint64, cfg.pages),
		arrivals: make([]int, cfg.nodes),
	}
	for n := range cfg.nodes {
		s.ms = append(s.ms, NewMachine(Config{Self: NodeID(n), Nodes: cfg.nodes, Pages: cfg.pages, Hold: cfg.hold}))
		s.ver = append(s.ver, make([]uint64, cfg.pages))
		s.mapped = append(s.mapped, make([]bool, cfg.pages))
		s.waiting = append(s.waiting, make([]int, cfg.pages))
		s.abandoned = append(s.abandoned, make([]int, cfg.pages))
	}
	if cfg.failures > 0 {
		s.fail = newSimFailures(cfg)
	}
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
		s.check()
	}
	// Liveness: with no new accesses every pending event is consumed
	// once, so a correct drain needs at most a request's N-1 hops, a page
	// message, two invalidations of two kernel steps and a hold per
	// waiting (node, page), plus whatever was in flight. Twice that is
	// the budget; running past it means a request is circling or stuck.
	budget := 2 * (s.cfg.nodes*s.cfg.pages*(s.cfg.nodes+6) + len(s.net) + 2*len(s.invals) + len(s.holds) + s.retries()*(s.cfg.nodes+6))
	for drained := 0; s.drainStep(); drained++ {
		if drained == budget {
			s.fatalf("no quiescence after %d drain steps: %d messages in flight, %d invalidations, %d holds, waiting %v",
				budget, len(s.net), len(s.invals), len(s.holds), s.waiting)
		}
		s.step++
		s.check()
	}
	s.checkQuiescent()
}

// randomStep picks one event of the random phase. Local accesses are always
// possible; the others only when something is pending.
func (s *sim) randomStep() {
	for {
		switch r := s.rng.IntN(13); {
		case r == 11 && s.abandon(), r == 12 && s.retry():
			return
		case r == 10:
			if s.fail != nil && s.fail.randomStep(s) {
				return
			}
		case r < 3:
			n := NodeID(s.rng.IntN(s.cfg.nodes))
			if s.fail != nil && !s.fail.alive[n] {
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
		case r >= 9 && len(s.holds) > 0:
			s.expireHold()
			return
		}
	}
}

// drainStep performs one pending event, if any, and reports whether it did.
func (s *sim) drainStep() bool {
	deliverable := len(s.deliverable())
	failures := 0
	if s.fail != nil {
		failures = s.fail.pending()
	}
	retries := s.retries()
	pending := deliverable + len(s.invals) + len(s.holds) + retries + failures
	if pending == 0 {
		return false
	}
	switch k := s.rng.IntN(pending); {
	case k < deliverable:
		s.deliver()
	case k < deliverable+len(s.invals):
		s.kernelStep()
	case k < deliverable+len(s.invals)+len(s.holds):
		s.expireHold()
	case k < deliverable+len(s.invals)+len(s.holds)+retries:
		s.retry()
	default:
		s.fail.drainStep(s)
	}
	return true
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

func (s *sim) access(n NodeID, p PageID) {
	if s.ms[n].Access(p) {
		s.logf("access page %d on node %d: local", p, n)
		s.write(n, p)
	} else {
		s.logf("access page %d on node %d: waits", p, n)
		s.waiting[n][p]++
	}
	s.apply(n, 0)
}

// write is a served access: it reads the page and writes it back one
// version up, so that an access served from stale bytes is a lost update.
func (s *sim) write(n NodeID, p PageID) {
	if s.ver[n][p] != s.writes[p] {
		s.fatalf("node %d served page %d at version %d, latest is %d: lost update", n, p, s.ver[n][p], s.writes[p])
	}
	s.nwrites++
	s.ver[n][p], s.writes[p] = s.nwrites, s.nwrites
	s.mapped[n][p] = true
	if s.fail != nil {
		s.fail.holder[p] = n
	}
}

// deliverable are the indexes in net of the messages no partition holds
// back.
func (s *sim) deliverable() []int {
	var out []int
	for i, env := range s.net {
		if s.fail == nil || !s.fail.held(env.msg) {
			out = append(out, i)
		}
	}
	return out
}

// deliver delivers a message, if one can be, and reports whether it did. A
// message for an epoch its receiver has not installed stays on the wire.
func (s *sim) deliver() bool {
	idx := s.deliverable()
	if len(idx) == 0 {
		return false
	}
	i := idx[len(idx)-1]
	if s.rng.Float64() >= s.cfg.newest {
		i = idx[s.rng.IntN(len(idx))]
	}
	env := s.net[i]
	msg := env.msg
	if s.fail != nil && s.fail.intercept(s, msg) {
		s.net = slices.Delete(s.net, i, i+1)
		return true
	}
	err := s.ms[msg.To].Step(msg)
	switch {
	case errors.Is(err, ErrLater):
		s.logf("not yet: %v", msg)
		return true
	case err != nil:
		s.fatalf("Step: %v", err)
	}
	s.net = slices.Delete(s.net, i, i+1)
	s.logf("deliver %v (hop %d)", msg, env.hops)
	if e, _ := s.ms[msg.To].Epoch(); msg.Epoch < e {
		s.logf("  dropped: from epoch %d", msg.Epoch)
		if msg.Type == MsgPage {
			s.inFlight[msg.Page]--
		}
		return true
	}
	if msg.Type == MsgPage {
		s.inFlight[msg.Page]--
		s.ver[msg.To][msg.Page] = binary.LittleEndian.Uint64(msg.Data)
		if s.fail != nil {
			s.fail.holder[msg.Page] = msg.To
			s.fail.copies[msg.To][msg.Page] = nil
		}
	}
	if forwarded := s.apply(msg.To, env.hops); msg.Type == MsgRequest && !forwarded {
		s.maxHops = max(s.maxHops, env.hops)
	}
	return true
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
	s.invals[i] = s.invals[len(s.invals)-1]
	s.invals = s.invals[:len(s.invals)-1]
	s.logf("invalidate done page %d on node %d", p, n)
	s.ms[n].InvalidateDone(p)
	s.apply(n, 0)
}

func (s *sim) expireHold() {
	i := s.rng.IntN(len(s.holds))
	h := s.holds[i]
	s.holds[i] = s.holds[len(s.holds)-1]
	s.holds = s.holds[:len(s.holds)-1]
	s.logf("hold expires page %d on node %d", h.page, h.node)
	s.ms[h.node].HoldExpired(h.page)
	s.apply(h.node, 0)
}

// apply carries out node n's Ready as node.go does: actions in order, then
// the messages, with each MsgPage taking the bytes from n's page store.
// hops is the path length of the request being stepped, 0 for local
// events. It reports whether a request was sent on.
func (s *sim) apply(n NodeID, hops int) (forwarded bool) {
	rd := s.ms[n].Ready()
	for _, a := range rd.Actions {
		np := nodePage{n, a.Page}
		s.logf("  node %d: %v page %d", n, a.Kind, a.Page)
		switch a.Kind {
		case ActServe:
			if s.waiting[n][a.Page] == 0 && s.abandoned[n][a.Page] == 0 {
				s.fatalf("node %d: serve page %d with no access waiting", n, a.Page)
			}
			for ; s.waiting[n][a.Page] > 0; s.waiting[n][a.Page]-- {
				s.write(n, a.Page)
			}
			s.arrivals[n]++
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
			if env.hops > s.cfg.nodes-1 {
				s.fatalf("%v takes hop %d, more than N-1", msg, env.hops)
			}
			forwarded = true
		case MsgPage:
			if s.mapped[n][msg.Page] {
				s.fatalf("node %d sends page %d while its programs still use it", n, msg.Page)
			}
			env.msg.Data = binary.LittleEndian.AppendUint64(nil, s.ver[n][msg.Page])
			s.inFlight[msg.Page]++
			if s.fail != nil {
				s.fail.keep(n, msg, s.ver[n][msg.Page])
			}
		}
		s.logf("  send %v", msg)
		s.net = append(s.net, env)
	}
	return forwarded
}

// check asserts the safety invariants that hold after every step: each page
// exists exactly once, either at its one owner or in one MsgPage on the
// wire, and only the owner's programs use it.
func (s *sim) check() {
	if s.fail != nil {
		s.fail.check(s)
		return
	}
	for p := range s.cfg.pages {
		var owners []int
		for n, m := range s.ms {
			if m.Owns(PageID(p)) {
				owners = append(owners, n)
			} else if s.mapped[n][p] {
				s.fatalf("programs on node %d use page %d, which it does not own", n, p)
			}
		}
		if len(owners)+s.inFlight[p] != 1 {
			s.fatalf("page %d: owners %v and %d copies in flight", p, owners, s.inFlight[p])
		}
	}
}

// checkQuiescent asserts what must hold once nothing is pending: every
// access was answered, each page has one owner whose bytes hold every write,
// and every node's hints lead to that owner in at most N-1 hops.
func (s *sim) checkQuiescent() {
	for n := range s.cfg.nodes {
		for p, w := range s.waiting[n] {
			if w+s.abandoned[n][p] > 0 {
				s.fatalf("quiescent, but %d accesses on node %d still wait for page %d", w+s.abandoned[n][p], n, p)
			}
		}
	}
	for p := range s.cfg.pages {
		pg := PageID(p)
		owner := -1
		for n, m := range s.ms {
			if s.running(NodeID(n)) && m.Owns(pg) {
				owner = n
			}
		}
		if owner < 0 {
			s.fatalf("quiescent, but page %d has no owner among the running nodes", p)
		}
		if s.ver[owner][p] != s.writes[p] {
			s.fatalf("page %d: owner %d has version %d after %d writes: lost update", p, owner, s.ver[owner][p], s.writes[p])
		}
		for n := range s.cfg.nodes {
			var path []string
			at := NodeID(n)
			if !s.running(at) {
				continue
			}
			for !s.ms[at].Owns(pg) {
				path = append(path, fmt.Sprint(at))
				if len(path) == s.cfg.nodes {
					s.fatalf("page %d: hints from node %d do not lead to owner %d: %s", p, n, owner, strings.Join(path, "->"))
				}
				if at = s.ms[at].Owner(pg); at == None || !s.running(at) {
					s.fatalf("page %d: hints from node %d lead to stopped node %v", p, n, at)
				}
			}
		}
	}
}

func (s *sim) totalWrites() uint64 { return s.nwrites }

// running reports whether node n has not crashed or fenced itself.
func (s *sim) running(n NodeID) bool { return s.fail == nil || s.fail.alive[n] }
