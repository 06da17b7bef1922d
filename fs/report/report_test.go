package report

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dsmfs/dsmfs/owner"
)

var members = []string{"a:7070", "b:7070", "c:7070"}

func run(first, last owner.PageID, o owner.NodeID) owner.Run {
	return owner.Run{First: first, Last: last, Owner: o}
}

func TestKernelRuns(t *testing.T) {
	runs := []owner.Run{{First: 0, Last: 1, Owner: 0}, {First: 2, Last: 2, Owner: owner.None}, {First: 3, Last: 3, Owner: 2}}
	got := KernelRuns(runs, 4, members, []bool{false, false, true})
	want := []Run{
		{First: 0, Last: 7, Node: 0, Address: "a:7070"},
		{First: 8, Last: 11, Node: Lost},
		{First: 12, Last: 15, Node: 2, Address: "c:7070", Dead: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// TestOwnersRoundTrip: what WriteTo writes, ParseOwners reads back, for
// both special files and every kind of run.
func TestOwnersRoundTrip(t *testing.T) {
	for _, o := range []Owners{
		{Pages: 16, PageSize: 4096, Nodes: 3, Self: 1, Runs: KernelRuns([]owner.Run{run(0, 1, 0), run(2, 2, owner.None), run(3, 3, 2)}, 4, members, []bool{false, false, true})},
		Merge([]owner.NodeOwners{
			{Node: 0, Runs: []owner.Run{run(0, 1, 0), run(3, 3, 0)}},
			{Node: 1, Runs: []owner.Run{run(1, 1, 1)}},
			{Node: 2, Err: errors.New("did not answer")},
		}, 5, 4096, 1, members),
	} {
		var b strings.Builder
		o.WriteTo(&b)
		got, err := ParseOwners(b.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(got, o) {
			t.Fatalf("read back\n%+v\nwrote\n%+v\n%s", got, o, b.String())
		}
	}
}

// TestMerge: pages claimed by one node keep it, pages claimed by none are
// unclaimed, pages claimed twice are marked, silent nodes are named.
func TestMerge(t *testing.T) {
	o := Merge([]owner.NodeOwners{
		{Node: 0, Runs: []owner.Run{run(0, 1, 0), run(3, 3, 0)}},
		{Node: 1, Runs: []owner.Run{run(1, 1, 1)}},
		{Node: 2, Err: errors.New("did not answer")},
	}, 5, 4096, 1, members)
	var b strings.Builder
	o.WriteTo(&b)
	want := `# dsmfs cluster owners: pages=5 page_size=4096 nodes=3 answered=2
# node 2 c:7070: did not answer
0-0 0 a:7070
1-1 ! claimed-by-several-nodes
2-2 ? unclaimed
3-3 0 a:7070
4-4 ? unclaimed
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestParseOwnersRefusesGarbage(t *testing.T) {
	for _, text := range []string{
		"",
		"hello\n",
		"# dsmfs owners: pages=4 page_size=4096 nodes=2 self=0\n0-x 0 a\n",
		"# dsmfs owners: pages=4 page_size=4096 nodes=2 self=0\n3-1 0 a\n",
		"# dsmfs owners: pages=4 page_size=4096 nodes=2 self=0\n0-3 zero a\n",
	} {
		if _, err := ParseOwners(text); err == nil {
			t.Errorf("parsed %q", text)
		}
	}
}

func TestDrawMap(t *testing.T) {
	o := Owners{Pages: 4, Runs: []Run{{0, 1, 0, "a:7070", false}, {2, 2, Unclaimed, "", false}, {3, 3, 1, "b:7070", false}}}
	var b strings.Builder
	if err := DrawMap(&b, o, false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "4 pages, 1 per cell\nAA?B\nA = node 0 a:7070\nB = node 1 b:7070\n") {
		t.Fatalf("got\n%s", b.String())
	}
	// Many pages: one cell covers several, and mixed cells show "+".
	o = Owners{Pages: 4096, Runs: []Run{{0, 2, 0, "a", false}, {3, 4095, 1, "b", false}}}
	b.Reset()
	DrawMap(&b, o, false)
	if lines := strings.Split(b.String(), "\n"); lines[0] != "4096 pages, 4 per cell" || !strings.HasPrefix(lines[1], "+BBB") || len(lines[1]) != mapCols {
		t.Fatalf("got\n%s", b.String())
	}
}

func TestStatsTable(t *testing.T) {
	st := owner.Stats{RemoteFaults: 3, PagesIn: []uint64{0, 5, 1}, PagesOut: []uint64{0, 2, 0}, Counters: owner.Counters{Invalidations: 4}}
	r := NewStats(Node{Self: 0, Members: members, Pages: 16, Block: 1}, st)
	if r.PagesIn != 6 || r.PagesOut != 2 || len(r.Peers) != 2 || r.Peers[0].Address != "b:7070" {
		t.Fatalf("%+v", r)
	}
	var b strings.Builder
	if err := r.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node 0", "remote 3", "in 6", "peer 1", "invalidations  4"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestCollector(t *testing.T) {
	st := owner.Stats{RemoteFaults: 7, PagesIn: []uint64{0, 5, 1}, PagesOut: []uint64{0, 2, 0},
		FaultLatency: make([]uint64, len(owner.LatencyBuckets)+1)}
	c := NewCollector(Node{Self: 0, Members: members}, func() owner.Stats { return st })
	want := fmt.Sprintf("%d", len(counters)+2*2+1) // counters, two per peer, the histogram
	if got := testutil.CollectAndCount(c); fmt.Sprint(got) != want {
		t.Fatalf("%d metrics, want %s", got, want)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`# HELP dsmfs_remote_faults_total Accesses that waited for a page owned elsewhere.
# TYPE dsmfs_remote_faults_total counter
dsmfs_remote_faults_total 7
`), "dsmfs_remote_faults_total"); err != nil {
		t.Fatal(err)
	}
}

// TestCollectorRefused: the transport's refused connections show by
// reason.
func TestCollectorRefused(t *testing.T) {
	st := owner.Stats{PagesIn: []uint64{0, 0, 0}, PagesOut: []uint64{0, 0, 0}, FaultLatency: make([]uint64, len(owner.LatencyBuckets)+1)}
	c := NewCollector(Node{Self: 0, Members: members}, func() owner.Stats { return st }).
		WithRefused(func() map[string]uint64 { return map[string]uint64{"auth": 3, "busy": 0} })
	if err := testutil.CollectAndCompare(c, strings.NewReader(`# HELP dsmfs_refused_connections_total `+refusedHelp+`
# TYPE dsmfs_refused_connections_total counter
dsmfs_refused_connections_total{reason="auth"} 3
dsmfs_refused_connections_total{reason="busy"} 0
`), "dsmfs_refused_connections_total"); err != nil {
		t.Fatal(err)
	}
}
