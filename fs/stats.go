package fs

import (
	"context"
	"encoding/json"

	"github.com/dsmfs/dsmfs/fs/report"
)

// statsText is `.stats`: the node's activity as one JSON object
// (report.Stats).
func (f *FS) statsText(context.Context) []byte {
	n := report.Node{Self: f.cfg.Self, Members: f.cfg.Members, Pages: f.cfg.Pages, Block: f.cfg.Block, Started: started}
	r := report.NewStats(n, f.node.Stats())
	out, _ := json.MarshalIndent(r, "", "  ") // a plain struct always marshals
	return append(out, '\n')
}
