// Command dsmfs is distributed shared memory as a file: every node mounts the
// same segment, programs map it at 1 GiB, and pages migrate to the node that
// touches them.
//
// This file holds the command line, one function per command, and the wiring
// of net, pages and fs into owner's driver.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	stdnet "net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dsmfs/dsmfs/fs"
	"github.com/dsmfs/dsmfs/fs/report"
	dsmnet "github.com/dsmfs/dsmfs/net"
	"github.com/dsmfs/dsmfs/owner"
	"github.com/dsmfs/dsmfs/owner/locks"
	"github.com/dsmfs/dsmfs/pages"
	dsmbench "github.com/dsmfs/dsmfs/tests/bench"
)

// defaultPort is where peers listen when their address names no port.
const defaultPort = "7070"

func main() {
	app := &cli.App{
		Name:                 "dsmfs",
		Usage:                "distributed shared memory as a file to mmap",
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			mountCommand(),
			ownersCommand(),
			statsCommand(),
			completionCommand(),
			{Name: "secret", Usage: "print a fresh shared secret for --secret-file: (umask 077; dsmfs secret > /etc/dsmfs/secret), then copy it to every node", Action: printSecret},
			benchCommand(),
			dsmbench.WorkerCommand(),
			dsmbench.FloorFSCommand(),
		},
	}
	if err := app.Run(flagsFirst(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "dsmfs:", err)
		os.Exit(1)
	}
}

func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "join the cluster and mount the shared segment (stays in the foreground)",
		ArgsUsage: "MOUNTPOINT",
		Description: `Each node runs one mount; all must agree on the size and the member list.
Node i of n (names sorted as strings) owns the i-th n-th of the pages at start.

Examples:
   node A$ dsmfs mount /mnt/dsm --listen 10.0.0.1:7070 --peer 10.0.0.2:7070 --size 64M
   node B$ dsmfs mount /mnt/dsm --listen 10.0.0.2:7070 --peer 10.0.0.1:7070 --size 64M
   short:  dsmfs mount /mnt/dsm --peer otherhost        (listens on :7070, 64M)
Then a program opens /mnt/dsm/segment and mmaps it MAP_SHARED at 0x40000000.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":" + defaultPort, Usage: "`HOST:PORT` to accept peers on"},
			&cli.StringSliceFlag{Name: "peer", Usage: "`HOST[:PORT]` of another member (repeat for each; port 7070 if none)"},
			&cli.StringFlag{Name: "advertise", Usage: "this node's name, `HOST:PORT` as its peers list it (default: the listen address, or hostname:port)"},
			&cli.StringFlag{Name: "size", Value: "64M", Usage: "segment `SIZE`: bytes, or with K/M/G suffix; a multiple of 4096"},
			&cli.IntFlag{Name: "pages", Usage: "segment size as a page count `N` (instead of --size)"},
			&cli.IntFlag{Name: "block", Value: 1, Usage: "`B` aligned consecutive pages migrate together (a power of two dividing the page count)"},
			&cli.DurationFlag{Name: "hold", Value: time.Millisecond, Usage: "keep a page that arrived at least this long before giving it away (0: at once)"},
			&cli.IntFlag{Name: "prefetch", Usage: "when accesses walk forward, fetch `N` blocks ahead (0: only what is touched)"},
			&cli.IntFlag{Name: "replicas", Usage: "keep copies of each page on `R` other nodes, so that a node's death loses only writes since its last hand-off or sync"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "fail a fault with EIO (SIGBUS) after this long (with --replicas: at least 2 x --peer-timeout + 5s)"},
			&cli.DurationFlag{Name: "join-timeout", Value: 60 * time.Second, Usage: "how long to wait for the peers at start"},
			&cli.DurationFlag{Name: "peer-timeout", Value: 5 * time.Second, Usage: "declare a peer dead after this long without hearing from it (0: never)"},
			&cli.DurationFlag{Name: "leave-timeout", Value: time.Minute, Usage: "on SIGTERM or umount, how long to hand the pages held here to the other nodes"},
			&cli.BoolFlag{Name: "allow-other", Usage: "let other users open the segment (needs user_allow_other in /etc/fuse.conf)"},
			&cli.StringFlag{Name: "secret-file", Usage: "`PATH` of the cluster's shared secret: peers must prove they know it"},
			&cli.StringFlag{Name: "tls-cert", Usage: "`PEM` certificate of this node: with --tls-key and --tls-ca, peers talk mutual TLS"},
			&cli.StringFlag{Name: "tls-key", Usage: "`PEM` private key of --tls-cert"},
			&cli.StringFlag{Name: "tls-ca", Usage: "`PEM` CA certificate: peers must present a certificate it signed"},
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics on `HOST:PORT`/metrics"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
		},
		Action: mount,
	}
}

// mount is `dsmfs mount`.
func mount(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("mount needs exactly one MOUNTPOINT, got %d arguments", c.NArg())
	}
	mountpoint := c.Args().First()
	log, err := newLogger(c.String("log-level"), c.String("log-format"))
	if err != nil {
		return err
	}
	npages, err := segmentPages(c)
	if err != nil {
		return err
	}
	block := c.Int("block")
	if block < 1 || block&(block-1) != 0 || npages%block != 0 {
		return fmt.Errorf("--block %d: want a power of two that divides the %d pages", block, npages)
	}
	unit := block * fs.PageSize
	self, members, err := dsmnet.MemberNames(c.String("listen"), c.String("advertise"), c.StringSlice("peer"), defaultPort)
	if err != nil {
		return err
	}
	secret, tlsConfig, err := dsmnet.Credentials(c.String("secret-file"), c.String("tls-cert"), c.String("tls-key"), c.String("tls-ca"), log)
	if err != nil {
		return err
	}
	selfID := owner.NodeID(slices.Index(members, self))
	log = log.With("node", selfID)
	replicas, timeout, err := replicaSettings(c, len(members))
	if err != nil {
		return err
	}

	fsys := fs.New(fs.Config{
		Mountpoint: mountpoint, Pages: npages, PageSize: fs.PageSize, Block: block,
		AllowOther: c.Bool("allow-other"), Members: members, Self: selfID, Logger: log,
	})
	if err := fsys.Check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Take every port before joining: failing after the join would
	// leave the peers with a member that vanished.
	var metricsListener stdnet.Listener
	if addr := c.String("metrics-addr"); addr != "" {
		if metricsListener, err = stdnet.Listen("tcp", addr); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer metricsListener.Close()
	}
	listener, err := stdnet.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("cannot accept peers: %w", err)
	}
	log.Info("joining", "self", self, "members", members, "pages", npages)
	transport, err := dsmnet.Join(ctx, dsmnet.Config{
		Hello:       dsmnet.Hello{Name: self, PageSize: fs.PageSize, Pages: npages, Block: block, Replicas: replicas, Members: members},
		Self:        selfID,
		Listener:    listener,
		Secret:      secret,
		TLS:         tlsConfig,
		PeerTimeout: c.Duration("peer-timeout"),
		JoinTimeout: c.Duration("join-timeout"),
		Logger:      log,
	})
	if err != nil {
		listener.Close()
		return err
	}
	defer transport.Close()

	store, err := pages.New(npages/block, unit)
	if err != nil {
		return err
	}
	live := transport.Rejoined()
	node := owner.NewNode(owner.NodeConfig{
		Config:     owner.Config{Self: selfID, Nodes: len(members), Pages: npages / block, Replicas: replicas, Rejoin: live != nil, Live: live},
		PageSize:   unit,
		HoldWindow: c.Duration("hold"),
		Timeout:    timeout,
		Prefetch:   c.Int("prefetch"),
		FenceWait:  c.Duration("peer-timeout"),
		Logger:     log,
	}, transport, store, pages.NewCopies(unit), fsys)
	lockService := locks.New(locks.Config{Self: selfID, Timeout: timeout, Logger: log}, transport)
	node.Register(lockService, locks.Types...)
	if err := fsys.Mount(node, lockService); err != nil {
		return err
	}
	fenced := make(chan error, 2)
	transport.Start(dsmnet.Events{Deliver: node.Receive, Lost: node.PeerLost, Live: node.Live, CanRejoin: node.CanRejoin, Fenced: func(paused time.Duration) {
		fenced <- fmt.Errorf("this node was stopped for %v, longer than --peer-timeout %v: its peers have declared it dead, so it stops rather than serve stale pages",
			paused.Round(time.Millisecond), c.Duration("peer-timeout"))
	}})
	if live != nil {
		node.Rejoin()
	}
	if replicas > 0 {
		go keepQuorum(ctx, node, transport, c.Duration("peer-timeout"), fenced)
	}
	if metricsListener != nil {
		report.ServeMetrics(metricsListener, report.NewCollector(report.Node{Self: selfID, Members: members}, node.Stats).WithRefused(transport.Refused))
		log.Info("serving metrics", "url", "http://"+metricsListener.Addr().String()+"/metrics")
	}
	log.Info("mounted", "mountpoint", mountpoint, "segment", mountpoint+"/segment")

	unmounted := make(chan struct{})
	go func() { fsys.Wait(); close(unmounted) }()
	select {
	case <-ctx.Done():
		stop() // a second Ctrl-C quits at once, without handing pages on
		node.Stop(c.Duration("leave-timeout"))
		log.Info("unmounting", "mountpoint", mountpoint)
		if err := fsys.Unmount(); err != nil {
			return err
		}
	case <-unmounted:
		log.Info("unmounted from outside", "mountpoint", mountpoint)
		node.Stop(c.Duration("leave-timeout"))
	case err := <-fenced:
		// The peers have declared this node dead and may have moved on:
		// its pages must not be served again. Take them from the local
		// programs, fail what waits, and go.
		log.Error("fencing this node", "err", err)
		node.Fence()
		if err := fsys.Unmount(); err != nil {
			log.Error("unmount", "err", err)
		}
		return err
	}
	return nil
}

// replicaSettings checks --replicas against the cluster and gives the fault
// timeout: with copies, a fault on a dead node's page waits for its
// recovery, which takes up to two peer timeouts.
func replicaSettings(c *cli.Context, nodes int) (replicas int, timeout time.Duration, err error) {
	replicas, timeout = c.Int("replicas"), c.Duration("timeout")
	peerTimeout := c.Duration("peer-timeout")
	switch {
	case replicas == 0:
		return 0, timeout, nil
	case replicas < 0 || replicas > nodes-1:
		return 0, 0, fmt.Errorf("--replicas %d: want 0 to %d, the number of other nodes", replicas, nodes-1)
	case peerTimeout == 0:
		return 0, 0, errors.New("--replicas needs --peer-timeout: without it a dead node is never noticed")
	}
	least := 2*peerTimeout + 5*time.Second
	if !c.IsSet("timeout") {
		return replicas, max(timeout, least), nil
	}
	if timeout < least {
		return 0, 0, fmt.Errorf("--timeout %v is too short with --replicas: a fault on a dead node's page waits for recovery, up to 2 x --peer-timeout; use at least %v", timeout, least)
	}
	return replicas, timeout, nil
}

// keepQuorum fences this node when it cannot hear a quorum of the cluster
// for half a peer timeout: the others may then recover its pages, which
// they do only after a whole peer timeout.
func keepQuorum(ctx context.Context, node *owner.Node, t *dsmnet.TCP, peerTimeout time.Duration, fenced chan<- error) {
	lease := peerTimeout / 2
	heard := func(id owner.NodeID) bool { return time.Since(t.LastHeard(id)) < lease }
	if err := node.KeepQuorum(ctx, peerTimeout/8, heard); err != nil {
		fenced <- fmt.Errorf("%w for %v: the others may recover the pages held here, so this node stops", err, lease)
	}
}

func ownersCommand() *cli.Command {
	return &cli.Command{
		Name:      "owners",
		Usage:     "show which node owns which pages, asking every node",
		ArgsUsage: "MOUNTPOINT",
		Description: `Asks every node, through the local daemon, which pages it really owns, and
prints the merged runs as FIRST-LAST NODE ADDRESS. Pages no node claims right
now (moving, or on a node that did not answer) show as "?"; a node that did not
answer is named in a comment line.

Examples:
   dsmfs owners /mnt/dsm            merged runs from every node
   dsmfs owners /mnt/dsm --map      one-screen picture, a letter per owner
   dsmfs owners /mnt/dsm --local    this node's own view (same as cat .owners)`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "map", Usage: "draw the segment as cells lettered (and coloured on a terminal) by owner"},
			&cli.BoolFlag{Name: "local", Usage: "only this node's view, without asking the others"},
		},
		Action: owners,
	}
}

// owners is `dsmfs owners`.
func owners(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("owners needs exactly one MOUNTPOINT, got %d arguments", c.NArg())
	}
	return report.ShowOwners(os.Stdout, c.Args().First(), c.Bool("local"), c.Bool("map"))
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure migration, owned access and throughput against their floors",
		Description: `Starts its own local clusters (child processes on loopback, temporary mounts,
all cleaned up, also on Ctrl-C), measures the floors a migration cannot beat on
this machine (FUSE fault, TCP round trip, kernel invalidation, tmpfs access) and
dsmfs itself in the same run, and prints a table, or one JSON object with --json.

Examples:
   dsmfs bench                     the table, two nodes and an 8-node random run
   dsmfs bench --block 16 --json   with 16-page blocks, machine-readable`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 8, Usage: "nodes of the random-access run"},
			&cli.IntFlag{Name: "pages", Usage: "segment pages per cluster (default: the bench's own)"},
			&cli.IntFlag{Name: "block", Value: 1, Usage: "pages migrated per fault in the sequential sweep"},
			&cli.IntFlag{Name: "prefetch", Value: 8, Usage: "blocks fetched ahead in the sequential sweep"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of a table"},
		},
		Action: bench,
	}
}

// bench is `dsmfs bench`.
func bench(c *cli.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return dsmbench.Run(ctx, dsmbench.Options{
		Nodes: c.Int("nodes"), Pages: c.Int("pages"), Block: c.Int("block"), Prefetch: c.Int("prefetch"),
		JSON: c.Bool("json"), Binary: self,
	}, os.Stdout, os.Stderr)
}

// printSecret is `dsmfs secret`.
func printSecret(*cli.Context) error {
	_, err := fmt.Println(dsmnet.NewSecret())
	return err
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:  "completion",
		Usage: "print the bash completion script",
		Description: `Completes commands, flags and paths.

Examples:
   source <(dsmfs completion)                       in this shell
   dsmfs completion > /etc/bash_completion.d/dsmfs  for every shell`,
		Action: func(*cli.Context) error {
			_, err := fmt.Print(bashCompletion)
			return err
		},
	}
}

// bashCompletion is what `dsmfs completion` prints.
//
//go:embed scripts/completion.bash
var bashCompletion string

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Usage:     "show this node's activity: faults, pages moved, latency, errors",
		ArgsUsage: "MOUNTPOINT",
		Description: `Reads MOUNTPOINT/.stats (one JSON object; cat it for scripts) and prints it as
a table.

Examples:
   dsmfs stats /mnt/dsm
   dsmfs stats /mnt/dsm --watch          refresh every second
   dsmfs stats /mnt/dsm --watch 200ms`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "watch", Usage: "refresh every `INTERVAL` until interrupted"},
		},
		Action: stats,
	}
}

// stats is `dsmfs stats`.
func stats(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("stats needs exactly one MOUNTPOINT, got %d arguments", c.NArg())
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return report.ShowStats(ctx, os.Stdout, c.Args().First(), c.Duration("watch"))
}

// segmentPages reads --size or --pages.
func segmentPages(c *cli.Context) (int, error) {
	if c.IsSet("pages") {
		if c.IsSet("size") {
			return 0, errors.New("give --size or --pages, not both")
		}
		if n := c.Int("pages"); n <= 0 {
			return 0, fmt.Errorf("--pages %d: need at least one page", n)
		}
		return c.Int("pages"), nil
	}
	size, err := fs.ParseSize(c.String("size"))
	if err != nil {
		return 0, fmt.Errorf("--size: %w", err)
	}
	return int(size / fs.PageSize), nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// flagsFirst moves a command's positional arguments after its flags, so that
// `dsmfs mount /mnt/dsm --peer host` works: urfave/cli stops reading flags
// at the first positional argument.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 || args[len(args)-1] == "--generate-bash-completion" {
		return args // completion wants its flag last
	}
	cmd := app.Command(args[1])
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		tv, ok := f.(interface{ TakesValue() bool })
		for _, name := range f.Names() {
			takesValue[name] = ok && tv.TakesValue()
		}
	}
	var flags, positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				i++
				flags = append(flags, rest[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	out := append(slices.Clone(args[:2]), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}
