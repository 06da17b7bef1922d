// Command counter adds N to a counter shared by every node, one atomic
// increment at a time, and prints the counter after its last increment.
//
//	go build -o counter ./examples/go/counter
//	node A$ ./counter /mnt/dsm/segment 100000
//	node B$ ./counter /mnt/dsm/segment 100000   # at the same time
//
// The one that finishes last prints the sum of all increments. OFFSET
// (default 0, a multiple of 8) picks where the counter lives.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/dsmfs/dsmfs/examples/go/dsm"
)

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fail(2, errors.New("usage: counter SEGMENT N [OFFSET]"))
	}
	n, err := strconv.ParseInt(os.Args[2], 0, 64)
	if err != nil {
		fail(2, err)
	}
	off := int64(0)
	if len(os.Args) == 4 {
		if off, err = strconv.ParseInt(os.Args[3], 0, 64); err != nil {
			fail(2, err)
		}
	}
	seg, err := dsm.Map(os.Args[1])
	switch {
	case errors.Is(err, dsm.ErrAddressTaken):
		fail(3, err)
	case errors.Is(err, dsm.ErrNotSegment):
		fail(4, err)
	case err != nil:
		fail(1, err)
	}
	defer seg.Close()
	b := seg.Bytes()
	if off < 0 || off%8 != 0 || off+8 > int64(len(b)) {
		fail(2, fmt.Errorf("offset %d is unaligned or past the segment (%d bytes)", off, len(b)))
	}
	// An atomic add works across nodes because the page is in one place
	// at a time: the node that owns it runs the instruction at memory speed.
	ctr := (*int64)(unsafe.Pointer(&b[off]))
	var v int64
	for range n {
		v = atomic.AddInt64(ctr, 1)
	}
	fmt.Println(v)
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "counter:", err)
	os.Exit(code)
}
