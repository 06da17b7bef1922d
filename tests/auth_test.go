package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecretFile: nodes sharing a secret work together; a node with another
// secret is refused at handshake, both sides exit saying why once their join
// times out (a connection that cannot prove the secret might be anyone's, so
// it stops no join), and nothing is mounted.
func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	secret := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good, bad := secret("good", "correct horse battery staple\n"), secret("bad", "guess")

	c := startClusterWith(t, clusterOpts{flags: []string{"--secret-file", good}})
	mustRun(t, dsm("write", c.seg(0), 0, c.pages*pageSize, 11)...)
	mustRun(t, dsm("check", c.seg(1), 0, c.pages*pageSize, 11)...)

	addrs := freeAddrs(t, 2)
	var ds []*daemon
	for i, path := range []string{good, bad} {
		mnt := newMountDir(t)
		ds = append(ds, startDaemon(t, addrs[i], mnt, mountArgs(mnt, flagsFirst,
			"--listen", addrs[i], "--peer", addrs[1-i], "--pages", "64", "--join-timeout", "10s", "--secret-file", path)))
	}
	for _, d := range ds {
		if !d.waitExit(15 * time.Second) {
			t.Fatalf("%s: still running with a wrong secret", d.name)
		}
		d.seenExit = true
		if d.exitCode() == 0 || !strings.Contains(d.stderr.String(), "authentication failed for") || isMounted(d.mnt) {
			t.Errorf("%s: want a non-zero exit saying authentication failed and no mount; exit %v, mounted %v:\n%s",
				d.name, d.cmd.ProcessState, isMounted(d.mnt), d.stderr.tail(2000))
		}
	}
}
