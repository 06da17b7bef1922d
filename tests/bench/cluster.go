package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cluster is a set of dsmfs daemons on loopback, mount i served by node i.
type cluster struct {
	name    string
	mounts  []string
	daemons []*child
}

// mountTimeout bounds a cluster's start: joining and mounting take well
// under a second on loopback.
const mountTimeout = 30 * time.Second

// startCluster starts n daemons of pages pages under dir/name with extra
// mount flags, and waits until every one has mounted.
func (g *children) startCluster(ctx context.Context, dir, name string, n, pages int, extra ...string) (*cluster, error) {
	addrs, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	// Nodes are numbered by their names sorted as strings; sorting here
	// makes mount i node i, which owns the i-th n-th of the pages.
	slices.Sort(addrs)
	cl := &cluster{name: name}
	for i, addr := range addrs {
		mnt := filepath.Join(dir, fmt.Sprintf("%s-node%d", name, i))
		if err := os.Mkdir(mnt, 0o755); err != nil {
			return nil, err
		}
		args := []string{"mount", mnt, "--listen", addr, "--pages", strconv.Itoa(pages)}
		for _, peer := range addrs {
			if peer != addr {
				args = append(args, "--peer", peer)
			}
		}
		d, err := g.start(fmt.Sprintf("%s node %d", name, i), true, append(args, extra...)...)
		if err != nil {
			return nil, err
		}
		cl.mounts = append(cl.mounts, mnt)
		cl.daemons = append(cl.daemons, d)
	}
	for _, d := range cl.daemons {
		if err := d.waitMarker(ctx, mountTimeout); err != nil {
			cl.stop()
			return nil, err
		}
	}
	return cl, nil
}

// segment is node i's segment file.
func (cl *cluster) segment(i int) string { return filepath.Join(cl.mounts[i], "segment") }

// stop stops the daemons, which unmount.
func (cl *cluster) stop() {
	for _, d := range cl.daemons {
		d.stop(10 * time.Second)
	}
}

// peakRSS is the largest peak resident set (VmHWM) of the cluster's
// daemons, in MiB; read before stop.
func (cl *cluster) peakRSS() (float64, error) {
	var peak float64
	for _, d := range cl.daemons {
		kb, err := statusKB(d.cmd.Process.Pid, "VmHWM")
		if err != nil {
			return 0, err
		}
		peak = max(peak, float64(kb)/1024)
	}
	return peak, nil
}

// statusKB reads a "Name:  N kB" field of /proc/PID/status.
func statusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// freePorts finds n free loopback ports. The kernel picks them; they are
// free again when the daemons bind them a moment later (a race that
// loopback tests accept).
func freePorts(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// daemonFeatures is what the dsmfs binary's mount command offers.
type daemonFeatures struct {
	block bool   // has --block
	hold  string // default of --hold, as its help prints it
}

var holdDefault = regexp.MustCompile(`--hold[^\n]*\(default: ([^)]+)\)`)

// probeDaemon reads `BINARY mount --help`: the bench must not pass flags the
// daemon lacks, nor report settings it did not use.
func probeDaemon(ctx context.Context, bin string) (daemonFeatures, error) {
	out, err := exec.CommandContext(ctx, bin, "mount", "--help").CombinedOutput()
	if err != nil {
		return daemonFeatures{}, fmt.Errorf("%s mount --help: %v\n%s", bin, err, out)
	}
	f := daemonFeatures{block: strings.Contains(string(out), "--block")}
	if m := holdDefault.FindSubmatch(out); m != nil {
		f.hold = string(m[1])
	}
	return f, nil
}

// unmountUnder lazily unmounts whatever is still mounted under dir: the
// last resort when a daemon could not unmount. It returns what it found.
func unmountUnder(dir string) []string {
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return nil
	}
	var left []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.HasPrefix(fields[1], dir+"/") {
			continue
		}
		left = append(left, fields[1])
		unix.Unmount(fields[1], unix.MNT_DETACH)
	}
	return left
}
