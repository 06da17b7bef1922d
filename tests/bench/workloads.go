package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"
)

// timed is the measured part of a worker.
type timed = func(context.Context) (Summary, error)

// touchMode touches pages first..first+count-1 once each, in order: with
// -each it times every access (faults, in µs), else only the whole sweep
// (first touches of local memory, where reading the clock around each
// access would cost as much as the access).
func touchMode(w *workerFlags) (timed, error) {
	var m []byte
	var err error
	first := w.first
	if w.memfd {
		if err = checkOp(w.op); err == nil {
			m, err = mapMemfd(w.count)
		}
		first = 0
	} else {
		m, err = mapRange(w)
	}
	if err != nil {
		return nil, err
	}
	return func(context.Context) (Summary, error) {
		end := first + w.count
		if !w.each {
			t0 := time.Now()
			for p := first; p < end; p++ {
				touchPage(m, p, w.op)
			}
			return Summary{Count: w.count, TotalNs: int64(time.Since(t0))}, nil
		}
		samples := make([]time.Duration, 0, w.count)
		t0 := time.Now()
		for p := first; p < end; p++ {
			t := time.Now()
			touchPage(m, p, w.op)
			samples = append(samples, time.Since(t))
		}
		return summarize(samples, time.Since(t0)), nil
	}, nil
}

// rewriteMode writes every page of its range (or of a fresh memfd) once
// during set-up, then times -rounds more writes of every page: owned pages
// that stay dirty in the page cache, as an iterative program's arrays do.
func rewriteMode(w *workerFlags) (timed, error) {
	var m []byte
	var err error
	first := w.first
	w.op = "write"
	if w.memfd {
		m, err = mapMemfd(w.count)
		first = 0
	} else {
		m, err = mapRange(w)
	}
	if err != nil {
		return nil, err
	}
	if w.rounds < 1 {
		return nil, fmt.Errorf("-rounds %d: want at least 1", w.rounds)
	}
	end := first + w.count
	for p := first; p < end; p++ {
		store(m, p, 1)
	}
	return func(context.Context) (Summary, error) {
		t0 := time.Now()
		for r := range w.rounds {
			for p := first; p < end; p++ {
				store(m, p, uint64(r)+2)
			}
		}
		return Summary{Count: w.count * w.rounds, TotalNs: int64(time.Since(t0))}, nil
	}, nil
}

// holdMode touches its pages during set-up and then only keeps them mapped
// until its stdin closes: the program on the owner node whose pages
// another node takes away.
func holdMode(w *workerFlags) (timed, error) {
	m, err := mapRange(w)
	if err != nil {
		return nil, err
	}
	for p := w.first; p < w.first+w.count; p++ {
		touchPage(m, p, w.op)
	}
	return func(context.Context) (Summary, error) { return Summary{}, nil }, nil
}

// invalMode caches each page (read: clean, write: dirty), asks the floor
// file system to invalidate it and collects the time the floor file system
// measured around its NotifyContent call. It checks that the page really
// left the page cache, so a silently failed invalidation cannot pass for
// a fast one.
func invalMode(w *workerFlags) (timed, error) {
	m, err := mapRange(w)
	if err != nil {
		return nil, err
	}
	c, err := net.Dial("unix", w.ctl)
	if err != nil {
		return nil, fmt.Errorf("floor control socket: %w", err)
	}
	return func(context.Context) (Summary, error) {
		defer c.Close()
		samples := make([]time.Duration, 0, w.count)
		var req [4]byte
		var resp [8]byte
		t0 := time.Now()
		for p := w.first; p < w.first+w.count; p++ {
			touchPage(m, p, w.op)
			binary.LittleEndian.PutUint32(req[:], uint32(p))
			if _, err := c.Write(req[:]); err != nil {
				return Summary{}, err
			}
			if _, err := io.ReadFull(c, resp[:]); err != nil {
				return Summary{}, err
			}
			ns := int64(binary.LittleEndian.Uint64(resp[:]))
			if ns < 0 {
				return Summary{}, fmt.Errorf("floor file system could not invalidate page %d", p)
			}
			if in, err := resident(m, p); err != nil || in {
				return Summary{}, fmt.Errorf("page %d still cached after invalidation (%v)", p, err)
			}
			samples = append(samples, time.Duration(ns))
		}
		return summarize(samples, time.Since(t0)), nil
	}, nil
}

// rttRequest and rttReply are the sizes of the RTT floor's messages: a
// page request and a page.
const rttRequest, rttReply = 16, 4096

// rttMode times count round trips to the echo server at -addr.
func rttMode(w *workerFlags) (timed, error) {
	c, err := net.Dial("tcp", w.addr)
	if err != nil {
		return nil, err
	}
	// Go sets TCP_NODELAY by default; the floor depends on it, so say so.
	if err := c.(*net.TCPConn).SetNoDelay(true); err != nil {
		return nil, err
	}
	req, reply := make([]byte, rttRequest), make([]byte, rttReply)
	roundTrip := func() error {
		if _, err := c.Write(req); err != nil {
			return err
		}
		_, err := io.ReadFull(c, reply)
		return err
	}
	for range 100 { // warm the connection and both processes' paths
		if err := roundTrip(); err != nil {
			return nil, err
		}
	}
	return func(context.Context) (Summary, error) {
		defer c.Close()
		samples := make([]time.Duration, 0, w.count)
		t0 := time.Now()
		for range w.count {
			t := time.Now()
			if err := roundTrip(); err != nil {
				return Summary{}, err
			}
			samples = append(samples, time.Since(t))
		}
		return summarize(samples, time.Since(t0)), nil
	}, nil
}

// sharedWords maps -file and returns the first two words of -page.
func sharedWords(w *workerFlags) (a, b *uint64, err error) {
	m, err := mapAt(w.file)
	if err != nil {
		return nil, nil, err
	}
	if w.page < 0 || (w.page+1)*pageSize > len(m) {
		return nil, nil, fmt.Errorf("page %d is outside %s", w.page, w.file)
	}
	return word(m, w.page*pageSize), word(m, w.page*pageSize+8), nil
}

// giveUp bounds a wait for the other program, which may have died.
const giveUp = 30 * time.Second

// pingpongMode takes strict turns with the program of the other -me on a
// turn counter: program k may only increment when counter%2 == k, so every
// turn needs the page on the other node first. Program 0 stops the game
// after -dur by raising the stop word, and reports the turns taken by both
// (Count) over its elapsed time (TotalNs).
func pingpongMode(w *workerFlags) (timed, error) {
	if w.me != 0 && w.me != 1 {
		return nil, fmt.Errorf("-me %d: want 0 or 1", w.me)
	}
	turn, stop, err := sharedWords(w)
	if err != nil {
		return nil, err
	}
	me := uint64(w.me)
	return func(ctx context.Context) (Summary, error) {
		t0 := time.Now()
		c0 := atomic.LoadUint64(turn)
		for {
			if me == 1 && atomic.LoadUint64(stop) != 0 {
				return Summary{}, nil
			}
			c := atomic.LoadUint64(turn)
			if c%2 != me {
				if time.Since(t0) > w.dur+giveUp {
					return Summary{}, fmt.Errorf("the other program stopped taking turns (counter %d, %v after start)", c, time.Since(t0))
				}
				if ctx.Err() != nil {
					return Summary{}, ctx.Err()
				}
				continue
			}
			if me == 0 && time.Since(t0) >= w.dur {
				atomic.StoreUint64(stop, 1)
				return Summary{Count: int(c - c0), TotalNs: int64(time.Since(t0))}, nil
			}
			atomic.StoreUint64(turn, c+1)
		}
	}, nil
}

// incrMode increments the counter in the first word of -page for -dur:
// atomically, or with -lock as a plain increment under a spin lock in the
// page's second word (what a program would do for a larger critical
// section). It reports its own increments.
func incrMode(w *workerFlags) (timed, error) {
	counter, lock, err := sharedWords(w)
	if err != nil {
		return nil, err
	}
	incr := func() { atomic.AddUint64(counter, 1) }
	if w.lock {
		incr = func() {
			for !atomic.CompareAndSwapUint64(lock, 0, 1) {
			}
			atomic.StoreUint64(counter, atomic.LoadUint64(counter)+1)
			atomic.StoreUint64(lock, 0)
		}
	}
	return func(ctx context.Context) (Summary, error) {
		n := 0
		t0 := time.Now()
		// The clock is read every 64 increments: often enough that a
		// batch stuck on a page in transit overshoots little, rarely
		// enough to cost nothing when the page is here.
		for time.Since(t0) < w.dur && ctx.Err() == nil {
			for range 64 {
				incr()
			}
			n += 64
		}
		return Summary{Count: n, TotalNs: int64(time.Since(t0))}, nil
	}, nil
}

// randomMode writes random pages of the segment for -dur, skipping the
// pages this node holds (mincore), so that every access it counts is a
// fault.
func randomMode(w *workerFlags) (timed, error) {
	m, err := mapAt(w.file)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(w.seed), 0x64736d6673))
	pages := len(m) / pageSize
	return func(ctx context.Context) (Summary, error) {
		n := 0
		t0 := time.Now()
		for time.Since(t0) < w.dur && ctx.Err() == nil {
			p := rng.IntN(pages)
			if in, err := resident(m, p); err != nil || in {
				if err != nil {
					return Summary{}, err
				}
				continue
			}
			store(m, p, uint64(n))
			n++
		}
		return Summary{Count: n, TotalNs: int64(time.Since(t0))}, nil
	}, nil
}
