// Command gomap is the Go counterpart of c/dsmprog's write, check and turns:
// it maps a dsmfs segment with the Go client (examples/go/dsm) at the
// address the C programs use, so the tests can show a Go process and a C
// process sharing the same bytes across nodes.
//
//	gomap write|check PATH OFFSET COUNT SEED
//	gomap turns PATH OFFSET ME PARTIES N
//	gomap watch PATH OFFSET
//	gomap both PATH OFFSET
//
// A PATH ending in .ro (segment.ro) is mapped read-only with MapReadOnly,
// as programs that only read map it.
//
// watch prints the int64 at OFFSET, then again for every line on stdin, so
// that a test can change it between lines from another node. both maps
// PATH (segment) with Map and PATH.ro with MapReadOnlyAt wherever the
// kernel puts it, stores a value at OFFSET and a pointer to it (at 1 GiB)
// after it through segment, follows the pointer through segment.ro with
// Translate, and does it again with a new value.
//
// turns takes N strict turns on the int64 at OFFSET with PARTIES programs,
// as dsmprog's does, and prints the longest wait for a turn. As in dsmprog,
// DSMPROG_TIMER_US=T adds a SIGALRM every T microseconds to the signals the
// Go runtime sends itself to preempt goroutines: both interrupt faults.
//
// Exit status: 0 success, 1 the shared memory misbehaved, 2 usage or setup.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dsmfs/dsmfs/examples/go/dsm"
)

const usage = "usage: gomap write|check PATH OFFSET COUNT SEED | gomap turns PATH OFFSET ME PARTIES N | gomap watch|both PATH OFFSET"

func main() {
	if len(os.Args) < 3 {
		fail(2, usage)
	}
	cmd, nums := os.Args[1], numbers(os.Args[3:])
	mapFile := dsm.Map
	if strings.HasSuffix(os.Args[2], ".ro") {
		mapFile = dsm.MapReadOnly
	}
	m, err := mapFile(os.Args[2])
	if err != nil {
		fail(2, "%v", err)
	}
	startTimer()
	seg := m.Bytes()
	switch {
	case (cmd == "write" || cmd == "check") && len(nums) == 3:
		pattern(seg, cmd, nums[0], nums[1], nums[2])
	case cmd == "turns" && len(nums) == 4:
		turns(seg, nums[0], int64(nums[1]), int64(nums[2]), int64(nums[3]))
	case cmd == "watch" && len(nums) == 1:
		watch(seg, nums[0])
	case cmd == "both" && len(nums) == 1:
		both(seg, os.Args[2]+".ro", nums[0])
	default:
		fail(2, usage)
	}
}

func numbers(args []string) []uint64 {
	var out []uint64
	for _, s := range args {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			fail(2, "bad number %q", s)
		}
		out = append(out, v)
	}
	return out
}

// startTimer sends this process SIGALRM every DSMPROG_TIMER_US microseconds.
func startTimer() {
	env := os.Getenv("DSMPROG_TIMER_US")
	if env == "" {
		return
	}
	us, err := strconv.Atoi(env)
	if err != nil || us < 1 || us > 999999 {
		fail(2, "DSMPROG_TIMER_US=%s: want 1 to 999999", env)
	}
	alarms := make(chan os.Signal, 1)
	signal.Notify(alarms, unix.SIGALRM)
	go func() {
		for range alarms {
		}
	}()
	every := unix.NsecToTimeval(int64(us) * 1000)
	if _, err := unix.Setitimer(unix.ITIMER_REAL, unix.Itimerval{Interval: every, Value: every}); err != nil {
		fail(2, "setitimer: %v", err)
	}
}

func pattern(seg []byte, cmd string, off, count, seed uint64) {
	if off > uint64(len(seg)) || count > uint64(len(seg))-off {
		fail(2, "range %d+%d exceeds the segment (%d bytes)", off, count, len(seg))
	}
	if cmd == "write" {
		for i := off; i < off+count; i++ {
			seg[i] = patternByte(i, seed)
		}
		fmt.Printf("wrote %d bytes\n", count)
		return
	}
	bad := 0
	for i := off; i < off+count; i++ {
		if got, want := seg[i], patternByte(i, seed); got != want {
			if bad++; bad <= 5 {
				fmt.Fprintf(os.Stderr, "offset %d (page %d): got %02x want %02x\n", i, i/4096, got, want)
			}
		}
	}
	if bad > 0 {
		fail(1, "%d of %d bytes differ", bad, count)
	}
	fmt.Printf("checked %d bytes\n", count)
}

// patternByte is the byte expected at offset off for seed; c/dsmprog.c has
// the same.
func patternByte(off, seed uint64) byte {
	h := off*0x9E3779B97F4A7C15 + seed
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return byte(h)
}

// waitLimit is how long a turn may take before the program gives up.
const waitLimit = 45 * time.Second

func turns(seg []byte, off uint64, me, parties, n int64) {
	if off%8 != 0 || off+8 > uint64(len(seg)) || parties < 1 || me < 0 || me >= parties {
		fail(2, "turns: offset %d, me %d, parties %d do not fit", off, me, parties)
	}
	word := (*int64)(unsafe.Pointer(&seg[off]))
	var longest time.Duration
	last := time.Now()
	for t := range n {
		want := t*parties + me
		v := atomic.LoadInt64(word)
		for ; v < want; v = atomic.LoadInt64(word) {
			if time.Since(last) > waitLimit {
				fail(1, "waited %v for the word to reach %d, it is %d", waitLimit, want, v)
			}
		}
		if v != want {
			fail(1, "turn %d: the word is %d, want %d", t, v, want)
		}
		atomic.StoreInt64(word, v+1)
		now := time.Now()
		longest = max(longest, now.Sub(last))
		last = now
	}
	fmt.Printf("turns=%d longest_wait_ms=%.1f\n", n, float64(longest.Microseconds())/1e3)
}

// int64At is the int64 at off of seg, which must fit.
func int64At(seg []byte, off uint64) *int64 {
	if off%8 != 0 || off+8 > uint64(len(seg)) {
		fail(2, "offset %d is unaligned or past the segment (%d bytes)", off, len(seg))
	}
	return (*int64)(unsafe.Pointer(&seg[off]))
}

func watch(seg []byte, off uint64) {
	word := int64At(seg, off)
	in := bufio.NewScanner(os.Stdin)
	for {
		fmt.Println(atomic.LoadInt64(word))
		if !in.Scan() {
			return
		}
	}
}

func both(seg []byte, roPath string, off uint64) {
	ro, err := dsm.MapReadOnlyAt(roPath, 0)
	if err != nil {
		fail(2, "%v", err)
	}
	defer ro.Close()
	value, ptr := int64At(seg, off), int64At(seg, off+8)
	atomic.StoreInt64(ptr, int64(dsm.Addr+off))
	for _, v := range []int64{41, 42} {
		atomic.StoreInt64(value, v)
		// The stored pointer, read and followed through segment.ro.
		stored := uintptr(atomic.LoadInt64((*int64)(ro.Translate(dsm.Addr + uintptr(off) + 8))))
		if got := atomic.LoadInt64((*int64)(ro.Translate(stored))); got != v {
			fail(1, "through segment.ro at %#x, the pointer %#x leads to %d, want %d",
				uintptr(unsafe.Pointer(unsafe.SliceData(ro.Bytes()))), stored, got, v)
		}
	}
	fmt.Printf("followed the pointer through segment.ro at %#x twice\n", uintptr(unsafe.Pointer(unsafe.SliceData(ro.Bytes()))))
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gomap: "+format+"\n", args...)
	os.Exit(code)
}
