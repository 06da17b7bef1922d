package bench

import (
	"fmt"
	"io"
	"net"
	"strconv"
)

// Samples per floor and round: enough for a stable p50, few enough that a
// round takes a fraction of a second.
const (
	floorFaults = 1000
	floorInvals = 500
	floorRTTs   = 2000
	floorRelays = 1000
	tmpfsPages  = 4096
	// floorRounds are spread through the run (see Run); each round uses
	// fresh pages of the floor file.
	floorRounds = 4
)

// floors measures the floors in rounds and keeps every round's value.
type floors struct {
	g                      *children
	file, relay, ctl, echo string
	done                   int
	fault, rtt, relayed    rounds
	invalClean             rounds
	invalDirty             rounds
	tmpfsNsPerPage         rounds
	progress               func(format string, args ...any)
}

// round measures every floor once.
func (f *floors) round() error {
	first := f.done * (floorFaults + 2*floorInvals)
	if first+floorFaults+2*floorInvals > floorPages {
		return fmt.Errorf("floor file too small for round %d", f.done+1)
	}
	f.done++
	pages := func(first, count int) []string {
		return []string{"-file", f.file, "-first", strconv.Itoa(first), "-count", strconv.Itoa(count)}
	}
	fault, err := f.g.measureOne(append([]string{"touch", "-op", "read", "-each"}, pages(first, floorFaults)...)...)
	if err != nil {
		return err
	}
	first += floorFaults
	clean, err := f.g.measureOne(append([]string{"inval", "-ctl", f.ctl, "-op", "read"}, pages(first, floorInvals)...)...)
	if err != nil {
		return err
	}
	first += floorInvals
	dirty, err := f.g.measureOne(append([]string{"inval", "-ctl", f.ctl, "-op", "write"}, pages(first, floorInvals)...)...)
	if err != nil {
		return err
	}
	rtt, err := f.g.measureOne("rtt", "-addr", f.echo, "-count", strconv.Itoa(floorRTTs))
	if err != nil {
		return err
	}
	relay, err := f.g.measureOne("touch", "-op", "read", "-each", "-file", f.relay,
		"-first", strconv.Itoa((f.done-1)*floorRelays), "-count", strconv.Itoa(floorRelays))
	if err != nil {
		return err
	}
	tmpfs, err := f.g.measureOne("touch", "-memfd", "-op", "write", "-count", strconv.Itoa(tmpfsPages))
	if err != nil {
		return err
	}
	f.fault.add(us(fault.P50Ns))
	f.invalClean.add(us(clean.P50Ns))
	f.invalDirty.add(us(dirty.P50Ns))
	f.rtt.add(us(rtt.P50Ns))
	f.relayed.add(us(relay.P50Ns))
	f.tmpfsNsPerPage.add(perItem(tmpfs))
	f.progress("floors round %d/%d: fuse fault %.1f µs, rtt 4k %.1f µs, relay %.1f µs, invalidation clean %.1f / dirty %.1f µs, tmpfs %.0f ns/page",
		f.done, floorRounds, us(fault.P50Ns), us(rtt.P50Ns), us(relay.P50Ns), us(clean.P50Ns), us(dirty.P50Ns), perItem(tmpfs))
	return nil
}

// report puts each floor's minimum over the rounds into r.
func (f *floors) report(r *Result) {
	for key, rs := range map[string]rounds{
		"floor_fuse_fault_us":      f.fault,
		"floor_rtt_4k_us":          f.rtt,
		"floor_relay_us":           f.relayed,
		"floor_inval_clean_us":     f.invalClean,
		"floor_inval_dirty_us":     f.invalDirty,
		"tmpfs_access_ns_per_page": f.tmpfsNsPerPage,
	} {
		if v, ok := rs.floor(); ok {
			r.set(key, v)
		}
	}
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// perItem is a sweep's nanoseconds per item.
func perItem(s Summary) float64 { return float64(s.TotalNs) / float64(s.Count) }

// serveEcho is the far end of the RTT floor: for every 16-byte request it
// writes a 4 KiB reply, as an owner answers a page request. It runs in
// Run's process, a different process from the rtt worker.
func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.(*net.TCPConn).SetNoDelay(true)
		go func() {
			defer c.Close()
			req, reply := make([]byte, rttRequest), make([]byte, rttReply)
			for {
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				if _, err := c.Write(reply); err != nil {
					return
				}
			}
		}()
	}
}
