package net

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	stdnet "net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Connections refused before their peer is trusted are counted by reason,
// for the metrics, and logged at most a few at a time: a flood of hostile
// connections must neither fill the log nor hide the one line that matters.

// Why a connection was refused, as the metrics label it.
const (
	reasonAddress    = "address"    // without a secret or TLS: not from the address of the member it is, or of any
	reasonAuth       = "auth"       // it did not prove the secret, or its certificate is not the CA's
	reasonHandshake  = "handshake"  // not a dsmfs handshake, another protocol version, or too slow
	reasonBusy       = "busy"       // too many connections were not yet trusted at once
	reasonUnexpected = "unexpected" // trusted, but not a member we wait for, or one connected already
)

// refusal is why a connection was refused before its peer was trusted. It
// never stops a join: anyone can cause one.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refused(reason, format string, args ...any) error {
	return &refusal{reason: reason, err: fmt.Errorf(format, args...)}
}

// asRefusal is err as a refusal: a handshake error that is no
// disagreement of a trusted member counts as one, of a broken handshake.
func asRefusal(err error) *refusal {
	var r *refusal
	if errors.As(err, &r) {
		return r
	}
	return &refusal{reason: reasonHandshake, err: err}
}

// rateLog logs a burst of warnings, then at most one per interval, each
// saying how many it held back before it.
type rateLog struct {
	log   *slog.Logger
	limit *rate.Limiter
	mu    sync.Mutex
	held  int // guarded by mu: warnings not logged since the last one
}

func newRateLog(log *slog.Logger, every time.Duration, burst int) *rateLog {
	return &rateLog{log: log, limit: rate.NewLimiter(rate.Every(every), burst)}
}

func (l *rateLog) warn(msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.limit.Allow() {
		l.held++
		return
	}
	if l.held > 0 {
		args = append(args, "held_back", l.held)
		l.held = 0
	}
	l.log.Warn(msg, args...)
}

// refusals counts and logs the connections refused.
type refusals struct {
	log *rateLog
	mu  sync.Mutex
	// counts are by reason; last is the latest refusal, from, for the
	// error of a join that times out. Both guarded by mu.
	counts map[string]uint64
	last   string
}

func newRefusals(log *slog.Logger) *refusals {
	counts := map[string]uint64{}
	for _, r := range []string{reasonAddress, reasonAuth, reasonHandshake, reasonBusy, reasonUnexpected} {
		counts[r] = 0 // listed from the start, for the metrics
	}
	return &refusals{log: newRateLog(log, 10*time.Second, 5), counts: counts}
}

// note counts and logs that the connection from remote was refused.
func (rs *refusals) note(remote stdnet.Addr, r *refusal) {
	from := "?"
	if remote != nil {
		from = remote.String()
	}
	rs.mu.Lock()
	rs.counts[r.reason]++
	rs.last = fmt.Sprintf("from %s: %v", from, r.err)
	rs.mu.Unlock()
	rs.log.warn("refusing connection", "remote", from, "reason", r.reason, "err", r.err)
}

// summary says how many connections were refused and the latest, or ""
// if none was.
func (rs *refusals) summary() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var n uint64
	for _, k := range rs.counts {
		n += k
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d connections refused, the latest %s", n, rs.last)
}

// Refused counts the peer connections refused since start, by reason:
// "address" (without a secret or TLS, a connection not from the address
// of the member it says it is, or of any), "auth" (no proof of the secret,
// or no certificate of the CA), "handshake" (not a dsmfs handshake,
// another protocol version, or too slow), "busy" (too many connections not
// yet trusted at once), "unexpected" (a trusted peer we were not waiting
// for).
func (t *TCP) Refused() map[string]uint64 {
	t.refused.mu.Lock()
	defer t.refused.mu.Unlock()
	return maps.Clone(t.refused.counts)
}
