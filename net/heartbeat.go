package net

import (
	"io"
	"sync/atomic"
	"time"
)

// Peers hear from each other at least every PeerTimeout/4: any bytes count,
// and heartbeat frames fill the silence. A peer silent for PeerTimeout is
// declared dead: its connection is closed, which reports it lost. A paused
// process (kill -STOP) keeps its sockets open but sends nothing, so only this
// can tell; and when such a process resumes, its own late clock tells it
// that the others have declared it dead (Events.Fenced).

// frameHeartbeat says "still here"; it carries nothing.
const frameHeartbeat = 0x42

// heardReader notes when bytes last arrived from the peer.
type heardReader struct {
	r    io.Reader
	last *atomic.Int64 // unix nanoseconds
}

func (h heardReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// beat sends heartbeats from Join until Close.
func (t *TCP) beat() {
	ticker := time.NewTicker(t.cfg.PeerTimeout / 4)
	defer ticker.Stop()
	for range ticker.C {
		if t.closed.Load() {
			return
		}
		for i := range t.conns {
			if c := t.conns[i].Load(); c != nil && !c.dead.Load() {
				c.heartbeat()
			}
		}
	}
}

// watch, from Start, declares silent peers dead, and notices when this
// process itself was stopped for longer than PeerTimeout.
func (t *TCP) watch(fenced func(paused time.Duration)) {
	interval := t.cfg.PeerTimeout / 4
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	last := time.Now()
	for range ticker.C {
		// Not the tick's own time: that is when the tick was due, which
		// for the first tick after a pause is before the pause.
		now := time.Now()
		if t.closed.Load() {
			return
		}
		if paused := now.Sub(last); paused > t.cfg.PeerTimeout {
			fenced(paused)
			return
		}
		last = now
		for i := range t.conns {
			c := t.conns[i].Load()
			if c == nil || c.dead.Load() {
				continue
			}
			if silent := now.Sub(time.Unix(0, c.lastHeard.Load())); silent > t.cfg.PeerTimeout {
				t.log.Error("peer silent too long, declaring it dead", "peer", c.name, "silent", silent.Round(time.Millisecond))
				c.dead.Store(true)
				c.c.Close()
			}
		}
	}
}
