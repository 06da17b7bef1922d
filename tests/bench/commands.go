package bench

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// WorkerCommand is `dsmfs bench-worker`, which Run starts in processes of
// their own: the programs that map segments must never live in a daemon's
// process.
func WorkerCommand() *cli.Command {
	return &cli.Command{
		Name:            "bench-worker",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			return Worker(c.Context, c.Args().Slice(), os.Stdout)
		},
	}
}

// FloorFSCommand is `dsmfs bench-floorfs`: the trivial FUSE file Run
// measures the FUSE floors on.
func FloorFSCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench-floorfs",
		Hidden:    true,
		ArgsUsage: "MOUNTPOINT ECHOADDR",
		Action: func(c *cli.Context) error {
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return FloorFS(ctx, c.Args().Get(0), c.Args().Get(1), os.Stdout)
		},
	}
}

// Command is `dsmfs bench`.
func Command() *cli.Command {
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

func bench(c *cli.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return Run(ctx, Options{
		Nodes: c.Int("nodes"), Pages: c.Int("pages"), Block: c.Int("block"), Prefetch: c.Int("prefetch"),
		JSON: c.Bool("json"), Binary: self,
	}, os.Stdout, os.Stderr)
}
