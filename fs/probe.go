package fs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Check refuses, with an error that says what to do, what would make Mount
// fail for a reason that can be named: a mount point that is missing, not
// a directory, not empty, already a dsmfs mount, or (for a user) not
// writable; no FUSE device, or (for a user) one that cannot be opened; no
// fusermount3 for a user. It clears a mount that a dead daemon left
// behind. Mount itself then proves the rest, still before the node joins.
func (f *FS) Check() error {
	if err := f.checkMountpoint(); err != nil {
		return err
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("no FUSE device (%v): load the fuse module (modprobe fuse) or run where FUSE is available", err)
	}
	if os.Geteuid() == 0 {
		return nil
	}
	// fusermount3 opens the device as the user who runs it.
	if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
		return fmt.Errorf("cannot open /dev/fuse (%v): run as root, or give your user read and write access to it (most distributions make it mode 0666)", err)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return errors.New("fusermount3 not found: install fuse3 (apt-get install fuse3), or run as root")
	}
	if f.cfg.AllowOther && !userAllowOther() {
		return errors.New("--allow-other needs user_allow_other in /etc/fuse.conf when not run as root")
	}
	return nil
}

// checkMountpoint refuses a mount point that cannot take the mount, and
// clears a dead one.
func (f *FS) checkMountpoint() error {
	dir := f.cfg.Mountpoint
	st, err := os.Stat(dir)
	if errors.Is(err, syscall.ENOTCONN) {
		if err := f.clearDeadMount(); err != nil {
			return err
		}
		st, err = os.Stat(dir)
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mount point %s does not exist: create it with mkdir", dir)
	case err != nil:
		return fmt.Errorf("mount point: %w", err)
	case !st.IsDir():
		return fmt.Errorf("mount point %s is not a directory", dir)
	}
	if os.Geteuid() != 0 {
		if err := unix.Access(dir, unix.R_OK|unix.W_OK|unix.X_OK); err != nil {
			return fmt.Errorf("mount point %s is not writable by you (uid %d): fusermount3 mounts only where you may write; chown it to yourself, or run as root", dir, os.Getuid())
		}
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, syscall.ENOTCONN) {
		// The kernel answered the stat from its attribute cache.
		if err := f.clearDeadMount(); err != nil {
			return err
		}
		entries, err = os.ReadDir(dir)
	}
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	if len(entries) > 0 {
		if fstype, _ := mountedAt(dir); fstype == "fuse.dsmfs" {
			return fmt.Errorf("%s is already mounted: another dsmfs daemon serves it; unmount it first (umount %s)", dir, dir)
		}
		return fmt.Errorf("mount point %s is not empty (it holds %s): its files would be hidden", dir, entries[0].Name())
	}
	return nil
}

// mountedAt is the file system type of the mount on dir, if dir is a mount
// point ("" if not).
func mountedAt(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	info, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer info.Close()
	fstype := ""
	sc := bufio.NewScanner(info)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE ...
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) > 4 && sep > 4 && sep+1 < len(fields) && unescapeMount(fields[4]) == abs {
			fstype = fields[sep+1] // the last one listed is on top
		}
	}
	return fstype, sc.Err()
}

// unescapeMount undoes the octal escapes (\040 for a space) of a path in
// /proc/self/mountinfo.
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// clearDeadMount detaches the mount a killed daemon left on the mount point,
// which answers ENOTCONN to everything.
func (f *FS) clearDeadMount() error {
	dir := f.cfg.Mountpoint
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("%s is a dead FUSE mount and cannot be unmounted: %w", dir, err)
	}
	f.log.Warn("cleared the mount a dead daemon left", "mountpoint", dir)
	return nil
}

func userAllowOther() bool {
	conf, err := os.ReadFile("/etc/fuse.conf")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(conf), "\n") {
		if strings.TrimSpace(line) == "user_allow_other" {
			return true
		}
	}
	return false
}
