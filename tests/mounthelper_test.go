package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMountHelper mounts two nodes through scripts/mount.dsmfs called as
// mount(8) calls /sbin/mount.fuse.dsmfs for an fstab line, checks that the
// segment works across them, and unmounts with umount(8), which must stop
// each daemon.
func TestMountHelper(t *testing.T) {
	requireE2E(t)
	addrs := freeAddrs(t, 2)
	helper, err := filepath.Abs("../scripts/mount.dsmfs")
	if err != nil {
		t.Fatal(err)
	}
	logs := t.TempDir()
	var mnts []string
	for i, addr := range addrs {
		mnt := newMountDir(t)
		mnts = append(mnts, mnt)
		t.Cleanup(func() {
			if isMounted(mnt) {
				exec.Command("umount", "-l", mnt).Run()
				t.Errorf("%s still mounted at the end", mnt)
			}
			os.Remove(mnt)
		})
		// Options with values and underscores, and mount(8)'s own.
		opts := "rw,_netdev,listen=" + addr + ",peer=" + addrs[1-i] + ",pages=256,join_timeout=20s,peer_timeout=30s,allow_other,x-systemd.requires=network-online.target"
		cmd := exec.Command(helper, "dsmfs", mnt, "-o", opts)
		cmd.Env = append(os.Environ(), "DSMFS="+bin.dsmfs, "DSMFS_LOG="+filepath.Join(logs, addr+".log"))
		if i == 0 {
			// The first node's helper waits for the second to join.
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := cmd.Wait(); err != nil {
					t.Errorf("helper for node %s: %v", addr, err)
				}
			}()
			continue
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helper for node %s: %v\n%s", addr, err, out)
		}
	}
	waitFor(t, 20*time.Second, func() bool { return isMounted(mnts[0]) && isMounted(mnts[1]) })

	// allow_other took: the segment is open to every user.
	if fi, err := os.Stat(filepath.Join(mnts[1], "segment")); err != nil || fi.Mode() != 0o666 {
		t.Errorf("segment with allow_other: %v, %v; want mode 0666", fi, err)
	}
	mustRun(t, dsm("write", filepath.Join(mnts[0], "segment"), 0, 256*pageSize, 7)...)
	mustRun(t, dsm("check", filepath.Join(mnts[1], "segment"), 0, 256*pageSize, 7)...)

	for _, mnt := range mnts {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Fatalf("umount %s: %v\n%s", mnt, err, out)
		}
	}
	for _, addr := range addrs {
		log := filepath.Join(logs, addr+".log")
		waitFor(t, 10*time.Second, func() bool {
			text, _ := os.ReadFile(log)
			return strings.Contains(string(text), "unmounted from outside")
		})
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v", timeout)
		}
	}
}

// TestMountOptions: `dsmfs mount -o` takes what fstab lines give, and
// refuses an option it does not know, or read-only, with one line naming
// it, before anything is mounted.
func TestMountOptions(t *testing.T) {
	requireE2E(t)
	mnt := newMountDir(t)
	t.Cleanup(func() { os.Remove(mnt) })
	for opts, want := range map[string]string{
		"peer=127.0.0.1:1,peer_timeot=5s": "-o peer_timeot=5s: no such mount option; did you mean peer_timeout?",
		"ro":                              "cannot be mounted read-only",
		"peer_timeout":                    "needs a value (peer_timeout=...)",
		"allow_other=yes":                 "takes no value",
		"size=5000":                       "not a multiple of the page size",
	} {
		r := runProg(bin.dsmfs, "mount", mnt, "-o", opts)
		if r.err == nil || !strings.Contains(r.out, want) || strings.Count(r.out, "\n") != 1 {
			t.Errorf("-o %s: want one line saying %q, got %s", opts, want, r)
		}
		if isMounted(mnt) {
			t.Fatalf("-o %s: mounted", opts)
		}
	}
}
