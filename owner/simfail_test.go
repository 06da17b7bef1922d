package owner

// Failures in the simulator: nodes crash, or are cut off by a partition and
// fence themselves, while the others recover their pages from copies, as
// recovery.go drives it, one step at a time among all the other events.
//
// The model follows the driver: a node that hands a page on keeps a copy of
// what it sent; a node may sync a page it owns, sending a copy to the next
// live node; a page message from an earlier epoch is dropped and one from an
// epoch not installed yet waits. A cut-off node goes on with its own pages
// and its messages to the others are held back until the partition heals;
// the lease makes it fence itself before the first install of the recovery
// that leaves it out, which the simulator enforces by ordering the steps.

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSimulationFailures runs seeded schedules of 3 to 8 nodes in which some
// nodes crash or are cut off and later fenced, and checks at every step that
// no page has two owners among the nodes still running, that a write is
// lost only if the one node holding it failed, and that after the drain
// every page has one live owner and every live access was served.
func TestSimulationFailures(t *testing.T) {
	total := int64(simSeeds)
	if testing.Short() {
		total /= 10
	}
	if *seedFlag >= 0 {
		cfg, rng := simFailConfigFor(*seedFlag)
		s := newSim(t, cfg, rng, replayFailSeed(*seedFlag))
		s.verbose = true
		s.run()
		t.Logf("%+v: %d writes, %d recoveries", cfg, s.totalWrites(), s.fail.recoveries)
		return
	}
	for nodes := 3; nodes <= 8; nodes++ {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			t.Parallel()
			recoveries, promoted := 0, uint64(0)
			for seed := int64(nodes - 3); seed < total; seed += 6 {
				cfg, rng := simFailConfigFor(seed)
				s := newSim(t, cfg, rng, replayFailSeed(seed))
				s.run()
				recoveries += s.fail.recoveries
				for _, m := range s.ms {
					promoted += m.Counters().Promoted
				}
			}
			if recoveries == 0 || promoted == 0 {
				t.Fatalf("no recovery promoted anything: %d recoveries, %d pages promoted", recoveries, promoted)
			}
			t.Logf("%d recoveries, %d pages promoted", recoveries, promoted)
		})
	}
}

func simFailConfigFor(seed int64) (simConfig, *rand.Rand) {
	cfg, rng := simConfigFor(seed)
	cfg.nodes = 3 + int(seed%6)
	cfg.failures = 1 + rng.IntN((cfg.nodes-1)/2)
	return cfg, rng
}

func replayFailSeed(seed int64) string {
	return fmt.Sprintf("go test ./owner -run 'TestSimulationFailures$' -seed=%d -v", seed)
}

// simCopy is a copy of a page a node keeps: its version, and the write
// whose bytes it holds.
type simCopy struct{ version, write uint64 }

type simFailures struct {
	left     int          // failures still to come
	restarts int          // restarts still to come
	joining  []bool       // restarted, not yet installed an epoch
	alive    []bool       // running: not crashed, not fenced
	cut      []bool       // cut off from the nodes not cut; cleared at heal
	copies   [][]*simCopy // copies[n][p], nil if none
	holder   []NodeID     // per page: the node whose store or copy has its latest write; None once it died
	rec      *simRecovery
	epoch    uint32 // the highest epoch any recovery started
	// recoveries counts installs completed on every live node.
	recoveries int
}

// simRecovery is a recovery under way: its coordinator freezes the live
// nodes one step at a time, then installs the plan one step at a time.
type simRecovery struct {
	epoch     uint32
	toFreeze  []NodeID
	reports   map[NodeID][]Holding
	owners    []NodeID
	toInstall []NodeID
}

func newSimFailures(cfg simConfig) *simFailures {
	f := &simFailures{left: cfg.failures, restarts: cfg.failures, holder: make([]NodeID, cfg.pages)}
	for range cfg.nodes {
		f.joining = append(f.joining, false)
		f.alive = append(f.alive, true)
		f.cut = append(f.cut, false)
		f.copies = append(f.copies, make([]*simCopy, cfg.pages))
	}
	for p := range f.holder {
		f.holder[p] = InitialOwner(PageID(p), cfg.nodes, cfg.pages)
	}
	return f
}

// pending counts the failure events the drain must still run.
func (f *simFailures) pending() int {
	k := 0
	if f.rec != nil {
		k++
	}
	for n, c := range f.cut {
		if c && f.alive[n] {
			k++ // to fence
		}
	}
	if k == 0 && slices.Contains(f.cut, true) {
		k++ // to heal
	}
	return k
}

// randomStep tries one failure event of the random phase and reports
// whether anything happened.
func (f *simFailures) randomStep(s *sim) bool {
	switch r := s.rng.IntN(20); {
	case r == 0 && f.left > 0:
		return f.crashOrCut(s)
	case r == 1 && f.restarts > 0:
		return f.restart(s)
	case r < 8:
		return f.sync(s)
	}
	return f.drainStep(s)
}

// drainStep runs one pending failure event, if any: a cut-off node fences
// itself, recovery goes on, or the partition heals.
func (f *simFailures) drainStep(s *sim) bool {
	if s.rng.IntN(2) == 0 && f.fenceOne(s) {
		return true
	}
	if f.rec != nil && f.recoveryStep(s) {
		return true
	}
	return f.fenceOne(s) || f.heal(s)
}

// live reports whether node n runs and is not cut off: the nodes that take
// part in recovery.
func (f *simFailures) live(n NodeID) bool { return f.alive[n] && !f.cut[n] }

// crashOrCut fails one live node, crashing it or cutting it off, and starts
// a recovery without it.
func (f *simFailures) crashOrCut(s *sim) bool {
	var live []NodeID
	for n := range NodeID(s.cfg.nodes) {
		if f.live(n) {
			live = append(live, n)
		}
	}
	n := live[s.rng.IntN(len(live))]
	f.left--
	if s.rng.IntN(2) == 0 {
		s.logf("node %d crashes", n)
		f.stop(s, n)
	} else {
		s.logf("node %d is cut off", n)
		f.cut[n] = true
	}
	f.startRecovery(s)
	return true
}

// stop ends node n: its programs, kernel events and copies go with it. What
// it sent stays on the wire.
func (f *simFailures) stop(s *sim, n NodeID) {
	f.alive[n] = false
	clear(s.waiting[n])
	clear(s.abandoned[n])
	clear(s.mapped[n])
	clear(f.copies[n])
	s.invals = slices.DeleteFunc(s.invals, func(iv invalidation) bool { return iv.node == n })
	s.holds = slices.DeleteFunc(s.holds, func(h nodePage) bool { return h.node == n })
}

// restart brings a stopped node back as a new process holding nothing,
// which asks to rejoin: the next recovery takes it in.
func (f *simFailures) restart(s *sim) bool {
	var stopped []NodeID
	for n := range NodeID(s.cfg.nodes) {
		if !f.alive[n] && !f.cut[n] {
			stopped = append(stopped, n)
		}
	}
	if len(stopped) == 0 {
		return false
	}
	n := stopped[s.rng.IntN(len(stopped))]
	f.restarts--
	s.logf("node %d restarts and asks to rejoin", n)
	s.ms[n] = NewMachine(Config{Self: n, Nodes: s.cfg.nodes, Pages: s.cfg.pages, Hold: s.cfg.hold, Rejoin: true})
	clear(s.ver[n])
	for p, h := range f.holder {
		if h == n {
			f.holder[p] = None // the bytes died with the old process
		}
	}
	f.alive[n], f.joining[n] = true, true
	f.startRecovery(s)
	return true
}

// fenceOne fences a cut-off node: its lease ran out.
func (f *simFailures) fenceOne(s *sim) bool {
	for n := range NodeID(s.cfg.nodes) {
		if f.cut[n] && f.alive[n] {
			s.logf("node %d fences itself", n)
			f.stop(s, n)
			return true
		}
	}
	return false
}

// heal ends the partition once every cut-off node fenced and recovery is
// done: what they sent may now arrive.
func (f *simFailures) heal(s *sim) bool {
	if f.rec != nil || !slices.Contains(f.cut, true) {
		return false
	}
	for n, c := range f.cut {
		if c && f.alive[n] {
			return false
		}
	}
	s.logf("the partition heals")
	clear(f.cut)
	return true
}

func (f *simFailures) startRecovery(s *sim) {
	f.epoch++
	rec := &simRecovery{epoch: f.epoch, reports: map[NodeID][]Holding{}}
	for n := range NodeID(s.cfg.nodes) {
		if f.live(n) {
			rec.toFreeze = append(rec.toFreeze, n)
		}
	}
	s.rng.Shuffle(len(rec.toFreeze), func(i, j int) { rec.toFreeze[i], rec.toFreeze[j] = rec.toFreeze[j], rec.toFreeze[i] })
	s.logf("recovery into epoch %d starts", rec.epoch)
	f.rec = rec
}

// recoveryStep freezes the next node, or plans, or installs on the next
// node. Installing waits until the nodes left out fenced themselves.
func (f *simFailures) recoveryStep(s *sim) bool {
	rec := f.rec
	switch {
	case len(rec.toFreeze) > 0:
		n := rec.toFreeze[0]
		rec.toFreeze = rec.toFreeze[1:]
		if !f.live(n) {
			return true
		}
		if err := s.ms[n].Freeze(rec.epoch); err != nil {
			s.fatalf("node %d: %v", n, err)
		}
		// Freezing ends hold windows; the driver's timers fire later
		// and find nothing held.
		s.holds = slices.DeleteFunc(s.holds, func(h nodePage) bool { return h.node == n })
		rep := s.ms[n].Holdings()
		for p, c := range f.copies[n] {
			if c != nil && !s.ms[n].Owns(PageID(p)) {
				rep = append(rep, Holding{Page: PageID(p), Kind: HoldCopy, Version: c.version})
			}
		}
		rec.reports[n] = rep
		s.logf("node %d frozen into epoch %d, reports %v", n, rec.epoch, rep)
		s.apply(n, 0)
	case rec.owners == nil:
		for n, c := range f.cut {
			if c && f.alive[n] {
				return false // the lease has not run out yet
			}
		}
		rec.owners = Plan(s.cfg.pages, rec.reports)
		for n := range rec.reports {
			rec.toInstall = append(rec.toInstall, n)
		}
		slices.Sort(rec.toInstall)
		s.logf("plan for epoch %d: %v", rec.epoch, rec.owners)
	case len(rec.toInstall) > 0:
		n := rec.toInstall[0]
		rec.toInstall = rec.toInstall[1:]
		if f.live(n) {
			f.install(s, n, rec)
		}
	}
	if rec.owners != nil && len(rec.toInstall) == 0 {
		f.rec = nil
		f.recoveries++
	}
	return true
}

// install installs rec on node n as the driver does: promoted pages take the
// bytes of the copy kept there, and waiting accesses are served or asked
// again.
func (f *simFailures) install(s *sim, n NodeID, rec *simRecovery) {
	m := s.ms[n]
	promoted := func(p PageID) uint64 {
		c := f.copies[n][p]
		if c == nil {
			c = &simCopy{}
		}
		if c.write != s.writes[p] {
			if h := f.holder[p]; h != None && f.live(h) {
				s.fatalf("node %d promotes page %d at write %d, but node %d holding write %d runs", n, p, c.write, f.holder[p], s.writes[p])
			}
			s.logf("page %d rolls back from write %d to %d: node %d holding it failed", p, s.writes[p], c.write, f.holder[p])
			s.writes[p] = c.write
		}
		s.ver[n][p] = c.write
		f.holder[p] = n
		return c.version
	}
	if err := m.Install(rec.epoch, func(p PageID) NodeID { return rec.owners[p] }, promoted); err != nil {
		s.fatalf("node %d: %v", n, err)
	}
	s.logf("node %d installs epoch %d", n, rec.epoch)
	f.joining[n] = false
	for p := range PageID(s.cfg.pages) {
		if rec.owners[p] == n {
			f.copies[n][p] = nil
		}
		switch {
		case s.waiting[n][p] == 0:
		case m.Owns(p):
			for ; s.waiting[n][p] > 0; s.waiting[n][p]-- {
				s.write(n, p)
			}
		default:
			m.Access(p)
		}
	}
	s.apply(n, 0)
}

// sync has a random live node copy a page it owns to the next live node.
func (f *simFailures) sync(s *sim) bool {
	n := NodeID(s.rng.IntN(s.cfg.nodes))
	p := PageID(s.rng.IntN(s.cfg.pages))
	if !f.alive[n] {
		return false
	}
	version, ok := s.ms[n].Sync(p)
	if !ok {
		return false
	}
	to := n
	for {
		to = (to + 1) % NodeID(s.cfg.nodes)
		if to == n {
			return true // nobody to copy to
		}
		if f.alive[to] {
			break
		}
	}
	epoch, _ := s.ms[n].Epoch()
	msg := Message{Type: MsgReplica, From: n, To: to, Page: p, Epoch: epoch, Version: version,
		Data: binary.LittleEndian.AppendUint64(nil, s.ver[n][p])}
	s.logf("node %d syncs page %d at version %d to node %d", n, p, version, to)
	s.net = append(s.net, envelope{msg: msg})
	return true
}

// keep notes the copy a node keeps of a page it hands on.
func (f *simFailures) keep(n NodeID, msg Message, write uint64) {
	f.copies[n][msg.Page] = &simCopy{version: msg.Version, write: write}
}

// held reports whether a partition holds msg back.
func (f *simFailures) held(msg Message) bool { return f.cut[msg.From] != f.cut[msg.To] }

// intercept delivers what the machine does not see: messages to a stopped
// node are lost, copies are kept as the driver keeps them. It reports
// whether it took the message.
func (f *simFailures) intercept(s *sim, msg Message) bool {
	switch {
	case !f.alive[msg.To]:
		s.logf("lost on the way to stopped node %d: %v", msg.To, msg)
		if msg.Type == MsgPage {
			s.inFlight[msg.Page]--
		}
		return true
	case msg.Type == MsgReplica:
		// As the driver's deferLocked: an earlier epoch's copy is
		// dropped, one for an epoch not installed yet waits.
		m := s.ms[msg.To]
		c := f.copies[msg.To][msg.Page]
		epoch, frozen := m.Epoch()
		if msg.Epoch > epoch || msg.Epoch == epoch && frozen {
			return false
		}
		if msg.Epoch == epoch && !m.Owns(msg.Page) && (c == nil || c.version < msg.Version) {
			f.keep(msg.To, msg, binary.LittleEndian.Uint64(msg.Data))
		}
		s.logf("deliver %v", msg)
		return true
	}
	return false
}

// check asserts that no page has two owners among the running nodes, nor
// one owner and a hand-off its receiver would still take.
func (f *simFailures) check(s *sim) {
	for p := range s.cfg.pages {
		var owners []int
		for n, m := range s.ms {
			if !f.alive[n] {
				continue
			}
			if m.Owns(PageID(p)) {
				owners = append(owners, n)
			} else if s.mapped[n][p] {
				s.fatalf("programs on node %d use page %d, which it does not own", n, p)
			}
		}
		taken := 0
		for _, env := range s.net {
			msg := env.msg
			if msg.Type == MsgPage && int(msg.Page) == p && f.alive[msg.To] && !f.joining[msg.To] {
				if e, _ := s.ms[msg.To].Epoch(); e == msg.Epoch {
					taken++
				}
			}
		}
		if len(owners)+taken > 1 {
			s.fatalf("page %d: owners %v and %d hand-offs that would be taken", p, owners, taken)
		}
	}
}
