package fs

import (
	"bytes"
	"context"
	"time"

	"github.com/dsmfs/dsmfs/fs/report"
)

// clusterQueryTimeout bounds how long `.cluster-owners` waits for peers.
const clusterQueryTimeout = 2 * time.Second

// ownersText is `.owners`: this node's view, one line per run of pages with
// the same owner (report.Owners).
func (f *FS) ownersText(context.Context) []byte {
	o := report.Owners{
		Pages: f.cfg.Pages, PageSize: f.cfg.PageSize, Nodes: len(f.cfg.Members), Self: int(f.cfg.Self),
		Runs: report.KernelRuns(f.node.Owners(), f.cfg.Block, f.cfg.Members, f.node.Dead()),
	}
	var b bytes.Buffer
	o.WriteTo(&b)
	return b.Bytes()
}

// clusterOwnersText is `.cluster-owners`: what every node says it owns,
// merged (report.Merge).
func (f *FS) clusterOwnersText(ctx context.Context) []byte {
	ctx, cancel := context.WithTimeout(ctx, clusterQueryTimeout)
	defer cancel()
	o := report.Merge(f.node.ClusterOwners(ctx), f.cfg.Pages, f.cfg.PageSize, f.cfg.Block, f.cfg.Members)
	var b bytes.Buffer
	o.WriteTo(&b)
	return b.Bytes()
}
