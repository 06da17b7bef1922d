package owner

import (
	"slices"
	"sync"
	"time"
)

// Where a remote fault's time goes, as seen by the two daemons: the
// requester times its own steps around the wait, the owner the time from a
// request's arrival to the page's send. Together with the program's own
// timing of the fault (the kernel's share is the rest) they split a
// migration into stages; `dsmfs bench` reports their medians.

// Stage is one step of a remote fault.
type Stage int

const (
	StageSend    Stage = iota // requester: the fault's wait began → its request about to be handed to the transport
	StageAway                 // requester: request handed on → the page arrived (the writes, the wire both ways, and the owner)
	StageOwner                // owner: a request arrived → the page about to be handed to the transport
	StageInstall              // requester: the page arrived → the waiting handler woke
	StageWait                 // requester: the whole wait, from its beginning to the handler waking
	numStages
)

// StageNames are the stages' names in .stats, by Stage.
var StageNames = [numStages]string{"send", "away", "owner", "install", "wait"}

// stageClock keeps the most recent samples of each stage. Its lock is its
// own: samples are taken without the node's mu, and under it.
type stageClock struct {
	mu      sync.Mutex
	samples [numStages]window    // guarded by mu
	asked   map[PageID]time.Time // guarded by mu: when a request for the page arrived here, until the page is sent
	sending map[PageID]time.Time // guarded by mu: when this node's request for the page was handed on, until it is served
}

func newStageClock() *stageClock {
	return &stageClock{asked: make(map[PageID]time.Time), sending: make(map[PageID]time.Time)}
}

// requestSent notes that this node's request for page p is handed to the
// transport at now.
func (c *stageClock) requestSent(p PageID, now time.Time) {
	c.mu.Lock()
	c.sending[p] = now
	c.mu.Unlock()
}

// served takes, as page p arrives, the time this node's request for it
// was handed on, zero if it knows none (a request forwarded here before
// this node sent its own).
func (c *stageClock) served(p PageID) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := c.sending[p]
	delete(c.sending, p)
	return at
}

func (c *stageClock) add(s Stage, d time.Duration) {
	c.mu.Lock()
	c.samples[s].add(d)
	c.mu.Unlock()
}

// requested notes that a request for page p arrived. A request that is
// forwarded, not served, leaves its time until the next one for p replaces
// it, or a later send of p takes it: the owner stage is a sample of served
// requests, as the bench makes them, not an account of every message.
func (c *stageClock) requested(p PageID, at time.Time) {
	c.mu.Lock()
	c.asked[p] = at
	c.mu.Unlock()
}

// pageSent notes that page p is handed to the transport at now.
func (c *stageClock) pageSent(p PageID, now time.Time) {
	c.mu.Lock()
	if at, ok := c.asked[p]; ok {
		delete(c.asked, p)
		c.samples[StageOwner].add(now.Sub(at))
	}
	c.mu.Unlock()
}

// medians are each stage's median over its recent samples, zero if none.
func (c *stageClock) medians() [numStages]time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m [numStages]time.Duration
	for s := range m {
		m[s] = c.samples[s].percentile(50)
	}
	return m
}

// window holds the most recent recentFaults samples.
type window struct {
	recent []time.Duration
	next   int // where the next sample goes once recent is full
}

func (w *window) add(d time.Duration) {
	if len(w.recent) < recentFaults {
		w.recent = append(w.recent, d)
		return
	}
	w.recent[w.next] = d
	w.next = (w.next + 1) % recentFaults
}

// percentile is the q-th percentile of the samples, zero if none.
func (w *window) percentile(q int) time.Duration {
	if len(w.recent) == 0 {
		return 0
	}
	sorted := slices.Clone(w.recent)
	slices.Sort(sorted)
	return sorted[len(sorted)*q/100]
}
