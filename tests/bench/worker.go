package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Worker is `dsmfs bench-worker MODE FLAGS...`: one program that maps a
// segment (or a floor file) and times its own accesses. Run starts workers
// and talks to them over a pipe:
//
//	worker: sets up (maps, touches what must be touched first), prints "ready"
//	Run:    writes a line to its stdin when every worker of a step is ready
//	worker: runs the timed part, prints one JSON Summary line, exits
//
// so that workers on several nodes start their timed parts together, and
// set-up costs never land in a measurement. A worker whose stdin closes
// before the go line exits without measuring.
func Worker(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("bench-worker needs a mode: %s", modeNames())
	}
	mode, ok := workerModes[args[0]]
	if !ok {
		return fmt.Errorf("bench-worker: unknown mode %q (want %s)", args[0], modeNames())
	}
	fl := flag.NewFlagSet("bench-worker "+args[0], flag.ContinueOnError)
	var w workerFlags
	w.register(fl)
	if err := fl.Parse(args[1:]); err != nil {
		return err
	}
	run, err := mode(&w)
	if errors.Is(err, errBrkAtBase) {
		return reexec(err)
	}
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, "ready"); err != nil {
		return err
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // told to stop: a holder's end, or Run gave up
		}
		return err
	}
	sum, err := run(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(sum)
}

// workerFlags are every mode's flags; each mode reads the ones it needs.
type workerFlags struct {
	file, ctl, addr, op string
	first, count, page  int
	me, rounds          int
	each, memfd, lock   bool
	ro                  bool
	dur                 time.Duration
	seed                int64
}

func (w *workerFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&w.file, "file", "", "file to map at 0x40000000 (a dsmfs segment or the floor file)")
	fl.StringVar(&w.ctl, "ctl", "", "inval: the floor file system's control socket")
	fl.StringVar(&w.addr, "addr", "", "rtt: HOST:PORT of the 4 KiB echo server")
	fl.StringVar(&w.op, "op", "read", "read or write: how each page is touched")
	fl.IntVar(&w.first, "first", 0, "first page")
	fl.IntVar(&w.count, "count", 0, "number of pages (or round trips)")
	fl.IntVar(&w.page, "page", 0, "pingpong, incr: the shared page")
	fl.IntVar(&w.me, "me", 0, "pingpong: this program's turn, 0 or 1")
	fl.IntVar(&w.rounds, "rounds", 4, "rewrite: timed writes of every page")
	fl.BoolVar(&w.each, "each", false, "touch: time every access (else only the sweep)")
	fl.BoolVar(&w.memfd, "memfd", false, "touch: a fresh memfd instead of -file")
	fl.BoolVar(&w.lock, "lock", false, "incr: increment under a spin lock instead of atomically")
	fl.BoolVar(&w.ro, "ro", false, "touch, hold, reread: map -file (segment.ro) read-only; readturns: read through -file's .ro")
	fl.DurationVar(&w.dur, "dur", 2*time.Second, "how long timed loops run")
	fl.Int64Var(&w.seed, "seed", 1, "random: seed of the page sequence")
}

// A mode sets up and returns the timed part.
type mode func(w *workerFlags) (timed, error)

var workerModes = map[string]mode{
	"touch":     touchMode,
	"hold":      holdMode,
	"rewrite":   rewriteMode,
	"inval":     invalMode,
	"rtt":       rttMode,
	"pingpong":  pingpongMode,
	"incr":      incrMode,
	"random":    randomMode,
	"reread":    rereadMode,
	"readturns": readTurnsMode,
}

func modeNames() string {
	return strings.Join(slices.Sorted(maps.Keys(workerModes)), ", ")
}

// touchPage touches page p of m with op, which was checked to be read or write.
func touchPage(m []byte, p int, op string) {
	if op == "write" {
		store(m, p, uint64(p)+1)
	} else {
		load(m, p)
	}
}

func checkOp(op string) error {
	if op != "read" && op != "write" {
		return fmt.Errorf("-op %q: want read or write", op)
	}
	return nil
}

// mapRange maps w.file (read-only with -ro) and checks that [first,
// first+count) lies in it.
func mapRange(w *workerFlags) ([]byte, error) {
	if err := checkOp(w.op); err != nil {
		return nil, err
	}
	if w.ro && w.op != "read" {
		return nil, fmt.Errorf("-ro maps read-only: -op %s would fault", w.op)
	}
	m, err := mapFileAt(w.file, segmentBase, w.ro)
	if err != nil {
		return nil, err
	}
	if w.first < 0 || w.count < 1 || (w.first+w.count)*pageSize > len(m) {
		return nil, fmt.Errorf("pages %d+%d do not fit in %s (%d pages)", w.first, w.count, w.file, len(m)/pageSize)
	}
	return m, nil
}

// reexecVar counts a worker's re-executions in its environment.
const reexecVar = "DSMFS_BENCH_REEXEC"

// reexec runs this worker again from the start, up to a few times, after
// a set-up failure that a new exec cures (see errBrkAtBase). Nothing was
// printed yet, so Run sees one worker.
func reexec(cause error) error {
	n, _ := strconv.Atoi(os.Getenv(reexecVar))
	if n >= 5 {
		return cause
	}
	self, err := os.Executable()
	if err != nil {
		return cause
	}
	env := append(os.Environ(), fmt.Sprintf("%s=%d", reexecVar, n+1))
	return syscall.Exec(self, os.Args, env)
}
