package owner

import (
	"fmt"
	"time"
)

// The kernel issues a READ that failed again at once, up to a few times,
// before the program gets SIGBUS: a fault whose page does not come would
// wait out Timeout once per try. So the driver remembers, per page, when a
// wait for it last timed out, and fails an access to that page within
// retryGrace of it at once: the fault fails within Timeout, once. The
// request stays out; a page that arrives after all is served and
// forgotten, and an access after retryGrace waits again.
const retryGrace = time.Second

// timedOutLocked reports whether a wait for page p timed out less than
// retryGrace ago, and how long ago; mu held.
func (n *Node) timedOutLocked(p PageID) (ago time.Duration, recent bool) {
	at, ok := n.timedOut[p]
	if !ok {
		return 0, false
	}
	if ago = time.Since(at); ago >= retryGrace {
		delete(n.timedOut, p)
		return 0, false
	}
	return ago, true
}

// retryError is the error of an access failed at once because a wait for
// page p timed out ago.
func (n *Node) retryError(p PageID, ago time.Duration) error {
	return fmt.Errorf("page %d: %w after %v, %v ago; not waiting again so soon", p, ErrTimeout, n.cfg.Timeout, ago.Round(time.Millisecond))
}
