package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/dsmfs/dsmfs/owner"
)

// Owners is the content of `.owners` (one node's view) or
// `.cluster-owners` (what every node says it owns, merged).
type Owners struct {
	Cluster  bool // .cluster-owners
	Pages    int  // kernel pages in the segment
	PageSize int
	Nodes    int
	Self     int // .owners: the node whose view it is
	Answered int // .cluster-owners: the nodes that answered
	// Silent are the nodes that did not answer, with why, in
	// .cluster-owners.
	Silent []Silent
	Runs   []Run
}

// Silent is a node that did not answer a cluster owners query.
type Silent struct {
	Node    int
	Address string
	Why     string
}

// Run is one line: kernel pages First..Last and who has them.
type Run struct {
	First, Last int
	// Node is the owner's number, or Lost, Unclaimed or Twice.
	Node    int
	Address string
	Dead    bool // .owners: the owner is a node this one lost
	// ReadCopy, in .owners: programs on this node may read the pages
	// through segment.ro, from read copies. Readers, in
	// .cluster-owners: the nodes whose programs may.
	ReadCopy bool
	Readers  []int
}

// The owners of a run that are not nodes.
const (
	Lost      = -1 // "-": died with its owner, no copy left
	Unclaimed = -2 // "?": no node claims it (moving, or its node is silent)
	Twice     = -3 // "!": several nodes claim it, which must never happen
)

// marks are how Lost, Unclaimed and Twice are written, with the word after.
var marks = map[int][2]string{Lost: {"-", "lost"}, Unclaimed: {"?", "unclaimed"}, Twice: {"!", "claimed-by-several-nodes"}}

// WriteTo writes o in the format of the special files: a header line, a
// comment line per silent node, and a line per run,
// FIRST-LAST NODE ADDRESS [dead] [copy] [readers=N,N...]: dead, the owner is
// a node this one lost; copy (.owners), this node holds read copies of the
// pages; readers (.cluster-owners), the nodes that do.
func (o Owners) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	if o.Cluster {
		fmt.Fprintf(&b, "# dsmfs cluster owners: pages=%d page_size=%d nodes=%d answered=%d\n", o.Pages, o.PageSize, o.Nodes, o.Answered)
	} else {
		fmt.Fprintf(&b, "# dsmfs owners: pages=%d page_size=%d nodes=%d self=%d\n", o.Pages, o.PageSize, o.Nodes, o.Self)
	}
	for _, s := range o.Silent {
		fmt.Fprintf(&b, "# node %d %s: %s\n", s.Node, s.Address, s.Why)
	}
	for _, r := range o.Runs {
		if m, ok := marks[r.Node]; ok {
			fmt.Fprintf(&b, "%d-%d %s %s\n", r.First, r.Last, m[0], m[1])
			continue
		}
		fmt.Fprintf(&b, "%d-%d %d %s%s\n", r.First, r.Last, r.Node, r.Address, r.marks())
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// ParseOwners reads what WriteTo wrote.
func ParseOwners(text string) (Owners, error) {
	var o Owners
	sc := bufio.NewScanner(strings.NewReader(text))
	if !sc.Scan() {
		return o, fmt.Errorf("no header line")
	}
	header := sc.Text()
	switch {
	case strings.HasPrefix(header, "# dsmfs cluster owners:"):
		o.Cluster = true
		if _, err := fmt.Sscanf(header, "# dsmfs cluster owners: pages=%d page_size=%d nodes=%d answered=%d", &o.Pages, &o.PageSize, &o.Nodes, &o.Answered); err != nil {
			return o, fmt.Errorf("header %q: %v", header, err)
		}
	default:
		if _, err := fmt.Sscanf(header, "# dsmfs owners: pages=%d page_size=%d nodes=%d self=%d", &o.Pages, &o.PageSize, &o.Nodes, &o.Self); err != nil {
			return o, fmt.Errorf("header %q: %v", header, err)
		}
	}
	for sc.Scan() {
		line := sc.Text()
		if after, ok := strings.CutPrefix(line, "# node "); ok {
			var s Silent
			head, why, _ := strings.Cut(after, ": ")
			if _, err := fmt.Sscanf(head, "%d %s", &s.Node, &s.Address); err != nil {
				return o, fmt.Errorf("line %q: %v", line, err)
			}
			s.Why = why
			o.Silent = append(o.Silent, s)
			continue
		}
		r, err := parseRun(line)
		if err != nil {
			return o, err
		}
		o.Runs = append(o.Runs, r)
	}
	return o, sc.Err()
}

// marks are the words after a run's address.
func (r Run) marks() string {
	var b strings.Builder
	if r.Dead {
		b.WriteString(" dead")
	}
	if r.ReadCopy {
		b.WriteString(" copy")
	}
	for i, n := range r.Readers {
		b.WriteString(map[bool]string{true: " readers=", false: ","}[i == 0])
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

func parseRun(line string) (Run, error) {
	var r Run
	f := strings.Fields(line)
	if len(f) < 3 || len(f) > 6 {
		return r, fmt.Errorf("line %q is not FIRST-LAST NODE ADDRESS", line)
	}
	if _, err := fmt.Sscanf(f[0], "%d-%d", &r.First, &r.Last); err != nil || r.Last < r.First {
		return r, fmt.Errorf("line %q: %q is not FIRST-LAST", line, f[0])
	}
	for node, m := range marks {
		if f[1] == m[0] {
			r.Node = node
			return r, nil
		}
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 {
		return r, fmt.Errorf("line %q: %q is not a node", line, f[1])
	}
	r.Node, r.Address = n, f[2]
	for _, m := range f[3:] {
		switch list, readers := strings.CutPrefix(m, "readers="); {
		case m == "dead":
			r.Dead = true
		case m == "copy":
			r.ReadCopy = true
		case readers:
			for _, id := range strings.Split(list, ",") {
				n, err := strconv.Atoi(id)
				if err != nil || n < 0 {
					return r, fmt.Errorf("line %q: %q is not a node", line, id)
				}
				r.Readers = append(r.Readers, n)
			}
		default:
			return r, fmt.Errorf("line %q: unknown mark %q", line, m)
		}
	}
	return r, nil
}

// KernelRuns turns runs of protocol pages (blocks of block kernel pages)
// into runs of kernel pages, naming each owner from members and marking
// the dead ones.
func KernelRuns(runs []owner.Run, block int, members []string, dead []bool) []Run {
	out := make([]Run, 0, len(runs))
	for _, r := range runs {
		k := Run{First: int(r.First) * block, Last: (int(r.Last)+1)*block - 1, Node: Lost, ReadCopy: r.ReadCopy}
		if r.Owner != owner.None {
			k.Node, k.Address, k.Dead = int(r.Owner), members[r.Owner], dead[r.Owner]
		}
		out = append(out, k)
	}
	return out
}

// Merge is `.cluster-owners`: the pages every node said it owns, merged
// into runs of kernel pages. Pages nobody claims are Unclaimed, pages
// claimed twice Twice; the nodes that did not answer are named.
func Merge(answers []owner.NodeOwners, pages, pageSize, block int, members []string) Owners {
	o := Owners{Cluster: true, Pages: pages, PageSize: pageSize, Nodes: len(members)}
	claim := make([]int, pages)
	for i := range claim {
		claim[i] = Unclaimed
	}
	readers := make([][]int, pages) // in NodeID order: answers are
	for _, a := range answers {
		if a.Err != nil {
			o.Silent = append(o.Silent, Silent{Node: int(a.Node), Address: members[a.Node], Why: a.Err.Error()})
			continue
		}
		o.Answered++
		for _, r := range KernelRuns(a.ReadCopies, block, members, make([]bool, len(members))) {
			for p := r.First; p <= r.Last; p++ {
				readers[p] = append(readers[p], r.Node)
			}
		}
		for _, r := range KernelRuns(a.Runs, block, members, make([]bool, len(members))) {
			for p := r.First; p <= r.Last; p++ {
				if claim[p] == Unclaimed {
					claim[p] = r.Node
				} else {
					claim[p] = Twice
				}
			}
		}
	}
	for p := 0; p < pages; {
		r := Run{First: p, Node: claim[p], Readers: readers[p]}
		for p < pages && claim[p] == r.Node && slices.Equal(readers[p], r.Readers) {
			p++
		}
		r.Last = p - 1
		if r.Node >= 0 {
			r.Address = members[r.Node]
		}
		o.Runs = append(o.Runs, r)
	}
	return o
}
