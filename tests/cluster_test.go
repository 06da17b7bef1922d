package tests

import (
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	pageSize = 4096
	// testPages is the default segment size: 1 MiB, small enough to touch
	// every page in a test, large enough for spread-out data structures.
	testPages = 256
	// readyTimeout bounds the handshake and mount of a fresh cluster.
	readyTimeout = 30 * time.Second
)

// argOrder says where the flags go relative to the mount point, since the
// documented form puts the mount point first and flag parsers often stop at
// the first positional argument.
type argOrder int

const (
	flagsFirst argOrder = iota // dsmfs mount --listen ... MNT
	mountFirst                 // dsmfs mount MNT --listen ...
)

func mountArgs(mnt string, order argOrder, flags ...string) []string {
	if order == mountFirst {
		return append([]string{"mount", mnt}, flags...)
	}
	return append(append([]string{"mount"}, flags...), mnt)
}

// cluster is two mounted daemons on loopback. nodes[i] is node number i,
// i.e. the i-th name in string order, which initially owns pages
// [i*pages/2, (i+1)*pages/2).
type cluster struct {
	t     *testing.T
	pages int
	nodes [2]*daemon
}

// freeAddrs returns two loopback addresses that were free a moment ago,
// sorted as strings, the way the daemon numbers nodes. One port has four
// digits and the other (from the kernel's ephemeral range) five, so that the
// string order is the reverse of the numeric one and a daemon that sorts
// numerically shows up in the .owners tests.
func freeAddrs(t *testing.T) []string {
	t.Helper()
	var addrs []string
	listen := func(addr string) bool {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
		return true
	}
	for port := 2000 + rand.IntN(5000); !listen(fmt.Sprintf("127.0.0.1:%d", port)); port++ {
		if port == 9999 {
			t.Fatal("no free four-digit port on 127.0.0.1")
		}
	}
	if !listen("127.0.0.1:0") {
		t.Fatal("no free ephemeral port on 127.0.0.1")
	}
	sort.Strings(addrs)
	return addrs
}

// clusterOpts varies a cluster from the defaults.
type clusterOpts struct {
	orders [2]argOrder // node 0's and node 1's; flags first by default
	flags  []string    // extra flags for both daemons
}

// startCluster starts two daemons with default options and waits until both
// are mounted.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterWith(t, clusterOpts{})
}

func startClusterWith(t *testing.T, opts clusterOpts) *cluster {
	t.Helper()
	requireE2E(t)
	c := &cluster{t: t, pages: testPages}
	addrs := freeAddrs(t)
	for i, addr := range addrs {
		mnt := newMountDir(t)
		flags := append([]string{"--listen", addr, "--peer", addrs[1-i],
			"--pages", strconv.Itoa(c.pages), "--join-timeout", "20s"}, opts.flags...)
		c.nodes[i] = startDaemon(t, addr, mnt, mountArgs(mnt, opts.orders[i], flags...))
	}
	for _, d := range c.nodes {
		waitMounted(t, d)
	}
	return c
}

// waitMounted waits until the daemon's mount is listed, .owners reads, and
// the daemon logged that it is mounted.
func waitMounted(t *testing.T, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	var why string
	for time.Now().Before(deadline) {
		if !d.running() {
			d.seenExit = true
			t.Fatalf("%s: daemon exited before it was mounted: %v", d.name, d.cmd.ProcessState)
		}
		switch _, err := readFile(filepath.Join(d.mnt, ".owners"), 5*time.Second); {
		case !isMounted(d.mnt):
			why = d.mnt + " not in /proc/self/mounts"
		case err != nil:
			why = err.Error()
		case !strings.Contains(d.stderr.String(), "mounted"):
			why = "no log line containing \"mounted\""
		default:
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not ready after %v: %s", d.name, readyTimeout, why)
}

// seg is node i's segment file.
func (c *cluster) seg(i int) string { return filepath.Join(c.nodes[i].mnt, "segment") }

// pageOwner is the node that owns page p when the cluster starts.
func (c *cluster) pageOwner(p int) int { return p * 2 / c.pages }
