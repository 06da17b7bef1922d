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

// ShowOwners prints the owners of a mount's segment: every node's answer
// merged (`.cluster-owners`), or this node's own view (`.owners`) if local;
// as text, or as DrawMap's picture if drawMap.
func ShowOwners(w io.Writer, mountpoint string, local, drawMap bool) error {
	file := ".cluster-owners"
	if local {
		file = ".owners"
	}
	text, err := os.ReadFile(filepath.Join(mountpoint, file))
	if err != nil {
		return fmt.Errorf("is %s a dsmfs mount? %w", mountpoint, err)
	}
	if !drawMap {
		_, err := w.Write(text)
		return err
	}
	o, err := ParseOwners(string(text))
	if err != nil {
		return err
	}
	return DrawMap(w, o, IsTerminal(w))
}

// ShowStats prints a mount's `.stats` as a table; with a watch interval it
// redraws it in place every interval until ctx ends.
func ShowStats(ctx context.Context, w io.Writer, mountpoint string, watch time.Duration) error {
	path := filepath.Join(mountpoint, ".stats")
	for {
		text, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("is %s a dsmfs mount? %w", mountpoint, err)
		}
		var r Stats
		if err := json.Unmarshal(text, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if watch > 0 {
			fmt.Fprint(w, "\x1b[H\x1b[2J") // home, clear: redraw in place
		}
		if err := r.Print(w); err != nil {
			return err
		}
		if watch <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watch):
		}
	}
}
