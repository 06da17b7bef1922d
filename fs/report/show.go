package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// How ShowOwners shows the owners.
const (
	OwnersText    = iota // the runs, as the special file has them
	OwnersMap            // DrawMap's picture
	OwnersSummary        // WriteSummary's table
)

// ShowOwners prints the owners of a mount's segment: every node's answer
// merged (`.cluster-owners`), or this node's own view (`.owners`) if local;
// shown as how says.
func ShowOwners(w io.Writer, mountpoint string, local bool, how int) error {
	file := ".cluster-owners"
	if local {
		file = ".owners"
	}
	text, err := os.ReadFile(filepath.Join(mountpoint, file))
	if err != nil {
		return fmt.Errorf("is %s a dsmfs mount? %w", mountpoint, err)
	}
	if how == OwnersText {
		_, err := w.Write(text)
		return err
	}
	o, err := ParseOwners(string(text))
	if err != nil {
		return err
	}
	if how == OwnersSummary {
		return WriteSummary(w, o)
	}
	return DrawMap(w, o, IsTerminal(w))
}

// ShowStats prints a mount's `.stats` as a table. With a watch interval it
// samples it every interval until ctx ends and shows each counter's rate
// per second as well: redrawn in place on a terminal, one sample after
// the other, with no escape codes, anywhere else.
func ShowStats(ctx context.Context, w io.Writer, mountpoint string, watch time.Duration) error {
	path := filepath.Join(mountpoint, ".stats")
	read := func() (Stats, error) {
		var r Stats
		text, err := os.ReadFile(path)
		if err != nil {
			return r, fmt.Errorf("is %s a dsmfs mount? %w", mountpoint, err)
		}
		if err := json.Unmarshal(text, &r); err != nil {
			return r, fmt.Errorf("%s: %w", path, err)
		}
		return r, nil
	}
	if watch <= 0 {
		r, err := read()
		if err != nil {
			return err
		}
		return r.Print(w)
	}
	terminal := IsTerminal(w)
	var prev *Stats
	var prevAt time.Time
	for {
		r, err := read()
		if err != nil {
			return err
		}
		now := time.Now()
		if terminal {
			fmt.Fprint(w, "\x1b[H\x1b[2J") // home, clear: redraw in place
		} else {
			fmt.Fprintf(w, "--- %s, every %v\n", now.Format("15:04:05"), watch)
		}
		if err := r.PrintRates(w, prev, now.Sub(prevAt)); err != nil {
			return err
		}
		prev, prevAt = &r, now
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watch):
		}
	}
}
