package fs

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// clusterQueryTimeout bounds how long `.cluster-owners` waits for peers.
const clusterQueryTimeout = 2 * time.Second

// ownersText is `.owners`: this node's view, one line per run of pages with
// the same owner. Pages that died with their owner, no copy left, show as
// owner `-`.
func (f *FS) ownersText(context.Context) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# dsmfs owners: pages=%d page_size=%d nodes=%d self=%d\n",
		f.cfg.Pages, f.cfg.PageSize, len(f.cfg.Members), f.cfg.Self)
	dead := f.node.Dead()
	for _, r := range f.node.Owners() {
		first, last := f.kernelPages(r)
		if r.Owner == owner.None {
			fmt.Fprintf(&b, "%d-%d - lost\n", first, last)
			continue
		}
		mark := ""
		if dead[r.Owner] {
			mark = " dead"
		}
		fmt.Fprintf(&b, "%d-%d %d %s%s\n", first, last, r.Owner, f.cfg.Members[r.Owner], mark)
	}
	return b.Bytes()
}

// kernelPages is the kernel pages of a run of blocks.
func (f *FS) kernelPages(r owner.Run) (first, last int) {
	return int(r.First) * f.cfg.Block, (int(r.Last)+1)*f.cfg.Block - 1
}

// clusterOwnersText is `.cluster-owners`: what every node says it owns,
// merged. Pages nobody claims (moving, or on a node that did not answer)
// show as owner `?`; pages claimed twice, which must never happen, as `!`.
func (f *FS) clusterOwnersText(ctx context.Context) []byte {
	ctx, cancel := context.WithTimeout(ctx, clusterQueryTimeout)
	defer cancel()
	answers := f.node.ClusterOwners(ctx)

	const unclaimed, twice = owner.None, owner.None - 1
	pageOwner := make([]owner.NodeID, f.cfg.Pages)
	for i := range pageOwner {
		pageOwner[i] = unclaimed
	}
	var b bytes.Buffer
	answered := 0
	for _, a := range answers {
		if a.Err == nil {
			answered++
		}
	}
	fmt.Fprintf(&b, "# dsmfs cluster owners: pages=%d page_size=%d nodes=%d answered=%d\n",
		f.cfg.Pages, f.cfg.PageSize, len(f.cfg.Members), answered)
	for _, a := range answers {
		if a.Err != nil {
			fmt.Fprintf(&b, "# node %d %s: %v\n", a.Node, f.cfg.Members[a.Node], a.Err)
		}
		for _, r := range a.Runs {
			first, last := f.kernelPages(r)
			for p := first; p <= last; p++ {
				if pageOwner[p] == unclaimed {
					pageOwner[p] = r.Owner
				} else {
					pageOwner[p] = twice
				}
			}
		}
	}
	start := 0
	for p := 1; p <= len(pageOwner); p++ {
		if p < len(pageOwner) && pageOwner[p] == pageOwner[start] {
			continue
		}
		switch o := pageOwner[start]; o {
		case unclaimed:
			fmt.Fprintf(&b, "%d-%d ? unclaimed\n", start, p-1)
		case twice:
			fmt.Fprintf(&b, "%d-%d ! claimed-by-several-nodes\n", start, p-1)
		default:
			fmt.Fprintf(&b, "%d-%d %d %s\n", start, p-1, o, f.cfg.Members[o])
		}
		start = p
	}
	return b.Bytes()
}
