// Command gomap is the Go counterpart of c/dsmprog's write and check: it maps
// a dsmfs segment with the Go client (examples/go/dsm) at the address the C
// programs use, so the tests can show a Go process and a C process sharing
// the same bytes across nodes.
//
//	gomap write|check PATH OFFSET COUNT SEED
//
// Exit status: 0 success, 1 the pattern differs, 2 usage or setup.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/dsmfs/dsmfs/examples/go/dsm"
)

func main() {
	if len(os.Args) != 6 || (os.Args[1] != "write" && os.Args[1] != "check") {
		fail(2, "usage: gomap write|check PATH OFFSET COUNT SEED")
	}
	var nums [3]uint64
	for i, s := range os.Args[3:] {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			fail(2, "bad number %q", s)
		}
		nums[i] = v
	}
	off, count, seed := nums[0], nums[1], nums[2]
	m, err := dsm.Map(os.Args[2])
	if err != nil {
		fail(2, "%v", err)
	}
	seg := m.Bytes()
	if off > uint64(len(seg)) || count > uint64(len(seg))-off {
		fail(2, "range %d+%d exceeds the segment (%d bytes)", off, count, len(seg))
	}
	if os.Args[1] == "write" {
		for i := off; i < off+count; i++ {
			seg[i] = pattern(i, seed)
		}
		fmt.Printf("wrote %d bytes\n", count)
		return
	}
	bad := 0
	for i := off; i < off+count; i++ {
		if got, want := seg[i], pattern(i, seed); got != want {
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

// pattern is the byte expected at offset off for seed; c/dsmprog.c has the same.
func pattern(off, seed uint64) byte {
	h := off*0x9E3779B97F4A7C15 + seed
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return byte(h)
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gomap: "+format+"\n", args...)
	os.Exit(code)
}
