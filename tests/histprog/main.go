// Command histprog records a history of reads and writes on registers in a
// dsmfs segment, for tests/history to check for linearizability.
//
//	histprog PATH CLIENT FIRSTPAGE REGS SECONDS OUT [SEED]
//
// It maps the segment at PATH with the Go client, and for SECONDS does, at
// random, reads and writes of REGS uint64 registers, one at the start of
// each page from FIRSTPAGE on. A write stores a value no other client
// writes (CLIENT in the high half) and then msyncs its page (MS_SYNC), so
// that with --replicas it survives its node's death once it returns (a
// failed msync is retried, see storeSynced). Each operation appends a call
// line to OUT before it starts and a return line after it returns (see
// history.Line). A fault on the segment (SIGBUS: its node died or was
// fenced) or an msync that fails for 2 minutes leaves the operation
// without a return and ends the program with status 3; 2 is a usage
// error. SIGTERM ends it after the operation in hand, with status 0.
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dsmfs/dsmfs/examples/go/dsm"
	"github.com/dsmfs/dsmfs/tests/history"
)

const pageSize = 4096

func main() {
	if len(os.Args) < 7 {
		fail(2, "usage: histprog PATH CLIENT FIRSTPAGE REGS SECONDS OUT [SEED]")
	}
	seed := "0"
	if len(os.Args) > 7 {
		seed = os.Args[7]
	}
	n := make([]int, 0, 5)
	for _, a := range []string{os.Args[2], os.Args[3], os.Args[4], os.Args[5], seed} {
		v, err := strconv.Atoi(a)
		if err != nil {
			fail(2, "bad number %q", a)
		}
		n = append(n, v)
	}
	client, first, regs, secs := n[0], n[1], n[2], n[3]
	seg, err := dsm.Map(os.Args[1])
	if err != nil {
		fail(2, "%v", err)
	}
	if (first+regs)*pageSize > len(seg.Bytes()) {
		fail(2, "registers end past the segment")
	}
	out, err := os.OpenFile(os.Args[6], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fail(2, "%v", err)
	}
	r := &recorder{out: out, client: client}
	debug.SetPanicOnFault(true) // a SIGBUS in the segment becomes a panic here
	defer func() {
		if e := recover(); e != nil {
			fail(3, "client %d: the segment failed in operation %d: %v", client, r.seq, e)
		}
	}()
	rng := rand.New(rand.NewPCG(uint64(client), uint64(n[4])))
	var stop atomic.Bool
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() { <-term; stop.Store(true) }()
	for end := time.Now().Add(time.Duration(secs) * time.Second); time.Now().Before(end) && !stop.Load(); {
		reg := rng.IntN(regs)
		page := seg.Bytes()[(first+reg)*pageSize:][:pageSize]
		word := (*uint64)(unsafe.Pointer(&page[0]))
		if rng.IntN(2) == 0 {
			v := uint64(client)<<32 | uint64(r.seq+1)
			r.call(true, reg, v)
			if err := storeSynced(word, page, v); err != nil {
				fail(3, "client %d: operation %d: %v", client, r.seq, err)
			}
			r.ret(reg, 0)
		} else {
			r.call(false, reg, 0)
			r.ret(reg, atomic.LoadUint64(word))
		}
		time.Sleep(200 * time.Microsecond) // leave the daemons a core
	}
	fmt.Printf("client %d: %d operations\n", client, r.seq)
}

// storeSynced stores v and msyncs its page. An msync failing with EIO (the peer
// that would keep the copy died, and the recovery has not yet given the
// node another) is retried every 100 ms after storing v again, since an
// msync of a page with nothing new to write back could report success
// with nothing copied, as tests/c/soak.c does; after 2 minutes it gives
// up.
func storeSynced(word *uint64, page []byte, v uint64) error {
	for deadline := time.Now().Add(2 * time.Minute); ; {
		atomic.StoreUint64(word, v)
		err := unix.Msync(page, unix.MS_SYNC)
		if err == nil {
			return nil
		}
		if err != unix.EIO { // ENOTCONN: this node's daemon is gone
			return fmt.Errorf("msync: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("msync failing for 2 minutes: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recorder appends a history's lines, one write each, so that a kill
// leaves only whole lines but perhaps the last.
type recorder struct {
	out    *os.File
	client int
	seq    int // the operation under way
}

func (r *recorder) call(write bool, reg int, v uint64) {
	r.line(history.Line{Client: r.client, Seq: r.seq, Write: write, Reg: reg, Value: v, Time: time.Now().UnixNano()})
}

func (r *recorder) ret(reg int, v uint64) {
	r.line(history.Line{Client: r.client, Seq: r.seq, Return: true, Reg: reg, Value: v, Time: time.Now().UnixNano()})
	r.seq++
}

func (r *recorder) line(l history.Line) {
	b, _ := json.Marshal(l)
	if _, err := r.out.Write(append(b, '\n')); err != nil {
		fail(2, "history: %v", err)
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "histprog: "+format+"\n", args...)
	os.Exit(code)
}
