package tests

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnmountableNodeNeverJoins: a node that cannot mount (here a user
// without access to /dev/fuse, or to the mount point) stops with a line
// saying why before it joins: its peer never hears of it and gives up at
// its own join timeout, naming it as a peer that did not join, rather than
// losing a member that joined and vanished.
func TestUnmountableNodeNeverJoins(t *testing.T) {
	requireE2E(t)
	if st, err := os.Stat("/dev/fuse"); err != nil || st.Mode().Perm()&0o006 == 0o006 {
		t.Fatalf("this test runs a user without access to /dev/fuse, but /dev/fuse is %v (%v)", st.Mode(), err)
	}
	exe := userExecutable(t)
	const nobody = 65534
	for _, tc := range []struct {
		name    string
		ownedBy int // the mount point's owner
		want    string
	}{
		{"mount point not writable", 0, "is not writable by you"},
		{"no access to /dev/fuse", nobody, "cannot open /dev/fuse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs := freeAddrs(t, 2)
			peerMnt, userMnt := newMountDir(t), newMountDir(t)
			if err := os.Chown(userMnt, tc.ownedBy, tc.ownedBy); err != nil {
				t.Fatal(err)
			}
			peer := startDaemon(t, addrs[0], peerMnt, mountArgs(peerMnt, flagsFirst,
				"--listen", addrs[0], "--peer", addrs[1], "--pages", "256", "--join-timeout", "5s"))
			cmd := exec.Command(exe, mountArgs(userMnt, flagsFirst,
				"--listen", addrs[1], "--peer", addrs[0], "--pages", "256", "--join-timeout", "5s")...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			user := launch(t, addrs[1], userMnt, cmd)
			watchUntilExit(t, user, peer)
			if !strings.Contains(user.stderr.String(), tc.want) {
				t.Errorf("the user's node does not say %q:\n%s", tc.want, user.stderr.String())
			}
			if _, ok := lineNaming(peer.stderr.String(), "peer", "not", "joined"); !ok || strings.Contains(peer.stderr.String(), "lost") {
				t.Errorf("the peer should give up for want of the node, never having joined it:\n%s", peer.stderr.String())
			}
		})
	}
}

// userExecutable is a copy of dsmfs that any user may run: the test
// binaries live in a directory only root can enter.
func userExecutable(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dsmfs-e2e-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "dsmfs")
	src, err := os.Open(bin.dsmfs)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestAlreadyMounted: a second daemon on a mount point that a running one
// serves says so, instead of calling the mount point not empty, and the
// first goes on.
func TestAlreadyMounted(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 1})
	addr := freeAddrs(t, 1)[0]
	r := runProg(bin.dsmfs, "mount", c.nodes[0].mnt, "--listen", addr, "--pages", "256")
	if r.err == nil || !strings.Contains(r.out, "is already mounted") || strings.Contains(r.out, "not empty") {
		t.Fatalf("want a failure saying the mount point is already mounted, got %s", r)
	}
	mustRun(t, dsm("write", c.seg(0), 0, pageSize, 4)...)
	mustRun(t, dsm("check", c.seg(0), 0, pageSize, 4)...)
}
