package report

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// Stats is the JSON object of `.stats`, which `dsmfs stats` reads. Traffic
// is counted in blocks, the unit that migrates (protocol pages).
type Stats struct {
	Node    int    `json:"node"`
	Address string `json:"address"`
	Pages   int    `json:"pages"`
	Block   int    `json:"block"`
	Version string `json:"version"`
	// UptimeSeconds is how long the daemon has run.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// PagesOwned are the kernel pages this node owns now.
	PagesOwned int `json:"pages_owned"`

	LocalAccesses     uint64  `json:"local_accesses"`
	RemoteFaults      uint64  `json:"remote_faults"`
	FaultErrors       uint64  `json:"fault_errors"`
	Interrupted       uint64  `json:"interrupted_faults"`
	ReadaheadDeclined uint64  `json:"readahead_declined"`
	FaultP50Micros    float64 `json:"fault_p50_us"`
	FaultP99Micros    float64 `json:"fault_p99_us"`
	// FaultStagesMicros are the medians of the recent remote faults'
	// stages, by owner.StageNames: send, away, install and wait as the
	// faulting node saw them, owner as the owner did.
	FaultStagesMicros map[string]float64 `json:"fault_stages_us"`

	PagesIn  uint64      `json:"pages_in"`
	PagesOut uint64      `json:"pages_out"`
	BytesIn  uint64      `json:"bytes_in"`
	BytesOut uint64      `json:"bytes_out"`
	Peers    []PeerStats `json:"peers"`

	RequestsForwarded uint64 `json:"requests_forwarded"`
	RequestsQueued    uint64 `json:"requests_queued"`
	HoldWaits         uint64 `json:"hold_waits"`
	Invalidations     uint64 `json:"invalidations"`
	Reinvalidations   uint64 `json:"reinvalidations"`
	ProtocolErrors    uint64 `json:"protocol_errors"`
	SendErrors        uint64 `json:"send_errors"`

	Syncs         uint64 `json:"syncs"`
	Recoveries    uint64 `json:"recoveries"`
	Promoted      uint64 `json:"pages_promoted"`
	StaleMessages uint64 `json:"stale_messages"`
	Strangers     uint64 `json:"stranger_messages"`
	Copies        int    `json:"copies_kept"`

	// Read copies, for segment.ro: held now, taken from owners, given to
	// readers, and taken back from them before a write or a hand-off.
	ReadCopies      int    `json:"read_copies"`
	ReadCopiesTaken uint64 `json:"read_copies_taken"`
	ReadCopiesSent  uint64 `json:"read_copies_sent"`
	ReadRevocations uint64 `json:"read_copies_revoked"`
}

// PeerStats is one peer as this node knows it: its state (up, leaving,
// left or dead) and the traffic with it, in blocks.
type PeerStats struct {
	Node     int    `json:"node"`
	Address  string `json:"address"`
	State    string `json:"state"`
	PagesIn  uint64 `json:"pages_in"`
	PagesOut uint64 `json:"pages_out"`
}

// Node is what a report says about the node itself.
type Node struct {
	Self    owner.NodeID
	Members []string // by NodeID
	Pages   int      // kernel pages
	Block   int
	Started time.Time // when the daemon started
}

// NewStats is the `.stats` of node n, which did st.
func NewStats(n Node, st owner.Stats) Stats {
	r := Stats{
		Node: int(n.Self), Address: n.Members[n.Self], Pages: n.Pages, Block: n.Block,
		Version: ReadBuild().Version, UptimeSeconds: time.Since(n.Started).Round(time.Millisecond).Seconds(), PagesOwned: st.Owned * n.Block,
		LocalAccesses: st.LocalAccesses, RemoteFaults: st.RemoteFaults, FaultErrors: st.FaultErrors, Interrupted: st.Interrupted,
		ReadaheadDeclined: st.ReadaheadDeclined,
		FaultP50Micros:    micros(st.FaultP50), FaultP99Micros: micros(st.FaultP99),
		BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		RequestsForwarded: st.Forwarded, RequestsQueued: st.Queued, HoldWaits: st.HoldWaits,
		Invalidations: st.Invalidations, Reinvalidations: st.Reinvalidations,
		ProtocolErrors: st.ProtocolErrors, SendErrors: st.SendErrors,
		Syncs: st.Syncs, Recoveries: st.Recoveries, Promoted: st.Promoted, StaleMessages: st.Stale, Strangers: st.Strangers, Copies: st.Copies,
		ReadCopies: st.ReadCopies, ReadCopiesTaken: st.CopiesTaken, ReadCopiesSent: st.CopiesSent, ReadRevocations: st.Revocations,
		Peers: []PeerStats{}, FaultStagesMicros: map[string]float64{},
	}
	for s, d := range st.Stages {
		r.FaultStagesMicros[owner.StageNames[s]] = micros(d)
	}
	for id := range st.PagesIn {
		if owner.NodeID(id) == n.Self {
			continue
		}
		r.PagesIn += st.PagesIn[id]
		r.PagesOut += st.PagesOut[id]
		state := owner.PeerUp
		if id < len(st.Peers) {
			state = st.Peers[id]
		}
		r.Peers = append(r.Peers, PeerStats{Node: id, Address: n.Members[id], State: state.String(), PagesIn: st.PagesIn[id], PagesOut: st.PagesOut[id]})
	}
	return r
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// Print writes r as the table `dsmfs stats` shows.
func (r Stats) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "node %d\t%s\tpages %d, block %d\towns %d pages\tup %v\tdsmfs %s\n", r.Node, r.Address, r.Pages, r.Block, r.PagesOwned,
		(time.Duration(r.UptimeSeconds) * time.Second).Round(time.Second), r.Version)
	fmt.Fprintf(tw, "accesses\tlocal %d\tremote %d\terrors %d\tinterrupted %d\treadahead declined %d\n",
		r.LocalAccesses, r.RemoteFaults, r.FaultErrors, r.Interrupted, r.ReadaheadDeclined)
	fmt.Fprintf(tw, "fault latency\tp50 %.0f µs\tp99 %.0f µs\n", r.FaultP50Micros, r.FaultP99Micros)
	fmt.Fprintf(tw, "blocks moved\tin %d\tout %d\tbytes in %d\tbytes out %d\n", r.PagesIn, r.PagesOut, r.BytesIn, r.BytesOut)
	for _, p := range r.Peers {
		fmt.Fprintf(tw, "  peer %d\t%s\t%s\tin %d\tout %d\n", p.Node, p.Address, p.State, p.PagesIn, p.PagesOut)
	}
	fmt.Fprintf(tw, "protocol\tforwarded %d\tqueued %d\thold waits %d\n", r.RequestsForwarded, r.RequestsQueued, r.HoldWaits)
	fmt.Fprintf(tw, "invalidations\t%d\trepeated %d\n", r.Invalidations, r.Reinvalidations)
	fmt.Fprintf(tw, "errors\tprotocol %d\tsend %d\tfaults %d\tfrom strangers %d\n", r.ProtocolErrors, r.SendErrors, r.FaultErrors, r.Strangers)
	fmt.Fprintf(tw, "replicas\tcopies kept %d\tsyncs %d\trecoveries %d\tpages promoted %d\tstale messages %d\n", r.Copies, r.Syncs, r.Recoveries, r.Promoted, r.StaleMessages)
	fmt.Fprintf(tw, "read copies\theld %d\ttaken %d\tgiven %d\ttaken back %d\n", r.ReadCopies, r.ReadCopiesTaken, r.ReadCopiesSent, r.ReadRevocations)
	return tw.Flush()
}
