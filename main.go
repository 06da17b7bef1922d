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
	"fmt"
	stdnet "net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dsmfs/dsmfs/fs"
	"github.com/dsmfs/dsmfs/fs/cmdline"
	"github.com/dsmfs/dsmfs/fs/report"
	"github.com/dsmfs/dsmfs/fs/service"
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
		Version:              report.ReadBuild().String(),
		Suggest:              true,
		OnUsageError:         cmdline.OnUsageError,
		Action:               cmdline.CommandNotFound,
		Commands: []*cli.Command{
			mountCommand(),
			ownersCommand(),
			statsCommand(),
			versionCommand(),
			completionCommand(),
			manCommand(),
			secretCommand(),
			dsmbench.Command(),
			dsmbench.WorkerCommand(),
			dsmbench.FloorFSCommand(),
		},
	}
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, c.App.Version) }
	for _, cmd := range app.Commands {
		cmd.OnUsageError = cmdline.OnUsageError
	}
	if err := app.Run(cmdline.FlagsFirst(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "dsmfs:", err)
		service.Notify(service.Failure(err))
		os.Exit(cmdline.ExitCode(err))
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
			&cli.StringFlag{Name: "log-file", Usage: "append the log to `PATH` instead of stderr (with --daemon: instead of syslog)"},
			&cli.BoolFlag{Name: "daemon", Aliases: []string{"d"}, Usage: "run in the background; return once mounted and joined, or fail saying why"},
			&cli.StringSliceFlag{Name: "o", Usage: "mount options `OPT[,OPT=VALUE]`, for mount(8) and fstab: each sets the flag of that name, _ for - (peer=HOST, size=64M, peer_timeout=5s, allow_other)"},
		},
		Action: mount,
	}
}

// mount is `dsmfs mount`.
func mount(c *cli.Context) error {
	if err := cmdline.NeedArgs(c, 1, "one MOUNTPOINT"); err != nil {
		return err
	}
	if err := cmdline.ApplyOptions(c, c.StringSlice("o")); err != nil {
		return err
	}
	if c.Bool("daemon") && !service.InBackground() {
		return service.Background(os.Args[1:], c.String("log-file"))
	}
	mountpoint := c.Args().First()
	log, err := service.Logger(c.String("log-level"), c.String("log-format"), c.String("log-file"))
	if err != nil {
		return err
	}
	npages, err := fs.SegmentPages(c.String("size"), c.Int("pages"), c.IsSet("size"), c.IsSet("pages"))
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
	replicas, timeout := c.Int("replicas"), c.Duration("timeout")
	timeout, err = owner.ReplicaTimeout(replicas, len(members), timeout, c.Duration("peer-timeout"), c.IsSet("timeout"))
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

	// Take the memory and every port, and mount (see fs.Mount), before
	// joining: failing after the join would leave the peers with a member
	// that vanished.
	store, err := pages.New(npages/block, unit)
	if err != nil {
		return err
	}
	reads, err := pages.New(npages/block, unit) // read copies, for segment.ro
	if err != nil {
		return err
	}
	var metricsListener stdnet.Listener
	health := &report.Health{}
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
	if err := fsys.Mount(); err != nil {
		listener.Close()
		return err
	}
	abandon := func(err error) error {
		if uerr := fsys.Unmount(); uerr != nil {
			log.Error("unmount", "err", uerr)
		}
		return err
	}
	log.Info("joining", "self", self, "members", members, "pages", npages, "pid", os.Getpid())
	service.Notify(service.Status("mounted at " + mountpoint + ", joining the cluster"))
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
		return abandon(err)
	}
	defer transport.Close()

	live := transport.Rejoined()
	node := owner.NewNode(owner.NodeConfig{
		Config:     owner.Config{Self: selfID, Nodes: len(members), Pages: npages / block, Replicas: replicas, Rejoin: live != nil, Live: live},
		PageSize:   unit,
		HoldWindow: c.Duration("hold"),
		Timeout:    timeout,
		Prefetch:   c.Int("prefetch"),
		FenceWait:  c.Duration("peer-timeout"),
		Logger:     log,
	}, transport, owner.Stores{Pages: store, Reads: reads, Copies: pages.NewCopies(unit)}, fsys)
	lockService := locks.New(locks.Config{Self: selfID, Timeout: timeout, Logger: log}, transport)
	node.Register(lockService, locks.Types...)
	fsys.Serve(node, lockService)
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
		collector := report.NewCollector(report.Node{Self: selfID, Members: members, Block: block}, node.Stats).WithRefused(transport.Refused)
		report.ServeMetrics(metricsListener, collector, health)
		log.Info("serving metrics", "url", "http://"+metricsListener.Addr().String()+"/metrics")
	}
	log.Info("mounted", "mountpoint", mountpoint, "segment", mountpoint+"/segment")
	service.Notify("READY=1\n" + service.Status("mounted at "+mountpoint+", joined the cluster"))

	unmounted := make(chan struct{})
	go func() { fsys.Wait(); close(unmounted) }()
	select {
	case <-ctx.Done():
		stop() // a second Ctrl-C quits at once, without handing pages on
		health.Down("leaving the cluster")
		service.Notify("STOPPING=1\n" + service.Status("leaving the cluster"))
		lost := node.Stop(c.Duration("leave-timeout"))
		log.Info("unmounting", "mountpoint", mountpoint)
		if err := fsys.Unmount(); err != nil {
			return err
		}
		return lost
	case <-unmounted:
		log.Info("unmounted from outside", "mountpoint", mountpoint)
		health.Down("unmounted, leaving the cluster")
		service.Notify("STOPPING=1\n" + service.Status("unmounted, leaving the cluster"))
		return node.Stop(c.Duration("leave-timeout"))
	case err := <-fenced:
		// The peers have declared this node dead and may have moved on:
		// its pages must not be served again. Take them from the local
		// programs, fail what waits, and go.
		log.Error("fencing this node", "err", err)
		health.Down("fenced: " + err.Error())
		node.Fence()
		if err := fsys.Unmount(); err != nil {
			log.Error("unmount", "err", err)
		}
		return err
	}
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
   dsmfs owners /mnt/dsm --local    this node's own view (same as cat .owners)
   dsmfs owners /mnt/dsm --summary  per node: pages owned, in how many runs`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "map", Usage: "draw the segment as cells lettered (and coloured on a terminal) by owner"},
			&cli.BoolFlag{Name: "summary", Usage: "per node, the pages it owns and in how many runs"},
			&cli.BoolFlag{Name: "local", Usage: "only this node's view, without asking the others"},
		},
		Action: owners,
	}
}

// owners is `dsmfs owners`.
func owners(c *cli.Context) error {
	if err := cmdline.NeedArgs(c, 1, "one MOUNTPOINT"); err != nil {
		return err
	}
	how := report.OwnersText
	switch {
	case c.Bool("map") && c.Bool("summary"):
		return &cmdline.UsageError{Msg: "give --map or --summary, not both"}
	case c.Bool("map"):
		how = report.OwnersMap
	case c.Bool("summary"):
		how = report.OwnersSummary
	}
	return report.ShowOwners(os.Stdout, c.Args().First(), c.Bool("local"), how)
}

func secretCommand() *cli.Command {
	return &cli.Command{
		Name:  "secret",
		Usage: "print a fresh shared secret for --secret-file: (umask 077; dsmfs secret > /etc/dsmfs/secret), then copy it to every node",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, dsmnet.NewSecret())
			return err
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the VCS revision and the Go release dsmfs was built with",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, c.App.Version)
			return err
		},
	}
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash (the default), zsh or fish",
		ArgsUsage: "[bash|zsh|fish]",
		Description: `Completes commands, flags and paths.

Examples:
   source <(dsmfs completion)                       bash, in this shell
   dsmfs completion > /etc/bash_completion.d/dsmfs  bash, for every shell
   dsmfs completion zsh > "${fpath[1]}/_dsmfs"      zsh
   dsmfs completion fish > ~/.config/fish/completions/dsmfs.fish`,
		Action: func(c *cli.Context) error {
			script := bashCompletion
			switch shell := c.Args().First(); shell {
			case "", "bash":
			case "zsh":
				script = zshCompletion
			case "fish":
				fish, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				script = fish
			default:
				return &cmdline.UsageError{Msg: fmt.Sprintf("completion %q: want bash, zsh or fish", shell)}
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// The completion scripts `dsmfs completion` prints for bash and zsh.
var (
	//go:embed scripts/completion.bash
	bashCompletion string
	//go:embed scripts/completion.zsh
	zshCompletion string
)

func manCommand() *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print the manual page, made from the commands' own help",
		Description: `Examples:
   dsmfs man | man -l -
   dsmfs man > /usr/local/share/man/man1/dsmfs.1`,
		Action: func(c *cli.Context) error {
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Usage:     "show this node's activity: faults, pages moved, latency, errors",
		ArgsUsage: "MOUNTPOINT",
		Description: `Reads MOUNTPOINT/.stats (one JSON object; cat it for scripts) and prints it as
a table.

Examples:
   dsmfs stats /mnt/dsm
   dsmfs stats /mnt/dsm --watch          every second, with rates per second
   dsmfs stats /mnt/dsm --watch 200ms`,
		Flags: []cli.Flag{
			&cli.GenericFlag{Name: "watch", Value: &cmdline.OptionalDuration{Default: time.Second},
				Usage: "sample every `INTERVAL` (1s if none given) until interrupted, with rates per second"},
		},
		Action: stats,
	}
}

// stats is `dsmfs stats`.
func stats(c *cli.Context) error {
	if err := cmdline.NeedArgs(c, 1, "one MOUNTPOINT"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return report.ShowStats(ctx, os.Stdout, c.Args().First(), c.Generic("watch").(*cmdline.OptionalDuration).Value)
}
