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
		ArgsUsage: "MOUNTPOINT",
		Action: func(c *cli.Context) error {
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return FloorFS(ctx, c.Args().First(), os.Stdout)
		},
	}
}
