package tests

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
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

// cluster is n mounted daemons on loopback, each listing all the others as
// peers. nodes[i] is node number i, i.e. the i-th name in string order, which
// initially owns pages [i*pages/n, (i+1)*pages/n).
type cluster struct {
	t     *testing.T
	pages int
	nodes []*daemon
}

// freeAddrs returns n loopback addresses that were free a moment ago, sorted
// as strings, the way the daemon numbers nodes. Every other port has four
// digits (2000-9999) and the rest five digits starting with 1 (10000-19999),
// so the string order puts every five-digit port before every four-digit
// one, against the numeric order: a daemon that sorts numerically shows up
// in the .owners tests. Both ranges lie below the kernel's default ephemeral
// range (32768-60999), so no outgoing connection of a daemon can take a port
// before the daemon meant to listen on it has bound it.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	return freeAddrsIn(t, n, [2]int{2000, 9999}, [2]int{10000, 19999})
}

// freeAddrsIn is freeAddrs with its four- and five-digit ports taken from
// the ranges short and long, so that a group of tests can keep to its own.
func freeAddrsIn(t *testing.T, n int, short, long [2]int) []string {
	t.Helper()
	var addrs []string
	for i := range n {
		lo, hi := short[0], short[1]
		if i%2 == 1 {
			lo, hi = long[0], long[1]
		}
		port := lo + rand.IntN((hi-lo)/2)
		for slices.Contains(addrs, fmt.Sprintf("127.0.0.1:%d", port)) || !canListen(port) {
			if port++; port > hi {
				t.Fatalf("no free port in %d-%d on 127.0.0.1", lo, hi)
			}
		}
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	sort.Strings(addrs)
	return addrs
}

// canListen reports whether port on 127.0.0.1 is free right now.
func canListen(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// peerFlags lists every address but addrs[i] as a --peer.
func peerFlags(addrs []string, i int) []string {
	var flags []string
	for j, a := range addrs {
		if j != i {
			flags = append(flags, "--peer", a)
		}
	}
	return flags
}

// clusterOpts varies a cluster from the defaults.
type clusterOpts struct {
	nodes  int        // 2 if zero
	pages  int        // testPages if zero
	orders []argOrder // orders[i] is node i's; flags first for nodes beyond
	flags  []string   // extra flags for every daemon
	// nodeFlags, if set, gives extra flags for node i alone.
	nodeFlags func(i int) []string
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
	n := cmp.Or(opts.nodes, 2)
	c := &cluster{t: t, pages: cmp.Or(opts.pages, testPages)}
	addrs := freeAddrs(t, n)
	for i, addr := range addrs {
		mnt := newMountDir(t)
		order := flagsFirst
		if i < len(opts.orders) {
			order = opts.orders[i]
		}
		flags := append([]string{"--listen", addr}, peerFlags(addrs, i)...)
		flags = append(flags, "--pages", strconv.Itoa(c.pages), "--join-timeout", "20s")
		flags = append(flags, opts.flags...)
		if opts.nodeFlags != nil {
			flags = append(flags, opts.nodeFlags(i)...)
		}
		c.nodes = append(c.nodes, startDaemon(t, addr, mnt, mountArgs(mnt, order, flags...)))
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

// pageOwner is the node that owns page p when the cluster starts: the i with
// i*pages/n <= p < (i+1)*pages/n, rounding down as the README does.
func (c *cluster) pageOwner(p int) int { return ((p+1)*len(c.nodes) - 1) / c.pages }

// firstPage is the first page node i owns when the cluster starts; node i's
// pages end before firstPage(i+1).
func (c *cluster) firstPage(i int) int { return i * c.pages / len(c.nodes) }
