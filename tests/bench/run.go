package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Options are `dsmfs bench`'s flags.
type Options struct {
	// Nodes is the node count of the random run (default 8); the other
	// measurements are between two nodes by definition.
	Nodes int
	// Pages is every cluster's segment size in pages (default 16384, 64 MiB).
	Pages int
	// Block is the migration block for the sequential sweep (default 1),
	// and Prefetch how many blocks ahead that sweep's daemons fetch.
	Block, Prefetch int
	JSON            bool
	// Binary is the dsmfs executable, run as daemons and workers.
	Binary string
}

const (
	defaultNodes = 8
	defaultPages = 16384
)

// Run is `dsmfs bench`. It measures the floors in rounds spread through the
// run (start, after the migration cluster, after ping-pong, at the end),
// and between them runs the dsmfs measurements, each on a fresh cluster
// with the settings it needs. It prints the table or JSON to stdout and
// progress to stderr, and stops every process it started and removes every
// mount, whatever happens.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) (err error) {
	if o.Nodes == 0 {
		o.Nodes = defaultNodes
	}
	if o.Pages == 0 {
		o.Pages = defaultPages
	}
	o.Block = max(o.Block, 1)
	if o.Nodes < 2 {
		return fmt.Errorf("--nodes %d: need at least 2", o.Nodes)
	}
	if o.Binary == "" {
		return errors.New("bench: no dsmfs binary to run")
	}
	dir, err := os.MkdirTemp("", "dsmfs-bench-")
	if err != nil {
		return err
	}
	g := &children{bin: o.Binary}
	stopKilling := context.AfterFunc(ctx, g.killWorkers)
	defer func() {
		stopKilling()
		g.stopAll()
		if left := unmountUnder(dir); len(left) > 0 {
			fmt.Fprintf(stderr, "bench: lazily unmounted %v, which a daemon left behind\n", left)
		}
		os.RemoveAll(dir)
	}()

	r := &runner{o: o, g: g, dir: dir, stderr: stderr, res: newResult()}
	err = r.run(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	if o.JSON {
		out, err := json.Marshal(r.res)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		return err
	}
	return r.res.writeTable(stdout)
}

// runner carries one Run's state.
type runner struct {
	o      Options
	g      *children
	dir    string
	stderr io.Writer
	res    *Result
	rss    float64 // largest daemon VmHWM so far, MiB
}

func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(r.stderr, "bench: "+format+"\n", args...)
}

func (r *runner) run(ctx context.Context) error {
	feat, err := probeDaemon(ctx, r.o.Binary)
	if err != nil {
		return err
	}
	block := r.o.Block
	if block > 1 && !feat.block {
		r.progress("this dsmfs has no --block: seq_first_touch is measured with block 1, not %d", block)
		block = 1
	}
	l, err := newLayout(r.o.Pages, block)
	if err != nil {
		return err
	}
	var uname unix.Utsname
	unix.Uname(&uname)
	r.res.Machine = Machine{Cores: runtime.NumCPU(), Kernel: unix.ByteSliceToString(uname.Release[:])}
	r.res.Settings = Settings{Nodes: r.o.Nodes, Pages: r.o.Pages, Block: block, Prefetch: r.o.Prefetch, Hold: feat.hold, PingpongHold: "0s"}

	fl, err := r.startFloors()
	if err != nil {
		return err
	}
	// Each step is one cluster's work or one floor round; the floor rounds
	// are spread among the others.
	steps := []struct {
		what string
		do   func() error
	}{
		{"floors", fl.round},
		{"two nodes, default hold: migration, owned access, contention", func() error {
			return r.withCluster(ctx, "main", 2, r.o.Pages, nil, func(cl *cluster) error {
				for _, m := range []func(*children, *cluster, layout, *Result) error{migrations, ownedAccess, contended} {
					if err := m(r.g, cl, l, r.res); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{"floors", fl.round},
		{"two nodes, --block " + strconv.Itoa(block) + ": sequential first touch", func() error {
			flags := []string{"--block", strconv.Itoa(block), "--prefetch", strconv.Itoa(r.o.Prefetch)}
			if !feat.block {
				flags = nil
			}
			return r.withCluster(ctx, "block", 2, r.o.Pages, flags, func(cl *cluster) error {
				return seqFirstTouch(r.g, cl, l, r.res)
			})
		}},
		{"one node: owned rewrite", func() error {
			return r.withCluster(ctx, "rewrite", 1, max(r.o.Pages, rewritePages), nil, func(cl *cluster) error {
				return ownedRewrite(r.g, cl, r.res)
			})
		}},
		{"two nodes, --hold 0: ping-pong", func() error {
			return r.withCluster(ctx, "pingpong", 2, r.o.Pages, []string{"--hold", "0"}, func(cl *cluster) error {
				return pingpong(r.g, cl, l, r.res)
			})
		}},
		{"two nodes: read copies", func() error {
			return r.withCluster(ctx, "readcopies", 2, r.o.Pages, nil, func(cl *cluster) error {
				return readCopies(r.g, cl, l, r.res)
			})
		}},
		{"four nodes: read copies on three", func() error {
			return r.withCluster(ctx, "readcopies3", 4, r.o.Pages, nil, func(cl *cluster) error {
				return readCopies3(r.g, cl, l, r.res)
			})
		}},
		{"floors", fl.round},
		{fmt.Sprintf("%d nodes: random faults", r.o.Nodes), func() error {
			return r.withCluster(ctx, "random", r.o.Nodes, r.o.Pages, nil, func(cl *cluster) error {
				return randomFaults(r.g, cl, r.res)
			})
		}},
		{"floors", fl.round},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	fl.report(r.res)
	r.res.set("daemon_rss_mib", r.rss)
	r.res.addRatios()
	return nil
}

// startFloors starts the floor file system and the RTT echo server.
func (r *runner) startFloors() (*floors, error) {
	mnt := filepath.Join(r.dir, "floor")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go serveEcho(ln) // ends with this process; Run is its only user
	c, err := r.g.start("floor file system", true, "bench-floorfs", mnt, ln.Addr().String())
	if err != nil {
		return nil, err
	}
	if err := c.ready(); err != nil {
		return nil, err
	}
	return &floors{
		g: r.g, file: filepath.Join(mnt, floorFile), relay: filepath.Join(mnt, relayFile), ctl: floorCtl(mnt), echo: ln.Addr().String(),
		progress: r.progress,
	}, nil
}

// withCluster runs fn on a fresh cluster of n nodes and pages pages, records its daemons'
// peak RSS and stops it.
func (r *runner) withCluster(ctx context.Context, name string, n, pages int, flags []string, fn func(*cluster) error) error {
	r.progress("starting %d nodes (%s) %v", n, name, flags)
	cl, err := r.g.startCluster(ctx, r.dir, name, n, pages, flags...)
	if err != nil {
		return err
	}
	defer cl.stop()
	before := maps.Clone(r.res.Values)
	if err := fn(cl); err != nil {
		return err
	}
	rss, err := cl.peakRSS()
	if err != nil {
		return err
	}
	r.rss = max(r.rss, rss)
	r.progress("%s: %s; daemon peak RSS %.1f MiB", name, r.res.newSince(before), rss)
	return nil
}
