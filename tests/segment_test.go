package tests

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestSegmentFile(t *testing.T) {
	c := startCluster(t)
	for i := range 2 {
		fi, err := inTime("stat", 10*time.Second, func() (os.FileInfo, error) { return os.Stat(c.seg(i)) })
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(c.pages*pageSize) || fi.Mode() != 0o600 {
			t.Errorf("node %d: segment has size %d and mode %v, want %d and -rw-------",
				i, fi.Size(), fi.Mode(), c.pages*pageSize)
		}
	}
}

// TestUnservedFaultGetsSIGBUS freezes node 1's daemon: a program on node 0
// that touches a page node 1 owns must get SIGBUS once --timeout passes,
// rather than hang. Afterwards node 1 resumes and both stop cleanly.
func TestUnservedFaultGetsSIGBUS(t *testing.T) {
	// The peer timeout outlasts the stop (the kernel retries the READ a
	// few times, ~5 s in all): this is about --timeout, not a death.
	c := startClusterWith(t, clusterOpts{flags: []string{"--timeout", "2s", "--peer-timeout", "60s"}})
	frozen := c.nodes[1].cmd.Process
	if err := frozen.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer frozen.Signal(syscall.SIGCONT)

	r := runProg(dsm("check", c.seg(0), (c.pages-1)*pageSize, 1, 0)...)
	t.Log(r)
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) {
		t.Fatalf("want the program killed by SIGBUS, got %v", r.err)
	}
	if ws := exit.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGBUS {
		t.Fatalf("want the program killed by SIGBUS, got %v", exit)
	}
}
