package tests

import (
	"bufio"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exitTimeout bounds how long a daemon that must give up (bad peer, no peer)
// may take; the tests set --join-timeout well below it.
const exitTimeout = 30 * time.Second

// watchUntilExit waits for all daemons to exit, and fails the test if one
// is still running at the deadline, exits with status 0, ever served its
// mount (a daemon mounts before it joins, but serves only once joined), or
// leaves its mount behind.
func watchUntilExit(t *testing.T, ds ...*daemon) {
	t.Helper()
	deadline := time.Now().Add(exitTimeout)
	for _, d := range ds {
		select {
		case <-d.exited:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%s: still running %v after start, want it to give up", d.name, exitTimeout)
		}
		d.seenExit = true
		if d.exitCode() == 0 {
			t.Errorf("%s: exited with status 0, want non-zero", d.name)
		}
		if strings.Contains(d.stderr.String(), "msg=mounted") {
			t.Errorf("%s: served its mount, want an exit before", d.name)
		}
		if isMounted(d.mnt) {
			t.Errorf("%s: %s is still mounted after the daemon exited", d.name, d.mnt)
		}
	}
}

// lineNaming returns the first line of out whose words include all of want
// (whole words, so a port number containing "256" does not count).
func lineNaming(out string, want ...string) (string, bool) {
	word := regexp.MustCompile(`\w+`)
	for _, line := range strings.Split(out, "\n") {
		words := word.FindAllString(line, -1)
		if !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(words, w) }) {
			return line, true
		}
	}
	return "", false
}

func TestSizeMismatchRefused(t *testing.T) {
	requireE2E(t)
	cases := []struct {
		name  string
		flags [2][]string
		// the two values as the message may spell them: pages, bytes, flag
		values [][2]string
	}{
		{"pages", [2][]string{{"--pages", "256"}, {"--pages", "512"}}, [][2]string{{"256", "512"}}},
		{"size", [2][]string{{"--size", "1M"}, {"--size", "2M"}},
			[][2]string{{"256", "512"}, {"1048576", "2097152"}, {"1M", "2M"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addrs := freeAddrs(t, 2)
			var ds []*daemon
			for i, addr := range addrs {
				mnt := newMountDir(t)
				flags := append([]string{"--listen", addr, "--peer", addrs[1-i], "--join-timeout", "10s"}, tc.flags[i]...)
				ds = append(ds, startDaemon(t, addr, mnt, mountArgs(mnt, flagsFirst, flags...)))
			}
			watchUntilExit(t, ds...)
			for _, d := range ds {
				named := false
				for _, v := range tc.values {
					if line, ok := lineNaming(d.stderr.String(), v[0], v[1]); ok {
						t.Logf("%s: %s", d.name, line)
						named = true
						break
					}
				}
				if !named {
					t.Errorf("%s: no line of its output names both sizes (%v)", d.name, tc.values)
				}
			}
		})
	}
}

func TestMissingPeerGivesUp(t *testing.T) {
	requireE2E(t)
	// Both roles: the lower name dials, the higher one accepts.
	for _, role := range []string{"dialer", "acceptor"} {
		t.Run(role, func(t *testing.T) {
			addrs := freeAddrs(t, 2)
			self, peer := addrs[0], addrs[1]
			if role == "acceptor" {
				self, peer = peer, self
			}
			mnt := newMountDir(t)
			d := startDaemon(t, self, mnt, mountArgs(mnt, flagsFirst,
				"--listen", self, "--peer", peer, "--pages", "256", "--join-timeout", "2s"))
			watchUntilExit(t, d)
			if !strings.Contains(d.stderr.String(), peer) {
				t.Errorf("output does not name the missing peer %s", peer)
			}
		})
	}
}

// TestSignalUnmountsWhileMapped stops node 0 with SIGTERM while a program
// still maps its segment (the unmount is busy and must fall back to a lazy
// one), then node 1 with SIGINT. Each must exit 0 with its mount gone.
func TestSignalUnmountsWhileMapped(t *testing.T) {
	c := startCluster(t)
	hold := exec.Command(bin.prog, "hold", c.seg(0), "120")
	stdout, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	line, exited := make(chan string, 1), make(chan struct{})
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		hold.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		hold.Process.Kill()
		<-exited
	})
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "mapped") {
			t.Fatalf("dsmprog hold did not map the segment: %q", s)
		}
	case <-time.After(progTimeout):
		t.Fatal("dsmprog hold did not report the mapping in time")
	}

	c.nodes[0].stop(syscall.SIGTERM)
	select {
	case <-exited:
		t.Fatalf("the mapping program ended early (%v): the unmount was not busy", hold.ProcessState)
	default:
	}
	c.nodes[1].stop(syscall.SIGINT)
}

// TestFlagOrder runs clusters where one node gets the documented form
// `dsmfs mount MNT --flags` and the other `dsmfs mount --flags MNT`.
func TestFlagOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		orders []argOrder
	}{
		{"node0-mount-first", []argOrder{mountFirst, flagsFirst}},
		{"node1-mount-first", []argOrder{flagsFirst, mountFirst}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startClusterWith(t, clusterOpts{orders: tc.orders})
			c.checkOwnership(c.pageOwner) // both honoured --listen, --peer, --pages
			off, count := c.straddle()
			mustRun(t, gomap("write", c.seg(0), off, count, 5)...)
			mustRun(t, dsm("check", c.seg(1), off, count, 5)...)
		})
	}
}
