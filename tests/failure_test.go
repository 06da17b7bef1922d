package tests

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStoppedPeerDeclaredDead: one of three nodes stops answering (kill
// -STOP keeps its sockets open, so only silence can tell). Within the peer
// timeout the others declare it dead: a fault on its pages fails at once
// with SIGBUS instead of waiting out --timeout, the rest keeps working, and
// .stats marks it dead. When it resumes it knows it was declared dead and exits
// rather than serve its pages.
func TestStoppedPeerDeclaredDead(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3, pages: 96, flags: []string{"--peer-timeout", "2s", "--timeout", "30s"}})
	stopped := c.nodes[2]
	stopped.cmd.Process.Signal(syscall.SIGSTOP)
	stoppedAt := time.Now()
	defer stopped.cmd.Process.Signal(syscall.SIGCONT)

	waitFor(t, 10*time.Second, func() bool { return c.peerDead(0, 2) })

	start := time.Now()
	r := runProg(dsm("get", c.seg(0), 80*pageSize)...) // node 2's page
	if r.err == nil || !strings.Contains(r.err.Error(), "bus error") {
		t.Fatalf("a fault on a dead node's page: want SIGBUS, got %s", r)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the fault took %v: it waited out --timeout instead of failing at once", took)
	}
	mustRun(t, dsm("write", c.seg(0), 40*pageSize, 8*pageSize, 5)...) // node 1's pages
	mustRun(t, dsm("check", c.seg(1), 40*pageSize, 8*pageSize, 5)...)

	// Stopped clearly longer than the peer timeout, which is what it
	// can tell from its own clock.
	time.Sleep(time.Until(stoppedAt.Add(4 * time.Second)))
	stopped.cmd.Process.Signal(syscall.SIGCONT)
	if !stopped.waitExit(15 * time.Second) {
		t.Fatal("the resumed node keeps running after being declared dead")
	}
	stopped.seenExit = true
	if stopped.exitCode() == 0 || !strings.Contains(stopped.stderr.String(), "declared it dead") || isMounted(stopped.mnt) {
		t.Fatalf("resumed node: want a non-zero exit saying it was declared dead, and no mount; got %v, mounted %v:\n%s",
			stopped.cmd.ProcessState, isMounted(stopped.mnt), stopped.stderr.tail(2000))
	}
}

// TestRestartWithoutReplicasRefused: without --replicas, a node killed and
// restarted cannot rejoin; whether it dials its peer or waits for its peer
// to dial, it is told at once (not at the end of its join timeout) that it
// must restart every node, and leaves no mount behind.
func TestRestartWithoutReplicasRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		killed int
	}{
		{"dialer", 0},
		{"dialed", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t)
			old := c.nodes[tc.killed]
			old.kill()
			// A join timeout longer than watchUntilExit waits: only being
			// told ends the join in time.
			args := append(old.cmd.Args[1:], "--join-timeout", "10m")
			d := startDaemon(t, old.name, old.mnt, args)
			watchUntilExit(t, d)
			if !strings.Contains(d.stderr.String(), "restart every node") {
				t.Errorf("the restarted node does not say to restart every node:\n%s", d.stderr.String())
			}
		})
	}
}
