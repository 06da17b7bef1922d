package report

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"reflect"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

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
		{Pages: 8, PageSize: 4096, Nodes: 3, Self: 1, Runs: KernelRuns([]owner.Run{run(0, 0, 0), {First: 1, Last: 1, Owner: 0, ReadCopy: true}}, 4, members, []bool{true, false, false})},
		Merge([]owner.NodeOwners{
			{Node: 0, Runs: []owner.Run{run(0, 3, 0)}, ReadCopies: []owner.Run{run(1, 1, 0)}},
			{Node: 1, ReadCopies: []owner.Run{run(1, 2, 1)}},
			{Node: 2, ReadCopies: []owner.Run{run(2, 2, 2)}},
		}, 4, 4096, 1, members),
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

// TestReadCopiesListed: .cluster-owners names the nodes holding read
// copies of each run, and the owner map draws how many do.
func TestReadCopiesListed(t *testing.T) {
	o := Merge([]owner.NodeOwners{
		{Node: 0, Runs: []owner.Run{run(0, 3, 0)}, ReadCopies: []owner.Run{run(1, 1, 0)}},
		{Node: 1, ReadCopies: []owner.Run{run(1, 2, 1)}},
		{Node: 2, ReadCopies: []owner.Run{run(2, 2, 2)}},
	}, 4, 4096, 1, members)
	var b strings.Builder
	o.WriteTo(&b)
	want := `# dsmfs cluster owners: pages=4 page_size=4096 nodes=3 answered=3
0-0 0 a:7070
1-1 0 a:7070 readers=0,1
2-2 0 a:7070 readers=1,2
3-3 0 a:7070
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := DrawMap(&b, o, false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "read copies (segment.ro), nodes holding one:\n.22.\n") {
		t.Fatalf("map:\n%s", b.String())
	}
}

func TestParseOwnersRefusesGarbage(t *testing.T) {
	for _, text := range []string{
		"",
		"hello\n",
		"# dsmfs owners: pages=4 page_size=4096 nodes=2 self=0\n0-x 0 a\n",
		"# dsmfs owners: pages=4 page_size=4096 nodes=2 self=0\n3-1 0 a\n",
		"# dsmfs owners: pages=4 page_size=4096 nodes=2 self=0\n0-3 zero a\n",
		"# dsmfs owners: pages=4 page_size=4096 nodes=2 self=0\n0-3 0 a sometimes\n",
		"# dsmfs owners: pages=4 page_size=4096 nodes=2 self=0\n0-3 0 a readers=x\n",
	} {
		if _, err := ParseOwners(text); err == nil {
			t.Errorf("parsed %q", text)
		}
	}
}

func TestDrawMap(t *testing.T) {
	o := Owners{Pages: 4, Runs: []Run{{First: 0, Last: 1, Node: 0, Address: "a:7070"}, {First: 2, Last: 2, Node: Unclaimed}, {First: 3, Last: 3, Node: 1, Address: "b:7070"}}}
	var b strings.Builder
	if err := DrawMap(&b, o, false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "4 pages, 1 per cell\nAA?B\nA = node 0 a:7070\nB = node 1 b:7070\n") {
		t.Fatalf("got\n%s", b.String())
	}
	// Many pages: one cell covers several, and mixed cells show "+".
	o = Owners{Pages: 4096, Runs: []Run{{First: 0, Last: 2, Node: 0, Address: "a"}, {First: 3, Last: 4095, Node: 1, Address: "b"}}}
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
		FaultLatency: make([]uint64, len(owner.LatencyBuckets)+1), ReadCopies: 3}
	c := NewCollector(Node{Self: 0, Members: members, Block: 4}, func() owner.Stats { return st })
	st.Owned, st.Copies, st.Peers = 3, 2, []owner.PeerState{owner.PeerUp, owner.PeerUp, owner.PeerDead}
	want := fmt.Sprintf("%d", len(counters)+2*3+5) // counters, three per peer, owned, copies, read copies, the histogram, build info
	if got := testutil.CollectAndCount(c); fmt.Sprint(got) != want {
		t.Fatalf("%d metrics, want %s", got, want)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`# HELP dsmfs_remote_faults_total Accesses that waited for a page owned elsewhere.
# TYPE dsmfs_remote_faults_total counter
dsmfs_remote_faults_total 7
# HELP dsmfs_owned_pages Kernel pages of the segment this node owns.
# TYPE dsmfs_owned_pages gauge
dsmfs_owned_pages 12
# HELP dsmfs_peer_up 1 while this node counts the peer a live member, 0 once it left or was lost.
# TYPE dsmfs_peer_up gauge
dsmfs_peer_up{peer="b:7070",state="up"} 1
dsmfs_peer_up{peer="c:7070",state="dead"} 0
# HELP dsmfs_read_copy_pages Kernel pages local programs may read through segment.ro now.
# TYPE dsmfs_read_copy_pages gauge
dsmfs_read_copy_pages 12
`), "dsmfs_remote_faults_total", "dsmfs_owned_pages", "dsmfs_peer_up", "dsmfs_read_copy_pages"); err != nil {
		t.Fatal(err)
	}
	// Every name ends in its unit, or _total for a count.
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestHealth(t *testing.T) {
	var h Health
	for _, tc := range []struct {
		down string
		code int
		body string
	}{{"", 200, "ok\n"}, {"leaving the cluster", 503, "leaving the cluster\n"}, {"fenced", 503, "leaving the cluster\n"}} {
		if tc.down != "" {
			h.Down(tc.down)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
		if w.Code != tc.code || w.Body.String() != tc.body {
			t.Errorf("after Down(%q): %d %q, want %d %q", tc.down, w.Code, w.Body.String(), tc.code, tc.body)
		}
	}
}

// TestPrintRates: the watch view shows totals, and rates per second once
// there is an earlier sample, for the node and for each peer.
func TestPrintRates(t *testing.T) {
	prev := Stats{Node: 0, Address: "a:7070", RemoteFaults: 10, PagesIn: 4, Peers: []PeerStats{{Node: 1, Address: "b:7070", State: "up", PagesIn: 4}}}
	cur := prev
	cur.RemoteFaults, cur.PagesIn, cur.Peers = 30, 8, []PeerStats{{Node: 1, Address: "b:7070", State: "up", PagesIn: 8}}
	var b strings.Builder
	if err := cur.PrintRates(&b, nil, 0); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^remote faults +30 +-$`).MatchString(b.String()) {
		t.Errorf("first sample, want a total and no rate:\n%s", b.String())
	}
	b.Reset()
	cur.PrintRates(&b, &prev, 2*time.Second)
	for _, want := range []string{`(?m)^remote faults +30 +10\.0$`, `(?m)^blocks in +8 +2\.0$`, `(?m)^peer 1 b:7070 \(up\) blocks in +8 +2\.0$`, `total +per second`} {
		if !regexp.MustCompile(want).MatchString(b.String()) {
			t.Errorf("the watch view lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("escape codes in the view:\n%q", b.String())
	}
}

func TestSummary(t *testing.T) {
	o := Owners{Pages: 10, Runs: []Run{{First: 0, Last: 1, Node: 0, Address: "a"}, {First: 2, Last: 2, Node: Unclaimed}, {First: 3, Last: 5, Node: 1, Address: "b"}, {First: 6, Last: 7, Node: 0, Address: "a"}, {First: 8, Last: 9, Node: 0, Address: "a", ReadCopy: true}}}
	want := []Share{{0, "a", 6, 2}, {1, "b", 3, 1}, {Unclaimed, "unclaimed", 1, 1}}
	if got := o.Summary(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	var b strings.Builder
	if err := WriteSummary(&b, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node  address    pages  runs\n", "0     a          6      2\n", "?     unclaimed  1      1\n", "all              10     4\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBuild(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/dsmfs/dsmfs", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-12-03T16:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	b := buildOf(info)
	if want := (Build{Version: "v1.2.3", Revision: "0123abc", Time: "2026-12-03T16:00:00Z", Modified: true, GoVersion: "go1.26.8"}); b != want {
		t.Fatalf("got %+v, want %+v", b, want)
	}
	if s := b.String(); !strings.HasPrefix(s, "dsmfs v1.2.3 (revision 0123abc, 2026-12-03T16:00:00Z, modified) go1.26.8 ") {
		t.Errorf("got %q", s)
	}
	if s := buildOf(&debug.BuildInfo{GoVersion: "go1.26.8"}).String(); !strings.HasPrefix(s, "dsmfs (devel) (revision unknown) go1.26.8") {
		t.Errorf("without VCS information: %q", s)
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
