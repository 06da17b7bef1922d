package fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// The kernel gives every FUSE mount a backing device (bdi) with a strict
// dirty-page limit of 1 % of the dirty budget, about 47 MiB on a machine
// with 24 GiB. A program that keeps rewriting more of the segment than that
// is throttled in balance_dirty_pages and its pages are written back over
// and over, each write-back a FUSE WRITE: rewriting 128 MiB of owned pages
// ran at 13.7 µs a page instead of 17 ns. The segment's dirty pages are
// memory, not a disk's backlog, so the mount lifts the limit: strict_limit
// off, and the bdi's share of the dirty budget sized to the segment (all of
// the budget when the segment is larger). That needs root; otherwise the
// node warns once with the commands to run.

// tuneWriteback lifts the mount's dirty-page limit; see above.
func (f *FS) tuneWriteback() {
	dir, err := bdiDir(f.cfg.Mountpoint)
	if err == nil {
		err = liftDirtyLimit(dir, int64(f.cfg.Pages)*int64(f.cfg.PageSize))
	}
	if err != nil {
		f.log.Warn("owned pages rewritten beyond 1% of the dirty budget will be throttled: "+
			"as root, run echo 0 > "+filepath.Join(dir, "strict_limit")+"; echo 100 > "+filepath.Join(dir, "max_ratio"),
			"err", err)
	}
}

// bdiDir is the sysfs directory of the backing device that the file
// system mounted on mountpoint writes to.
func bdiDir(mountpoint string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(mountpoint, &st); err != nil {
		return "/sys/class/bdi/MAJOR:MINOR", fmt.Errorf("finding the mount's device: %w", err)
	}
	return fmt.Sprintf("/sys/class/bdi/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)), nil
}

// liftDirtyLimit turns the bdi in dir's strict limit off and lets it hold
// up to size dirty bytes, or the whole dirty budget if size exceeds it.
func liftDirtyLimit(dir string, size int64) error {
	if err := writeSysfs(dir, "strict_limit", "0"); err != nil {
		return err
	}
	err := writeSysfs(dir, "max_bytes", strconv.FormatInt(size, 10))
	if errors.Is(err, unix.EINVAL) || errors.Is(err, os.ErrNotExist) {
		// Larger than the whole budget, or a kernel before 6.2.
		err = writeSysfs(dir, "max_ratio", "100")
	}
	return err
}

func writeSysfs(dir, name, value string) error {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
