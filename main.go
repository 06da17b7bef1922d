// Command dsmfs is distributed shared memory as a file: every node mounts the
// same segment, programs map it at 1 GiB, and pages migrate to the node that
// touches them.
//
// This file holds the command line, one function per command, and the wiring
// of net, pages and fs into owner's driver.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	stdnet "net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/dsmfs/dsmfs/fs"
	dsmnet "github.com/dsmfs/dsmfs/net"
	"github.com/dsmfs/dsmfs/owner"
	"github.com/dsmfs/dsmfs/owner/locks"
	"github.com/dsmfs/dsmfs/pages"
	dsmbench "github.com/dsmfs/dsmfs/tests/bench"
)

const (
	defaultPort = "7070"
	pageSize    = 4096
)

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
			benchCommand(),
			benchWorkerCommand(),
			benchFloorFSCommand(),
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
	unit := block * pageSize
	self, members, err := memberNames(c.String("listen"), c.String("advertise"), c.StringSlice("peer"))
	if err != nil {
		return err
	}
	secret, err := readSecret(c.String("secret-file"), log)
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	switch cert, key, ca := c.String("tls-cert"), c.String("tls-key"), c.String("tls-ca"); {
	case cert != "" && key != "" && ca != "":
		if tlsConfig, err = dsmnet.TLSConfig(cert, key, ca); err != nil {
			return err
		}
	case cert != "" || key != "" || ca != "":
		return errors.New("TLS needs all of --tls-cert, --tls-key and --tls-ca")
	}
	selfID := owner.NodeID(slices.Index(members, self))
	log = log.With("node", selfID)
	replicas, timeout, err := replicaSettings(c, len(members))
	if err != nil {
		return err
	}

	fsys := fs.New(fs.Config{
		Mountpoint: mountpoint, Pages: npages, PageSize: pageSize, Block: block,
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
		Hello:       dsmnet.Hello{Version: dsmnet.ProtocolVersion, Name: self, PageSize: pageSize, Pages: npages, Block: block, Replicas: replicas, Members: members},
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
		Config:     owner.Config{Self: selfID, Nodes: len(members), Pages: npages / block, Rejoin: live != nil},
		Live:       live,
		PageSize:   unit,
		HoldWindow: c.Duration("hold"),
		Timeout:    timeout,
		Prefetch:   c.Int("prefetch"),
		Replicas:   replicas,
		FenceWait:  c.Duration("peer-timeout"),
		Logger:     log,
	}, transport, store, fsys)
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
		serveMetrics(metricsListener, node, members, log)
	}
	log.Info("mounted", "mountpoint", mountpoint, "segment", mountpoint+"/segment")

	unmounted := make(chan struct{})
	go func() { fsys.Wait(); close(unmounted) }()
	select {
	case <-ctx.Done():
		stop() // a second Ctrl-C quits at once, without handing pages on
		leave(node, len(members), c.Duration("leave-timeout"), log)
		log.Info("unmounting", "mountpoint", mountpoint)
		if err := fsys.Unmount(); err != nil {
			return err
		}
	case <-unmounted:
		log.Info("unmounted from outside", "mountpoint", mountpoint)
		leave(node, len(members), c.Duration("leave-timeout"), log)
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
	file := ".cluster-owners"
	if c.Bool("local") {
		file = ".owners"
	}
	text, err := os.ReadFile(filepath.Join(c.Args().First(), file))
	if err != nil {
		return fmt.Errorf("is %s a dsmfs mount? %w", c.Args().First(), err)
	}
	if !c.Bool("map") {
		_, err := os.Stdout.Write(text)
		return err
	}
	return drawOwnerMap(os.Stdout, string(text), isTerminal(os.Stdout))
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

// benchWorkerCommand is run by `dsmfs bench` in its own processes: the
// programs that map segments must never live in a daemon's process.
func benchWorkerCommand() *cli.Command {
	return &cli.Command{
		Name:            "bench-worker",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			return dsmbench.Worker(c.Context, c.Args().Slice(), os.Stdout)
		},
	}
}

// benchFloorFSCommand is the trivial FUSE file `dsmfs bench` measures the
// FUSE floors on.
func benchFloorFSCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench-floorfs",
		Hidden:    true,
		ArgsUsage: "MOUNTPOINT",
		Action: func(c *cli.Context) error {
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return dsmbench.FloorFS(ctx, c.Args().First(), os.Stdout)
		},
	}
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

// bashCompletion asks dsmfs itself (urfave/cli's --generate-bash-completion)
// for the words that fit, and falls back to file names.
const bashCompletion = `_dsmfs() {
	local cur=${COMP_WORDS[COMP_CWORD]} words
	if [[ $cur == -* ]]; then
		words=$("${COMP_WORDS[@]:0:COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		words=$("${COMP_WORDS[@]:0:COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _dsmfs dsmfs
`

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
	path := filepath.Join(c.Args().First(), ".stats")
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for {
		text, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("is %s a dsmfs mount? %w", c.Args().First(), err)
		}
		var r fs.StatsReport
		if err := json.Unmarshal(text, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if c.Duration("watch") > 0 {
			fmt.Print("\x1b[H\x1b[2J") // home, clear: redraw in place
		}
		printStats(os.Stdout, r)
		if c.Duration("watch") <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Duration("watch")):
		}
	}
}

func printStats(w io.Writer, r fs.StatsReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "node %d\t%s\tpages %d, block %d\n", r.Node, r.Address, r.Pages, r.Block)
	fmt.Fprintf(tw, "accesses\tlocal %d\tremote %d\terrors %d\tinterrupted %d\treadahead declined %d\n",
		r.LocalAccesses, r.RemoteFaults, r.FaultErrors, r.Interrupted, r.ReadaheadDeclined)
	fmt.Fprintf(tw, "fault latency\tp50 %.0f µs\tp99 %.0f µs\n", r.FaultP50Micros, r.FaultP99Micros)
	fmt.Fprintf(tw, "blocks moved\tin %d\tout %d\tbytes in %d\tbytes out %d\n", r.PagesIn, r.PagesOut, r.BytesIn, r.BytesOut)
	for _, p := range r.Peers {
		fmt.Fprintf(tw, "  peer %d\t%s\tin %d\tout %d\n", p.Node, p.Address, p.PagesIn, p.PagesOut)
	}
	fmt.Fprintf(tw, "protocol\tforwarded %d\tqueued %d\thold waits %d\n", r.RequestsForwarded, r.RequestsQueued, r.HoldWaits)
	fmt.Fprintf(tw, "invalidations\t%d\trepeated %d\n", r.Invalidations, r.Reinvalidations)
	fmt.Fprintf(tw, "errors\tprotocol %d\tsend %d\tfaults %d\n", r.ProtocolErrors, r.SendErrors, r.FaultErrors)
	fmt.Fprintf(tw, "replicas\tcopies kept %d\tsyncs %d\trecoveries %d\tpages promoted %d\tstale messages %d\n", r.Copies, r.Syncs, r.Recoveries, r.Promoted, r.StaleMessages)
	tw.Flush()
}

// leave hands the pages held here to the nodes that stay, so that stopping
// a node loses nothing (see owner.Node.Leave).
func leave(node *owner.Node, nodes int, timeout time.Duration, log *slog.Logger) {
	if nodes == 1 {
		node.Close()
		return
	}
	log.Info("leaving: handing pages to the other nodes")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	switch err := node.Leave(ctx); {
	case errors.Is(err, owner.ErrNoSurvivors):
		log.Warn("this is the last node of the cluster: its pages go with it", "err", err)
		return
	case err != nil:
		log.Error("leaving lost data", "err", err)
		return
	}
	log.Info("left the cluster; every page is with the other nodes")
}

// readSecret reads --secret-file: the whole file, without surrounding
// white space, is the secret.
func readSecret(path string, log *slog.Logger) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		log.Warn("the secret file can be read by others; chmod 600 it", "path", path)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(text)))
	if len(secret) == 0 {
		return nil, fmt.Errorf("--secret-file %s is empty", path)
	}
	return secret, nil
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
	size, err := parseSize(c.String("size"))
	if err != nil {
		return 0, fmt.Errorf("--size: %w", err)
	}
	return int(size / pageSize), nil
}

// parseSize reads a byte count such as 4096, 64K, 64M, 1G or 1GiB (binary
// units), which must be a positive multiple of the page size.
func parseSize(s string) (int64, error) {
	num := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B")
	mult := int64(1)
	if n := len(num); n > 0 {
		if i := strings.IndexByte("KMGT", num[n-1]); i >= 0 {
			mult <<= 10 * (i + 1)
			num = num[:n-1]
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size (examples: 64M, 1G, 1048576)", s)
	}
	size := v * mult
	if size%pageSize != 0 {
		return 0, fmt.Errorf("%s is not a multiple of the page size %d", s, pageSize)
	}
	return size, nil
}

// memberNames gives this node's name and the sorted names of all members.
// A name is HOST:PORT, as peers dial it.
func memberNames(listen, advertise string, peers []string) (string, []string, error) {
	self := advertise
	if self == "" {
		host, port, err := stdnet.SplitHostPort(listen)
		if err != nil {
			return "", nil, fmt.Errorf("--listen %q: %w", listen, err)
		}
		if ip := stdnet.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			if host, err = os.Hostname(); err != nil {
				return "", nil, fmt.Errorf("naming this node (give --advertise): %w", err)
			}
		}
		self = stdnet.JoinHostPort(host, port)
	}
	self = withPort(self)
	members := []string{self}
	for _, p := range peers {
		p = withPort(p)
		if p == self {
			return "", nil, fmt.Errorf("--peer %s is this node itself", p)
		}
		if slices.Contains(members, p) {
			return "", nil, fmt.Errorf("--peer %s given twice", p)
		}
		members = append(members, p)
	}
	slices.Sort(members)
	return self, members, nil
}

func withPort(hostport string) string {
	if _, _, err := stdnet.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return stdnet.JoinHostPort(hostport, defaultPort)
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

// ownerLetters name nodes in the owner map; node i is ownerLetters[i].
const ownerLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// drawOwnerMap draws the runs of an owners text as a grid of at most 64×16
// cells, each cell a range of pages: the owner's letter when one node owns
// the whole cell, "+" when several do, "?" when some pages are unclaimed.
func drawOwnerMap(w io.Writer, text string, color bool) error {
	var pages int
	var members []string
	type run struct{ first, last, owner int }
	var runs []run
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(line, "#") {
			if _, after, ok := strings.Cut(line, " pages="); ok {
				fmt.Sscanf(after, "%d", &pages)
			}
			continue
		}
		var r run
		var node, addr string
		if _, err := fmt.Sscanf(line, "%d-%d %s %s", &r.first, &r.last, &node, &addr); err != nil {
			return fmt.Errorf("unexpected owners line %q", line)
		}
		r.owner = -1
		if n, err := strconv.Atoi(node); err == nil && n < len(ownerLetters) {
			r.owner = n
			for len(members) <= n {
				members = append(members, "")
			}
			members[n] = addr
		}
		runs = append(runs, r)
	}
	const cols, maxCells = 64, 64 * 16
	perCell := max(1, (pages+maxCells-1)/maxCells)
	cells := (pages + perCell - 1) / perCell
	const unseen = -2 // no run has covered the cell yet; -1 is an unclaimed run
	owner := make([]int, cells)
	for i := range owner {
		owner[i] = unseen
	}
	mixed := make([]bool, cells)
	for _, r := range runs {
		for cell := r.first / perCell; cell <= r.last/perCell; cell++ {
			if owner[cell] == unseen {
				owner[cell] = r.owner
			} else if owner[cell] != r.owner {
				mixed[cell] = true
			}
		}
	}
	fmt.Fprintf(w, "%d pages, %d per cell\n", pages, perCell)
	for i := range cells {
		ch, o := byte('?'), owner[i]
		switch {
		case mixed[i]:
			ch = '+'
		case o >= 0:
			ch = ownerLetters[o]
		}
		if color && o >= 0 && !mixed[i] {
			fmt.Fprintf(w, "\x1b[%dm%c\x1b[0m", 41+o%6, ch)
		} else {
			fmt.Fprintf(w, "%c", ch)
		}
		if (i+1)%cols == 0 || i == cells-1 {
			fmt.Fprintln(w)
		}
	}
	for n, addr := range members {
		if addr != "" {
			fmt.Fprintf(w, "%c = node %d %s\n", ownerLetters[n], n, addr)
		}
	}
	fmt.Fprintln(w, "+ = several owners in the cell, ? = unclaimed (moving or unanswered)")
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// serveMetrics serves Prometheus metrics of node on l, path /metrics.
func serveMetrics(l stdnet.Listener, node *owner.Node, members []string, log *slog.Logger) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&metrics{node: node, members: members})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go http.Serve(l, mux) // ends when l closes at shutdown
	log.Info("serving metrics", "url", "http://"+l.Addr().String()+"/metrics")
}

// metrics turns a node's Stats into Prometheus metrics at each scrape.
type metrics struct {
	node    *owner.Node
	members []string
}

// counterMetric is a dsmfs counter as Prometheus shows it.
type counterMetric struct {
	desc  *prometheus.Desc
	value func(owner.Stats) uint64
}

func counter(name, help string, value func(owner.Stats) uint64) counterMetric {
	return counterMetric{prometheus.NewDesc("dsmfs_"+name, help, nil, nil), value}
}

// metricCounters are built once: their descriptions never change.
var metricCounters = []counterMetric{
	counter("local_accesses_total", "Accesses served at once: the page was here.", func(s owner.Stats) uint64 { return s.LocalAccesses }),
	counter("remote_faults_total", "Accesses that waited for a page owned elsewhere.", func(s owner.Stats) uint64 { return s.RemoteFaults }),
	counter("fault_errors_total", "Accesses that failed: timeout, dead owner, shutdown.", func(s owner.Stats) uint64 { return s.FaultErrors }),
	counter("interrupted_faults_total", "Accesses a signal interrupted while they waited for a page; they waited on.", func(s owner.Stats) uint64 { return s.Interrupted }),
	counter("readahead_declined_total", "Reads over several pages declined because some were elsewhere.", func(s owner.Stats) uint64 { return s.ReadaheadDeclined }),
	counter("bytes_in_total", "Page bytes received.", func(s owner.Stats) uint64 { return s.BytesIn }),
	counter("bytes_out_total", "Page bytes sent.", func(s owner.Stats) uint64 { return s.BytesOut }),
	counter("requests_forwarded_total", "Requests passed on towards the tail of a page's queue.", func(s owner.Stats) uint64 { return s.Forwarded }),
	counter("requests_queued_total", "Requests queued behind a page on its way or in its hold window.", func(s owner.Stats) uint64 { return s.Queued }),
	counter("hold_waits_total", "Requests that waited for a hold window.", func(s owner.Stats) uint64 { return s.HoldWaits }),
	counter("invalidations_total", "Times local programs were asked to give a page up.", func(s owner.Stats) uint64 { return s.Invalidations }),
	counter("reinvalidations_total", "Invalidations repeated because a local access came in during one.", func(s owner.Stats) uint64 { return s.Reinvalidations }),
	counter("protocol_errors_total", "Messages from peers that broke the protocol.", func(s owner.Stats) uint64 { return s.ProtocolErrors }),
	counter("send_errors_total", "Messages that could not be sent.", func(s owner.Stats) uint64 { return s.SendErrors }),
	counter("syncs_total", "fsync and msync calls that made copies of pages (--replicas).", func(s owner.Stats) uint64 { return s.Syncs }),
	counter("recoveries_total", "New owner maps installed after nodes were lost (--replicas).", func(s owner.Stats) uint64 { return s.Recoveries }),
	counter("pages_promoted_total", "Pages this node took over from a copy in a recovery.", func(s owner.Stats) uint64 { return s.Promoted }),
	counter("stale_messages_total", "Messages from an earlier epoch, dropped.", func(s owner.Stats) uint64 { return s.StaleMessages }),
}

var (
	pagesInDesc  = prometheus.NewDesc("dsmfs_pages_in_total", "Blocks received from a peer, with their ownership.", []string{"peer"}, nil)
	pagesOutDesc = prometheus.NewDesc("dsmfs_pages_out_total", "Blocks handed to a peer.", []string{"peer"}, nil)
	latencyDesc  = prometheus.NewDesc("dsmfs_fault_latency_seconds", "Time local accesses waited for a page owned elsewhere.", nil, nil)
)

func (m *metrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.node.Stats()
	for _, c := range metricCounters {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.value(st)))
	}
	for id, addr := range m.members {
		if owner.NodeID(id) != m.node.Self() {
			ch <- prometheus.MustNewConstMetric(pagesInDesc, prometheus.CounterValue, float64(st.PagesIn[id]), addr)
			ch <- prometheus.MustNewConstMetric(pagesOutDesc, prometheus.CounterValue, float64(st.PagesOut[id]), addr)
		}
	}
	buckets := map[float64]uint64{}
	var cum uint64
	for i, le := range owner.LatencyBuckets {
		cum += st.FaultLatency[i]
		buckets[le.Seconds()] = cum
	}
	cum += st.FaultLatency[len(owner.LatencyBuckets)]
	ch <- prometheus.MustNewConstHistogram(latencyDesc, cum, st.FaultLatencySum.Seconds(), buckets)
}
