package report

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// Share is one owner's part of the segment in a summary: how many pages,
// in how many runs.
type Share struct {
	Node    int // a node's number, or Lost, Unclaimed or Twice
	Address string
	Pages   int
	Runs    int
}

// Summary is o per owner, nodes first by number, then pages owned by no
// one node.
func (o Owners) Summary() []Share {
	by := map[int]*Share{}
	for i, r := range o.Runs {
		s := by[r.Node]
		if s == nil {
			s = &Share{Node: r.Node, Address: r.Address}
			if m, ok := marks[r.Node]; ok {
				s.Address = m[1]
			}
			by[r.Node] = s
		}
		s.Pages += r.Last - r.First + 1
		if i == 0 || o.Runs[i-1].Node != r.Node { // not split by marks alone
			s.Runs++
		}
	}
	var out []Share
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Share) int {
		if (a.Node < 0) != (b.Node < 0) {
			return b.Node - a.Node // nodes before marks
		}
		return a.Node - b.Node
	})
	return out
}

// WriteSummary writes o's Summary as `dsmfs owners --summary` shows it.
func WriteSummary(w io.Writer, o Owners) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "node\taddress\tpages\truns\n")
	runs := 0
	for _, s := range o.Summary() {
		runs += s.Runs
		node := fmt.Sprint(s.Node)
		if m, ok := marks[s.Node]; ok {
			node = m[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", node, s.Address, s.Pages, s.Runs)
	}
	fmt.Fprintf(tw, "all\t\t%d\t%d\n", o.Pages, runs)
	return tw.Flush()
}
