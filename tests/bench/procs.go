package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// children are the processes Run started: daemons (dsmfs mounts and the
// floor file system), which are stopped with SIGTERM so that they unmount,
// and workers, which are killed.
type children struct {
	bin string

	mu       sync.Mutex
	procs    []*child
	stopping bool // set when Run's context ended: start nothing more
}

// child is one started process.
type child struct {
	name   string
	daemon bool
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *watchWriter
	exited chan struct{} // closed once the process has been waited for
}

// start runs bin with args. A daemon gets SIGTERM and a worker SIGKILL if
// this process dies first (Pdeathsig), a safety net under the cleanup.
func (g *children) start(name string, daemon bool, args ...string) (*child, error) {
	cmd := exec.Command(g.bin, args...)
	sig := syscall.SIGKILL
	if daemon {
		sig = syscall.SIGTERM
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: sig}
	c := &child{name: name, daemon: daemon, cmd: cmd, stderr: newWatchWriter("msg=mounted"), exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	// An os.Pipe rather than cmd.StdoutPipe: Wait, which runs as soon as
	// the child exits, closes the latter under a reader still draining it.
	out, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close() // the child has its own copy
	cmd.Stdout = w
	c.stdout = bufio.NewReader(out)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		out.Close()
		return nil, errors.New("cancelled")
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	g.procs = append(g.procs, c)
	go func() { cmd.Wait(); close(c.exited) }()
	return c, nil
}

// fail describes c's failure with the end of its stderr.
func (c *child) fail(what string, err error) error {
	tail := strings.TrimSpace(c.stderr.text())
	if tail != "" {
		tail = ":\n" + tail
	}
	return fmt.Errorf("%s: %s: %v%s", c.name, what, err, tail)
}

// line reads one line from c's stdout.
func (c *child) line() (string, error) {
	s, err := c.stdout.ReadString('\n')
	if err != nil {
		<-c.exited // so that its stderr is complete
		return "", c.fail("no answer", err)
	}
	return strings.TrimSpace(s), nil
}

// ready waits for c's "ready" line.
func (c *child) ready() error {
	s, err := c.line()
	if err == nil && s != "ready" {
		err = c.fail("set-up", fmt.Errorf("said %q instead of ready", s))
	}
	return err
}

// result starts c's timed part and reads its Summary.
func (c *child) result() (Summary, error) {
	var sum Summary
	s, err := c.line()
	if err != nil {
		return sum, err
	}
	if err := json.Unmarshal([]byte(s), &sum); err != nil {
		return sum, c.fail("bad summary", err)
	}
	return sum, nil
}

// stop ends c: a worker by closing its stdin (it exits on EOF), then
// killing it if it lingers; a daemon with SIGTERM (it unmounts), then
// SIGKILL if it does not exit within grace.
func (c *child) stop(grace time.Duration) {
	if c.daemon {
		c.cmd.Process.Signal(syscall.SIGTERM)
	} else {
		c.stdin.Close()
	}
	select {
	case <-c.exited:
	case <-time.After(grace):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// kill ends c at once.
func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.exited
}

// killWorkers kills every worker, which unblocks whatever waits for one;
// Run calls it when its context ends.
func (g *children) killWorkers() {
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
	for _, c := range g.snapshot() {
		if !c.daemon {
			c.kill()
		}
	}
}

// stopAll ends every process: workers first, since they map the mounts
// the daemons must unmount.
func (g *children) stopAll() {
	procs := g.snapshot()
	for _, c := range procs {
		if !c.daemon {
			c.kill()
		}
	}
	var wg sync.WaitGroup
	for _, c := range procs {
		if c.daemon {
			wg.Go(func() { c.stop(10 * time.Second) })
		}
	}
	wg.Wait()
}

func (g *children) snapshot() []*child {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*child(nil), g.procs...)
}

// measure runs one step: it starts the holders and the measuring workers
// (arguments after "bench-worker"), waits until all are set up, starts the
// measuring ones together and returns their summaries in order. The holders
// keep their pages mapped until the measurement is over.
func (g *children) measure(holders, workers [][]string) ([]Summary, error) {
	var hs, ws []*child
	defer func() {
		for _, c := range append(hs, ws...) {
			c.stop(5 * time.Second)
		}
	}()
	for i, args := range append(holders, workers...) {
		c, err := g.start(fmt.Sprintf("worker %s", strings.Join(args, " ")), false, append([]string{"bench-worker"}, args...)...)
		if err != nil {
			return nil, err
		}
		if i < len(holders) {
			hs = append(hs, c)
		} else {
			ws = append(ws, c)
		}
	}
	for _, c := range append(hs, ws...) {
		if err := c.ready(); err != nil {
			return nil, err
		}
	}
	for _, c := range ws {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			return nil, c.fail("start", err)
		}
	}
	sums := make([]Summary, len(ws))
	for i, c := range ws {
		var err error
		if sums[i], err = c.result(); err != nil {
			return nil, err
		}
	}
	return sums, nil
}

// measureOne runs one measuring worker alone.
func (g *children) measureOne(args ...string) (Summary, error) {
	sums, err := g.measure(nil, [][]string{args})
	if err != nil {
		return Summary{}, err
	}
	return sums[0], nil
}

// watchWriter keeps the start and the end of a child's stderr for error
// messages (a Go crash names its cause first, then dumps goroutines) and
// reports when a marker has appeared (a daemon's "msg=mounted").
type watchWriter struct {
	marker []byte
	seen   chan struct{}

	mu         sync.Mutex
	head, tail []byte
	cut        bool   // bytes were dropped between head and tail
	scan       []byte // the end of the output, searched for the marker
	done       bool
}

const stderrKeep = 2 << 10

func newWatchWriter(marker string) *watchWriter {
	return &watchWriter{marker: []byte(marker), seen: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.scan = append(w.scan, p...)
		if bytes.Contains(w.scan, w.marker) {
			w.done = true
			close(w.seen)
		}
		// Keep what could be the start of a marker split across writes.
		w.scan = append(w.scan[:0], w.scan[max(0, len(w.scan)-len(w.marker)+1):]...)
	}
	n := len(p)
	if room := stderrKeep - len(w.head); room > 0 {
		take := min(room, len(p))
		w.head = append(w.head, p[:take]...)
		p = p[take:]
	}
	w.tail = append(w.tail, p...)
	if len(w.tail) > stderrKeep {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-stderrKeep:]...)
		w.cut = true
	}
	return n, nil
}

func (w *watchWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cut {
		return string(w.head) + "\n[...]\n" + string(w.tail)
	}
	return string(w.head) + string(w.tail)
}

// errExited is what waiting for a daemon that died reports.
var errExited = errors.New("exited")

// waitMarker waits until c printed its marker, exited, or ctx ended.
func (c *child) waitMarker(ctx context.Context, timeout time.Duration) error {
	select {
	case <-c.stderr.seen:
		return nil
	case <-c.exited:
		return c.fail("start", errExited)
	case <-time.After(timeout):
		return c.fail("start", fmt.Errorf("not ready after %v", timeout))
	case <-ctx.Done():
		return ctx.Err()
	}
}
