package tests

import (
	"bufio"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lockprog builds a lockprog command line.
func lockprog(args ...string) []string { return append([]string{bin.lock}, args...) }

// TestLockedCounterBothNodes: programs on two nodes increment a plain,
// non-atomic counter under flock, then under an fcntl byte-range lock; only
// a lock that excludes across nodes keeps the total exact.
func TestLockedCounterBothNodes(t *testing.T) {
	c := startCluster(t)
	const n = 1500
	off := (c.pages/2 - 1) * pageSize // node 0's last page; node 1 must take it
	for round, kind := range []string{"flock", "fcntl"} {
		runs := runTogether(t,
			lockprog("incr", c.seg(0), kind, strconv.Itoa(off), strconv.Itoa(n)),
			lockprog("incr", c.seg(1), kind, strconv.Itoa(off), strconv.Itoa(n)))
		requireInterleaving(t, runs)
		want := int64(2 * n * (round + 1))
		for i := range 2 {
			if got := c.getLong(i, off); got != want {
				t.Errorf("%s: node %d reads the counter as %d, want %d", kind, i, got, want)
			}
		}
	}
}

// TestLockReleasedOnExit: a program that exits holding a lock loses it, so
// a program on the other node can take it; while it holds it, the other
// node sees it taken (flock and fcntl both).
func TestLockReleasedOnExit(t *testing.T) {
	c := startCluster(t)
	for _, kind := range []string{"flock", "fcntl"} {
		ctx, cancel := context.WithTimeout(context.Background(), progTimeout)
		holder := exec.CommandContext(ctx, bin.lock, "hold", c.seg(0), kind, "1.5")
		out, err := holder.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "held" {
			t.Fatalf("%s: holder said %q", kind, line)
		}
		if got := strings.TrimSpace(mustRun(t, lockprog("try", c.seg(1), kind)...)); got != "busy" {
			t.Errorf("%s: while node 0 holds the lock, node 1 finds it %s", kind, got)
		}
		if err := holder.Wait(); err != nil {
			t.Fatalf("%s: holder: %v", kind, err)
		}
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for got := ""; got != "free"; got = strings.TrimSpace(mustRun(t, lockprog("try", c.seg(1), kind)...)) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: lock still taken after its holder exited", kind)
			}
		}
	}
}

// TestLockReleasedWhenNodeDies: locks held by programs on a node whose
// daemon is killed go with it, so programs on the other node can take them.
func TestLockReleasedWhenNodeDies(t *testing.T) {
	c := startCluster(t) // node 0 keeps the lock table; node 1 dies
	var holders []*exec.Cmd
	defer func() {
		for _, h := range holders {
			h.Process.Kill()
			h.Wait()
		}
	}()
	for _, kind := range []string{"flock", "fcntl"} {
		holder := exec.Command(bin.lock, "hold", c.seg(1), kind, "60")
		out, err := holder.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		holders = append(holders, holder)
		if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "held" {
			t.Fatalf("%s: holder said %q", kind, line)
		}
		if got := strings.TrimSpace(mustRun(t, lockprog("try", c.seg(0), kind)...)); got != "busy" {
			t.Fatalf("%s: node 1 holds the lock, node 0 finds it %s", kind, got)
		}
	}
	c.nodes[1].kill() // SIGKILL: its holders live on, their node is gone
	for _, kind := range []string{"flock", "fcntl"} {
		deadline := time.Now().Add(5 * time.Second)
		for got := ""; got != "free"; got = strings.TrimSpace(mustRun(t, lockprog("try", c.seg(0), kind)...)) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the dead node's lock is still held", kind)
			}
		}
	}
}
