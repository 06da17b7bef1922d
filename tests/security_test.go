package tests

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// The security tests play strangers and impostors against real daemons
// (see hostile_test.go) in each mode: with a secret, and without one, where
// only addresses tell members apart. A stranger "outside the member list"
// runs in a network namespace of its own (partition_test.go's), since on
// one machine every local process comes from every local member's address.

// startNode starts node i of the cluster addrs with flags, and returns
// it without waiting for its mount.
func startNode(t *testing.T, addrs []string, i int, flags ...string) *daemon {
	t.Helper()
	mnt := newMountDir(t)
	args := append([]string{"--listen", addrs[i]}, peerFlags(addrs, i)...)
	args = append(args, "--pages", strconv.Itoa(testPages), "--join-timeout", "20s")
	return startDaemon(t, addrs[i], mnt, mountArgs(mnt, flagsFirst, append(args, flags...)...))
}

// requireNothingOfCluster fails the test if what a stranger was sent
// names a member or says who is in the cluster.
func requireNothingOfCluster(t *testing.T, got []byte, members []string) {
	t.Helper()
	for _, leak := range append([]string{`"members"`, `"live"`, `"name"`}, members...) {
		if bytes.Contains(got, []byte(leak)) {
			t.Fatalf("a stranger was sent %s: %q", leak, got)
		}
	}
}

// writeSecret writes a secret file and returns its path.
func writeSecret(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStrangersWithSecret: with --secret-file, a stranger that connects
// to a node starting up, and claims to be the member that dials it with a
// Hello that disagrees with the cluster, neither stops that node nor learns
// anything about the cluster: it is sent a greeting (protocol version, a
// secret is required, a nonce), and the connection closes. The same holds
// for a stranger that connects to the running cluster. The real member
// then joins, and pages move.
func TestStrangersWithSecret(t *testing.T) {
	requireE2E(t)
	secret := writeSecret(t, "correct horse battery staple")
	addrs := freeAddrs(t, 2)
	b := startNode(t, addrs, 1, "--secret-file", secret)
	waitLog(t, b, "joining", readyTimeout)

	h := dialHostile(t, "", addrs[1])
	h.greet(true)
	h.proof()
	h.hello(addrs[0], 2*testPages, 0, addrs)
	got := h.readAll()
	requireNothingOfCluster(t, got, addrs)
	if !bytes.Contains(got, []byte(`"nonce"`)) {
		t.Errorf("the stranger was not even greeted: %q", got)
	}
	if !b.running() {
		b.seenExit = true
		t.Fatalf("a stranger's Hello stopped the node starting:\n%s", b.stderr.tail(4000))
	}

	a := startNode(t, addrs, 0, "--secret-file", secret)
	c := &cluster{t: t, pages: testPages, nodes: []*daemon{a, b}}
	waitMounted(t, a)
	waitMounted(t, b)
	mustRun(t, dsm("write", c.seg(0), 0, c.pages*pageSize, 21)...)
	mustRun(t, dsm("check", c.seg(1), 0, c.pages*pageSize, 21)...)

	for i := range 2 {
		h := dialHostile(t, "", addrs[i])
		h.greet(false) // as if it had no secret: told one is required
		requireNothingOfCluster(t, h.readAll(), addrs)
	}
	if !strings.Contains(b.stderr.String(), "reason=auth") {
		t.Errorf("no refusal for authentication logged:\n%s", b.stderr.tail(4000))
	}
}

// TestStrangersWithoutSecret: without a secret, connections are taken only
// from the members' addresses. A process in another network namespace (an
// address no member has) claims to be the member that dials a node starting
// up, agreeing with the cluster in everything: it is sent nothing, not a
// byte, and is not taken for that member, who joins after it. Once the
// cluster runs, such a stranger is sent nothing either.
func TestStrangersWithoutSecret(t *testing.T) {
	requireE2E(t)
	pn := newPartitionNet(t)
	addrs := pn.hostAddrs(2)
	b := startNode(t, addrs, 1)
	waitLog(t, b, "joining", readyTimeout)

	h := dialHostile(t, pn.ns, addrs[1])
	h.greet(false)
	h.hello(addrs[0], testPages, 0, addrs)
	if got := h.readAll(); len(got) > 0 {
		t.Fatalf("a stranger from %s, outside the member list, was sent %q", pn.nsIP, got)
	}
	if !b.running() {
		b.seenExit = true
		t.Fatalf("a stranger stopped the node starting:\n%s", b.stderr.tail(4000))
	}

	a := startNode(t, addrs, 0)
	c := &cluster{t: t, pages: testPages, nodes: []*daemon{a, b}}
	waitMounted(t, a)
	waitMounted(t, b)
	mustRun(t, dsm("write", c.seg(1), 0, c.pages*pageSize, 22)...)
	mustRun(t, dsm("check", c.seg(0), 0, c.pages*pageSize, 22)...)

	for i := range 2 {
		h := dialHostile(t, pn.ns, addrs[i])
		h.greet(false)
		h.hello(addrs[0], testPages, 0, addrs)
		if got := h.readAll(); len(got) > 0 {
			t.Fatalf("a stranger was sent %q by the running node %d", got, i)
		}
	}
	for _, d := range c.nodes {
		if !strings.Contains(d.stderr.String(), "peers are not authenticated") {
			t.Errorf("%s: no warning that peers are not authenticated", d.name)
		}
	}
	if !strings.Contains(b.stderr.String(), "reason=address") {
		t.Errorf("no refusal for the address logged:\n%s", b.stderr.tail(4000))
	}
}

// TestIdleConnectionsDoNotBlockJoin: ten connections that say nothing,
// made to a node before its peer starts, do not keep the two from forming
// a cluster within the join timeout: each handshake runs on its own, with
// its own deadline.
func TestIdleConnectionsDoNotBlockJoin(t *testing.T) {
	requireE2E(t)
	addrs := freeAddrs(t, 2)
	b := startNode(t, addrs, 1)
	waitLog(t, b, "joining", readyTimeout)
	for range 10 {
		c, err := net.Dial("tcp", addrs[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	a := startNode(t, addrs, 0)
	waitMounted(t, a)
	waitMounted(t, b)
}

// TestDeadMemberNameNotAdmitted: with --replicas, once the cluster has
// recovered from C's death, a process that connects saying it is C,
// restarted, is taken by the transport (without a secret, on one machine,
// nothing tells it from C), but not into the protocol: no epoch has made
// it a member, so its requests for A's pages, whatever epoch they name,
// are dropped and counted, and A keeps its pages. The real C, restarted,
// rejoins after it.
func TestDeadMemberNameNotAdmitted(t *testing.T) {
	c := startReplicaCluster(t)
	const a, cc = 0, 2
	addrs := []string{c.nodes[0].name, c.nodes[1].name, c.nodes[2].name}
	c.nodes[cc].kill()
	c.requireNoPagesOf(a, cc)

	h := dialHostile(t, "", addrs[a])
	h.greet(false)
	if _, err := h.readJSON(); err != nil {
		t.Fatalf("impostor: no greeting: %v", err)
	}
	h.hello(addrs[cc], replicaPages, 1, addrs)
	if hello, err := h.readJSON(); err != nil || hello["name"] != addrs[a] {
		t.Fatalf("impostor: no Hello from A (%v): %v", hello, err)
	}
	waitLog(t, c.nodes[a], "restarted peer connected", readyTimeout)

	// The epoch A is in, stamped on some; earlier ones (dropped as
	// stale) and later ones on the others.
	epochs := []uint32{1 << 30}
	for e := uint32(0); len(epochs) < 8; e = owner.NextEpoch(e, 0) {
		epochs = append(epochs, e, e+1)
	}
	mine := c.firstPage(1) // A's pages are 0 .. mine-1
	for _, e := range epochs {
		for p := range mine {
			h.message(owner.MsgRequest, cc, uint32(p), e)
		}
	}
	// A answers an owners query after every message before it on the
	// connection, and a request it took would have been answered at once.
	h.message(owner.MsgOwnersQuery, 0, 77, 0)
	for {
		typ, page, err := h.readMessage()
		if err != nil {
			t.Fatalf("impostor: no answer to its owners query: %v", err)
		}
		if typ == owner.MsgPage {
			t.Fatalf("A handed page %d to a node no epoch took in", page)
		}
		if typ == owner.MsgOwnersReply && page == 77 {
			break
		}
	}
	pages := make([]int, mine)
	for p := range pages {
		pages[p] = p
	}
	c.requireOwnedBy(a, pages...)
	var st struct {
		Strangers int `json:"stranger_messages"`
	}
	text, err := readFile(filepath.Join(c.nodes[a].mnt, ".stats"), 10*time.Second)
	if err == nil {
		err = json.Unmarshal([]byte(text), &st)
	}
	if err != nil || st.Strangers < 2*mine {
		t.Errorf("A counted %d messages from strangers (%v), want at least %d: those of its epoch and of a later one", st.Strangers, err, 2*mine)
	}

	h.c.Close()
	c.restart(cc)
	mustRun(t, dsm("write", c.seg(cc), 3*pageSize, pageSize, 23)...)
	mustRun(t, dsm("check", c.seg(a), 3*pageSize, pageSize, 23)...)
}

// TestAcceptSurvivesEMFILE: a node that runs out of file descriptors under
// a flood of connections (its limit is 30 here) goes on accepting once the
// flood is gone: a member restarted afterwards rejoins through it.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	const limit = 30
	c := startReplicaClusterWith(t, func(i int, args []string) *exec.Cmd {
		if i != 1 {
			return exec.Command(bin.dsmfs, args...)
		}
		return exec.Command("sh", append([]string{"-c", "ulimit -n " + strconv.Itoa(limit) + ` && exec "$0" "$@"`, bin.dsmfs}, args...)...)
	})
	c.nodes[0].kill()
	c.requireNoPagesOf(1, 0)
	var flood []net.Conn
	for range 40 {
		conn, err := net.Dial("tcp", c.nodes[1].name)
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, conn)
	}
	fds := filepath.Join("/proc", strconv.Itoa(c.nodes[1].cmd.Process.Pid), "fd")
	waitFor(t, readyTimeout, func() bool {
		open, err := os.ReadDir(fds)
		return err == nil && len(open) >= limit // the next accept fails with EMFILE
	})
	for _, conn := range flood {
		conn.Close()
	}
	c.restart(0)
	if !strings.Contains(c.nodes[1].stderr.String(), "cannot accept a connection; retrying") {
		t.Errorf("the node out of file descriptors did not say so:\n%s", c.nodes[1].stderr.tail(4000))
	}
	if !strings.Contains(c.nodes[0].stderr.String(), "rejoining a running cluster") {
		t.Fatalf("the restarted node did not rejoin:\n%s", c.nodes[0].stderr.tail(4000))
	}
	mustRun(t, dsm("write", c.seg(0), c.firstPage(1)*pageSize, pageSize, 24)...)
	mustRun(t, dsm("check", c.seg(1), c.firstPage(1)*pageSize, pageSize, 24)...)
}
