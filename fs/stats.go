package fs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// StatsReport is the JSON object of `.stats`, which `dsmfs stats` reads.
type StatsReport struct {
	Node    int    `json:"node"`
	Address string `json:"address"`
	Pages   int    `json:"pages"`
	Block   int    `json:"block"`

	LocalAccesses     uint64  `json:"local_accesses"`
	RemoteFaults      uint64  `json:"remote_faults"`
	FaultErrors       uint64  `json:"fault_errors"`
	Interrupted       uint64  `json:"interrupted_faults"`
	ReadaheadDeclined uint64  `json:"readahead_declined"`
	FaultP50Micros    float64 `json:"fault_p50_us"`
	FaultP99Micros    float64 `json:"fault_p99_us"`

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
	Copies        int    `json:"copies_kept"`
}

// PeerStats is the traffic with one peer, in blocks (protocol pages).
type PeerStats struct {
	Node     int    `json:"node"`
	Address  string `json:"address"`
	PagesIn  uint64 `json:"pages_in"`
	PagesOut uint64 `json:"pages_out"`
}

func (f *FS) statsText(context.Context) []byte {
	st := f.node.Stats()
	r := StatsReport{
		Node: int(f.cfg.Self), Address: f.cfg.Members[f.cfg.Self], Pages: f.cfg.Pages, Block: f.cfg.Block,
		LocalAccesses: st.LocalAccesses, RemoteFaults: st.RemoteFaults, FaultErrors: st.FaultErrors, Interrupted: st.Interrupted,
		ReadaheadDeclined: st.ReadaheadDeclined,
		FaultP50Micros:    micros(st.FaultP50), FaultP99Micros: micros(st.FaultP99),
		BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		RequestsForwarded: st.Forwarded, RequestsQueued: st.Queued, HoldWaits: st.HoldWaits,
		Invalidations: st.Invalidations, Reinvalidations: st.Reinvalidations,
		ProtocolErrors: st.ProtocolErrors, SendErrors: st.SendErrors,
		Syncs: st.Syncs, Recoveries: st.Recoveries, Promoted: st.Promoted, StaleMessages: st.StaleMessages, Copies: st.Copies,
		Peers: []PeerStats{},
	}
	for id := range st.PagesIn {
		if owner.NodeID(id) == f.cfg.Self {
			continue
		}
		r.PagesIn += st.PagesIn[id]
		r.PagesOut += st.PagesOut[id]
		r.Peers = append(r.Peers, PeerStats{Node: id, Address: f.cfg.Members[id], PagesIn: st.PagesIn[id], PagesOut: st.PagesOut[id]})
	}
	out, _ := json.MarshalIndent(r, "", "  ") // a plain struct always marshals
	return append(out, '\n')
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
