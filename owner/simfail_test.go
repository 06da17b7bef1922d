package owner

// Membership changes in the simulator: nodes crash, are cut off by a
// partition, fence themselves, restart and rejoin, or leave, while the
// Machines recover their pages from copies by the protocol's own messages
// and timers (recovery.go), one step at a time among all the other events.
// The simulator decides nothing: it plays the connections closing and the
// timers firing, under the two timing facts the protocol rests on:
//
//   - a node that cannot hear a quorum fences itself before the coordinator
//     of an epoch that leaves it out installs that epoch (its lease is half
//     a peer timeout, the coordinator's fence wait a whole one): the fence
//     timer fires only once every node left out has stopped;
//   - a connection that closes is reported lost at both ends, after the
//     last message delivered on it.

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSimulationFailures runs seeded schedules of 3 to 8 nodes keeping
// copies, in which some nodes crash or are cut off (and fence), restart and
// rejoin, or leave, and checks at every step that no page has two owners
// among the running nodes, that a write is lost only if every node holding
// it failed, and after the drain that every page has one running owner and
// every access on a running node was served.
func TestSimulationFailures(t *testing.T) {
	if *seedFlag >= 0 {
		cfg, rng := simFailConfigFor(*seedFlag)
		s := newSim(t, cfg, rng, replaySeed("TestSimulationFailures", *seedFlag))
		s.verbose = true
		s.run()
		t.Logf("%+v: %d writes, %d epochs installed", cfg, s.nwrites, s.fail.installs)
		return
	}
	total := int64(simSeeds)
	if testing.Short() {
		total /= 10
	}
	for nodes := 3; nodes <= 8; nodes++ {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			t.Parallel()
			installs, promoted, restarts, strangers := 0, uint64(0), 0, 0
			for seed := int64(nodes - 3); seed < total; seed += 6 {
				cfg, rng := simFailConfigFor(seed)
				s := newSim(t, cfg, rng, replayFailSeed(seed))
				s.run()
				installs += s.fail.installs
				restarts += s.fail.restarted
				strangers += s.fail.strangers
				for _, m := range s.ms {
					promoted += m.Counters().Promoted
				}
			}
			if installs == 0 || promoted == 0 || restarts == 0 || strangers == 0 {
				t.Fatalf("no recovery promoted anything: %d installs, %d pages promoted, %d rejoins, %d messages from strangers", installs, promoted, restarts, strangers)
			}
			t.Logf("%d epochs installed, %d pages promoted, %d nodes rejoined, %d messages from strangers dropped", installs, promoted, restarts, strangers)
		})
	}
}

func simFailConfigFor(seed int64) (simConfig, *rand.Rand) {
	cfg, rng := simConfigFor(seed)
	cfg.nodes = 3 + int(seed%6)
	cfg.failures = 1 + rng.IntN((cfg.nodes-1)/2)
	cfg.replicas = 1
	if cfg.nodes >= 5 && rng.IntN(3) == 0 {
		cfg.replicas = 2
	}
	return cfg, rng
}

func replayFailSeed(seed int64) string { return replaySeed("TestSimulationFailures", seed) }

// simTimer is a timer a machine asked for.
type simTimer struct {
	node  NodeID
	kind  ActionKind // ActReportTimer or ActFenceTimer
	epoch uint32
}

// simLeave is a node leaving: it pulls until it holds nothing, then waits
// for its peers to route around it, then exits.
type simLeave struct {
	sentLeft bool
	acks     map[NodeID]bool // peers yet to acknowledge MsgLeft
}

type simFailures struct {
	failures  int // crashes and cut-offs still to come
	restarts  int // restarts still to come
	restarted int // nodes that rejoined
	strangers int // messages sent by restarted nodes not taken in yet
	// hostile draws the strangers' messages, apart from the schedule.
	hostile *rand.Rand
	cut     []bool // cut off from the nodes not cut; cleared at heal
	// long says that the partition has lasted a timer, a lease or a peer
	// timeout: long enough for every node to hear the silence across it.
	long   bool
	failed []bool // crashed or fenced: its writes since the last copy may be lost
	timers []simTimer
	// losses are the connections closed whose far end has not been told
	// yet: at learns that peer is lost once the pipe from peer is empty.
	// told are those told already, until a restart makes a new process.
	losses, told map[[2]NodeID]bool // by (at, peer)
	installs     int                // epochs installed, on any node
}

func newSimFailures(cfg simConfig) *simFailures {
	return &simFailures{
		failures: cfg.failures, restarts: cfg.failures,
		cut: make([]bool, cfg.nodes), failed: make([]bool, cfg.nodes),
		losses: map[[2]NodeID]bool{}, told: map[[2]NodeID]bool{},
		hostile: rand.New(rand.NewPCG(uint64(cfg.steps), uint64(cfg.nodes)<<32|uint64(cfg.pages))),
	}
}

func (f *simFailures) String() string {
	return fmt.Sprintf("cut %v failed %v timers %v losses %v", f.cut, f.failed, f.timers, slices.Collect(maps.Keys(f.losses)))
}

// randomStep tries one failure event of the random phase and reports
// whether anything happened.
func (f *simFailures) randomStep(s *sim) bool {
	switch r := s.rng.IntN(24); {
	case r == 0 && f.failures > 0:
		return f.crashOrCut(s)
	case r == 1:
		return f.restart(s)
	case r == 2:
		return f.heal(s)
	case r < 10:
		return f.sync(s)
	}
	return f.drainStep(s)
}

// drainStep runs one pending failure event, if any: a loss is reported, a
// cut-off pair notices the silence, a node fences, a timer fires, the
// partition heals.
func (f *simFailures) drainStep(s *sim) bool {
	events := []func(*sim) bool{f.tellLoss, f.silence, f.fenceOne, f.fireTimer, f.heal}
	for _, i := range s.rng.Perm(len(events)) {
		if events[i](s) {
			return true
		}
	}
	return false
}

// up reports whether node n runs, no partition cuts it off, it stays, and
// it is a member (not a restarted node yet to be taken in).
func (f *simFailures) up(s *sim, n NodeID) bool {
	return s.running[n] && !f.cut[n] && s.leaves[n] == nil && s.ms[n].group.Member(n)
}

// quorumWithout reports whether the members that are up, but for node
// gone, would still be a quorum of the cluster, in the view of the lowest
// of them. The schedules fail nodes only while they would: a cluster that
// lost its quorum must stop, and the drain would prove nothing.
func (f *simFailures) quorumWithout(s *sim, gone NodeID) bool {
	for n := range NodeID(s.cfg.nodes) {
		if n != gone && f.up(s, n) {
			ms := s.ms[n].group
			return 2*(f.count(s, gone)) > s.cfg.nodes && ms.Quorum(func(id NodeID) bool { return id != gone && f.up(s, id) })
		}
	}
	return false
}

// count counts the nodes up but for gone.
func (f *simFailures) count(s *sim, gone NodeID) int {
	k := 0
	for n := range NodeID(s.cfg.nodes) {
		if n != gone && f.up(s, n) {
			k++
		}
	}
	return k
}

// crashOrCut fails one running node, crashing it or cutting it off, as
// long as the others keep a quorum.
func (f *simFailures) crashOrCut(s *sim) bool {
	var up []NodeID
	for n := range NodeID(s.cfg.nodes) {
		if s.running[n] && !f.cut[n] && s.leaves[n] == nil && f.quorumWithout(s, n) {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return false
	}
	n := up[s.rng.IntN(len(up))]
	f.failures--
	if s.rng.IntN(2) == 0 {
		s.logf("node %d crashes", n)
		s.stop(n)
		f.failed[n] = true
	} else {
		s.logf("node %d is cut off", n)
		f.cut[n] = true
	}
	return true
}

// heal ends the partition: what was held back on connections still open
// may now arrive. A partition that lasted a timer or a lease (a peer
// timeout or half of one) lasted longer than every node takes to hear the
// silence across it: it heals only once the receiving end of every
// connection it holds has closed it.
func (f *simFailures) heal(s *sim) bool {
	if !slices.Contains(f.cut, true) {
		return false
	}
	if f.long {
		for a := range NodeID(s.cfg.nodes) {
			for b := range NodeID(s.cfg.nodes) {
				if a != b && s.running[b] && s.held(a, b) && !s.pipes[a][b].closed {
					return false
				}
			}
		}
	}
	s.logf("the partition heals")
	clear(f.cut)
	f.long = false
	return true
}

// silence has one end of a connection a partition holds declare the other
// dead, as its heartbeats stop.
func (f *simFailures) silence(s *sim) bool {
	var pairs [][2]NodeID
	for a := range NodeID(s.cfg.nodes) {
		for b := range NodeID(s.cfg.nodes) {
			if a != b && s.running[a] && s.held(b, a) && !s.pipes[b][a].closed {
				pairs = append(pairs, [2]NodeID{a, b})
			}
		}
	}
	if len(pairs) == 0 {
		return false
	}
	p := pairs[s.rng.IntN(len(pairs))]
	f.long = true // a peer timeout of silence: every end hears it before the heal
	s.logf("node %d hears nothing from node %d and closes the connection", p[0], p[1])
	s.disconnect(p[0], p[1])
	return true
}

// reachable reports whether nodes a and b run and can talk, both ways.
func (s *sim) reachable(a, b NodeID) bool { return s.heard(a, b) && s.heard(b, a) }

// heard reports whether node n hears node id: their connection is open and
// no partition holds it.
func (s *sim) heard(n, id NodeID) bool {
	p := s.pipes[id][n]
	return s.running[id] && !p.closed && !p.sealed && !s.held(id, n)
}

// fenceOne fences a node that cannot hear a quorum: its lease ran out.
func (f *simFailures) fenceOne(s *sim) bool {
	for n := range NodeID(s.cfg.nodes) {
		if s.running[n] && s.leaves[n] == nil && !s.ms[n].HearsQuorum(func(id NodeID) bool { return s.heard(n, id) }) {
			s.logf("node %d hears no quorum and fences itself", n)
			f.long = f.long || slices.Contains(f.cut, true)
			s.stop(n)
			f.failed[n] = true
			return true
		}
	}
	return false
}

// fireTimer fires a pending timer. A fence timer waits until every node
// its recovery leaves out has stopped: their leases are shorter. A report
// timer fires only when the nodes it still waits for cannot answer: a
// running node reachable both ways answers well within the wait.
func (f *simFailures) fireTimer(s *sim) bool {
	for _, i := range s.rng.Perm(len(f.timers)) {
		tm := f.timers[i]
		c := s.ms[tm.node].coord
		current := c != nil && c.epoch == tm.epoch
		switch {
		case current && tm.kind == ActFenceTimer && slices.ContainsFunc(c.out, func(id NodeID) bool { return s.running[id] }):
			continue
		case current && tm.kind == ActReportTimer && slices.ContainsFunc(slices.Collect(maps.Keys(c.waiting)), func(id NodeID) bool { return s.reachable(tm.node, id) }):
			continue
		}
		f.timers = slices.Delete(f.timers, i, i+1)
		if !s.running[tm.node] {
			return true
		}
		f.long = f.long || slices.Contains(f.cut, true)
		s.logf("node %d: %v for epoch %d fires", tm.node, tm.kind, tm.epoch)
		if tm.kind == ActFenceTimer {
			s.ms[tm.node].FenceWaited(tm.epoch)
		} else {
			s.ms[tm.node].ReportsOverdue(tm.epoch)
		}
		s.apply(tm.node, nil, 0)
		return true
	}
	return false
}

// tellLoss tells a node that a peer whose connection closed is lost, once
// the pipe from that peer is empty.
func (f *simFailures) tellLoss(s *sim) bool {
	for _, k := range slices.SortedFunc(maps.Keys(f.losses), func(a, b [2]NodeID) int { return int(a[0])*64 + int(a[1]) - int(b[0])*64 - int(b[1]) }) {
		at, peer := k[0], k[1]
		if len(s.pipes[peer][at].queue) > 0 && !s.pipes[peer][at].closed {
			continue
		}
		delete(f.losses, k)
		f.told[k] = true
		if !s.running[at] {
			return true
		}
		s.logf("node %d is told node %d is lost", at, peer)
		s.closePipe(peer, at)
		s.seal(at, peer)
		s.lose(peer, at) // its read loop ends: the connection is closed at this end
		s.ms[at].PeerLost(peer)
		s.apply(at, nil, 0)
		return true
	}
	return false
}

// restart brings a stopped node back as a new process holding nothing,
// which asks the running nodes to take it in, once none of them counts it
// as a member (the transport refuses it until then) and its old
// connections are gone.
func (f *simFailures) restart(s *sim) bool {
	if f.restarts == 0 {
		return false
	}
	for n := range NodeID(s.cfg.nodes) {
		if s.running[n] && !s.ms[n].group.Member(n) {
			return false // one restart at a time, as README asks: n rejoins still
		}
	}
	var can []NodeID
	for n := range NodeID(s.cfg.nodes) {
		if s.running[n] || f.cut[n] || s.leaves[n] != nil || !s.forgotten(n) {
			continue
		}
		can = append(can, n)
	}
	if len(can) == 0 {
		return false
	}
	n := can[s.rng.IntN(len(can))]
	f.restarts--
	f.restarted++
	var live []NodeID
	for id := range NodeID(s.cfg.nodes) {
		if s.running[id] {
			live = append(live, id)
			s.pipes[id][n], s.pipes[n][id] = &pipe{}, &pipe{}
		}
	}
	for k := range f.told {
		if k[0] == n || k[1] == n {
			delete(f.told, k) // a new process, with new connections
		}
	}
	for k := range f.losses {
		if k[0] == n || k[1] == n {
			delete(f.losses, k) // of the old process's connections
		}
	}
	s.logf("node %d restarts and asks %v to take it back", n, live)
	s.ms[n] = NewMachine(Config{Self: n, Nodes: s.cfg.nodes, Pages: s.cfg.pages, Hold: s.cfg.hold, Replicas: s.cfg.replicas, Rejoin: true, Live: live})
	s.running[n], f.failed[n] = true, false
	clear(s.ver[n])
	clear(s.copies[n])
	s.reads.forget(n)
	s.apply(n, nil, 0)
	return true
}

// sending reports whether messages node n sent are still on their way.
func (s *sim) sending(n NodeID) bool {
	for _, p := range s.pipes[n] {
		if p != nil && len(p.queue) > 0 && !p.closed {
			return true
		}
	}
	return false
}

// stranger has a restarted node that no running node has taken in yet
// send, now and then, what only a member may: requests, pulls, copies and
// a leave, stamped with the receiver's epoch; or has a member ask for a
// page on its behalf. Each arrives at once, and is drawn from a generator
// of its own: the receiver must drop it, changing nothing, so the schedule
// goes on as it would without it. A page that went to the stranger, or a
// hint that pointed at it, breaks the run's checks.
func (f *simFailures) stranger(s *sim) {
	if f.hostile.IntN(4) != 0 {
		return
	}
	var js []NodeID
	for j := range NodeID(s.cfg.nodes) {
		taken := false
		for id := range NodeID(s.cfg.nodes) {
			taken = taken || s.running[id] && (s.ms[id].group.Member(j) || s.ms[id].group.Next(j))
		}
		if s.running[j] && !taken {
			js = append(js, j)
		}
	}
	if len(js) == 0 {
		return
	}
	j := js[f.hostile.IntN(len(js))]
	x := NodeID(f.hostile.IntN(s.cfg.nodes))
	p := PageID(f.hostile.IntN(s.cfg.pages))
	msg := Message{From: j, To: x, Page: p}
	switch f.hostile.IntN(8) {
	case 0:
		msg.Type, msg.Requester = MsgRequest, j
	case 1:
		msg.Type = MsgPull
	case 2:
		msg.Type, msg.Version, msg.Data = MsgReplica, 1<<40, dataOf(0)
	case 3:
		msg.Type = MsgLeaving
	default:
		msg.Type, msg.From, msg.Requester = MsgRequest, NodeID(f.hostile.IntN(s.cfg.nodes)), j
	}
	if msg.From == x || !s.heard(x, msg.From) || msg.From != j && !s.ms[x].group.Member(msg.From) {
		return
	}
	msg.Epoch, _ = s.ms[x].Epoch()
	f.strangers++
	s.logf("stranger: %v", msg)
	s.receive(envelope{msg: msg})
}

// forgotten reports whether node n, stopped, is gone from the cluster:
// every running node counts it dead and no member, and nothing of its old
// connections is left.
func (s *sim) forgotten(n NodeID) bool {
	for id := range NodeID(s.cfg.nodes) {
		if id == n {
			continue
		}
		if s.running[id] && (s.ms[id].group.Member(n) || !s.ms[id].group.Dead(n)) {
			return false
		}
		if len(s.pipes[id][n].queue) > 0 || len(s.pipes[n][id].queue) > 0 {
			return false
		}
		if s.fail.losses[[2]NodeID{id, n}] {
			return false
		}
	}
	return true
}

// sync has a random running node copy a page it holds to its copy
// targets, as msync does.
func (f *simFailures) sync(s *sim) bool {
	n := NodeID(s.rng.IntN(s.cfg.nodes))
	p := PageID(s.rng.IntN(s.cfg.pages))
	if !s.running[n] {
		return false
	}
	m := s.ms[n]
	version, owned, ok := m.Sync(p)
	if !ok {
		return false
	}
	write := s.copies[n][p]
	if owned {
		write = s.ver[n][p]
	}
	epoch, _ := m.Epoch()
	for _, to := range m.CopyTargets() {
		s.logf("node %d syncs page %d at version %d to node %d", n, p, version, to)
		s.sendEnvelope(envelope{msg: Message{Type: MsgReplica, From: n, To: to, Page: p, Epoch: epoch, Version: version, Data: dataOf(write)}})
	}
	return true
}

// stop ends node n, as a crash, a fence or an exit does: its programs,
// kernel events and timers go with it; it reads nothing more, and what it
// sent is still delivered, after which each peer is told it is lost.
func (s *sim) stop(n NodeID) {
	s.running[n] = false
	clear(s.waiting[n])
	clear(s.abandoned[n])
	clear(s.mapped[n])
	s.reads.stop(n)
	s.deferred[n] = nil
	s.invals = slices.DeleteFunc(s.invals, func(iv invalidation) bool { return iv.node == n })
	s.holds = slices.DeleteFunc(s.holds, func(h nodePage) bool { return h.node == n })
	if s.fail != nil {
		s.fail.timers = slices.DeleteFunc(s.fail.timers, func(tm simTimer) bool { return tm.node == n })
	}
	for id := range NodeID(s.cfg.nodes) {
		if id == n {
			continue
		}
		s.closePipe(id, n)
		s.seal(n, id)
		s.lose(id, n)
	}
}

// disconnect is node n closing its end of the connection to peer (a
// recovery left peer out, or peer fell silent): n reads nothing more from
// it and is told it is lost; peer gets what n sent before, then is told n
// is lost.
func (s *sim) disconnect(n, peer NodeID) {
	s.closePipe(peer, n)
	s.seal(n, peer)
	s.lose(n, peer)
	s.lose(peer, n)
}

// lose has node at told, in time, that peer is lost, unless it was.
func (s *sim) lose(at, peer NodeID) {
	if k := [2]NodeID{at, peer}; s.fail != nil && s.running[at] && !s.fail.told[k] {
		s.fail.losses[k] = true
	}
}

// seal stops new messages on the pipe from a to b; what is on it is still
// delivered.
func (s *sim) seal(a, b NodeID) { s.pipes[a][b].sealed = true }

// leaveStep starts a leave (in the random phase, now and then) or moves one
// along, and reports whether it did anything.
func (s *sim) leaveStep(random bool) bool {
	if random && s.left+len(s.leaves) < s.cfg.leaves && s.rng.IntN(8) == 0 {
		return s.startLeave()
	}
	var leaving []NodeID
	for n := range s.leaves {
		leaving = append(leaving, n)
	}
	if len(leaving) == 0 || random && s.rng.IntN(2) == 0 {
		return false
	}
	slices.Sort(leaving)
	n := leaving[s.rng.IntN(len(leaving))]
	l, m := s.leaves[n], s.ms[n]
	switch {
	case !s.running[n]:
		delete(s.leaves, n) // crashed while leaving
	case !l.sentLeft && !m.Drained():
		if s.sending(n) {
			// The driver pulls again only every pullEvery: not
			// faster than the survivors take the pulls in.
			return false
		}
		s.logf("node %d, leaving, asks the survivors to pull its %d pages", n, m.Held())
		m.Pull()
		if len(m.group.Survivors()) == 0 {
			s.logf("node %d has no survivor left and gives up leaving", n)
			s.stop(n)
			if s.fail != nil {
				s.fail.failed[n] = true
			}
			delete(s.leaves, n)
		}
	case !l.sentLeft:
		s.logf("node %d is drained: it sends its hints", n)
		l.sentLeft = true
		l.acks = map[NodeID]bool{}
		for _, id := range m.Left() {
			l.acks[id] = true
		}
	default:
		for id := range l.acks {
			if !s.running[id] || m.group.Dead(id) {
				delete(l.acks, id)
			}
		}
		if len(l.acks) > 0 {
			return false
		}
		s.logf("node %d has left", n)
		s.stop(n)
		delete(s.leaves, n)
		s.left++
	}
	s.apply(n, nil, 0)
	return true
}

// startLeave has a running node leave while at least two others stay.
func (s *sim) startLeave() bool {
	var can []NodeID
	for n := range NodeID(s.cfg.nodes) {
		if s.running[n] && s.leaves[n] == nil && (s.fail == nil || !s.fail.cut[n]) {
			can = append(can, n)
		}
	}
	if len(can) < 3 {
		return false
	}
	n := can[s.rng.IntN(len(can))]
	if s.fail != nil && !s.fail.quorumWithout(s, n) {
		return false // the others would be no quorum
	}
	s.logf("node %d leaves", n)
	s.leaves[n] = &simLeave{}
	s.ms[n].Leave()
	clear(s.waiting[n]) // the driver fails them: the node takes no page
	clear(s.abandoned[n])
	clear(s.reads.waiting[n])
	s.apply(n, nil, 0)
	return true
}
