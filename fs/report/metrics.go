package report

import (
	stdnet "net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dsmfs/dsmfs/owner"
)

// Collector turns a node's Stats into Prometheus metrics at each scrape.
type Collector struct {
	node    Node
	stats   func() owner.Stats
	refused func() map[string]uint64 // nil: none counted
}

// NewCollector collects node n's metrics from stats.
func NewCollector(n Node, stats func() owner.Stats) *Collector {
	return &Collector{node: n, stats: stats}
}

// WithRefused has c also collect the peer connections the transport
// refused, counted by reason.
func (c *Collector) WithRefused(refused func() map[string]uint64) *Collector {
	c.refused = refused
	return c
}

// counterMetric is a counter of owner.Stats as Prometheus shows it: its
// help text is the one description of the counter for users.
type counterMetric struct {
	desc  *prometheus.Desc
	value func(owner.Stats) uint64
}

func counter(name, help string, value func(owner.Stats) uint64) counterMetric {
	return counterMetric{prometheus.NewDesc("dsmfs_"+name, help, nil, nil), value}
}

// counters are built once: their descriptions never change.
var counters = []counterMetric{
	counter("local_accesses_total", "Accesses served at once: the page was here.", func(s owner.Stats) uint64 { return s.LocalAccesses }),
	counter("remote_faults_total", "Accesses that waited for a page owned elsewhere.", func(s owner.Stats) uint64 { return s.RemoteFaults }),
	counter("fault_errors_total", "Accesses that failed: timeout, dead owner, shutdown.", func(s owner.Stats) uint64 { return s.FaultErrors }),
	counter("interrupted_faults_total", "Accesses a signal interrupted while they waited for a page; they waited on.", func(s owner.Stats) uint64 { return s.Interrupted }),
	counter("readahead_declined_total", "Reads over several pages declined because some were elsewhere.", func(s owner.Stats) uint64 { return s.ReadaheadDeclined }),
	counter("received_bytes_total", "Page bytes received.", func(s owner.Stats) uint64 { return s.BytesIn }),
	counter("sent_bytes_total", "Page bytes sent.", func(s owner.Stats) uint64 { return s.BytesOut }),
	counter("requests_forwarded_total", "Requests passed on towards the tail of a page's queue.", func(s owner.Stats) uint64 { return s.Forwarded }),
	counter("requests_queued_total", "Requests queued behind a page on its way or in its hold window.", func(s owner.Stats) uint64 { return s.Queued }),
	counter("hold_waits_total", "Requests that waited for a hold window.", func(s owner.Stats) uint64 { return s.HoldWaits }),
	counter("invalidations_total", "Times local programs were asked to give a page up.", func(s owner.Stats) uint64 { return s.Invalidations }),
	counter("reinvalidations_total", "Invalidations repeated because a local access came in during one.", func(s owner.Stats) uint64 { return s.Reinvalidations }),
	counter("protocol_errors_total", "Messages from peers that broke the protocol.", func(s owner.Stats) uint64 { return s.ProtocolErrors }),
	counter("send_errors_total", "Messages that could not be sent.", func(s owner.Stats) uint64 { return s.SendErrors }),
	counter("syncs_total", "fsync and msync calls that made copies of pages (--replicas).", func(s owner.Stats) uint64 { return s.Syncs }),
	counter("recoveries_total", "New owner maps installed after nodes were lost (--replicas).", func(s owner.Stats) uint64 { return s.Recoveries }),
	counter("promoted_blocks_total", "Blocks this node took over from a copy in a recovery.", func(s owner.Stats) uint64 { return s.Promoted }),
	counter("stale_messages_total", "Messages from an earlier epoch, dropped.", func(s owner.Stats) uint64 { return s.Stale }),
	counter("stranger_messages_total", "Messages from nodes that are not members of this node's epoch, dropped.", func(s owner.Stats) uint64 { return s.Strangers }),
	counter("read_copies_taken_total", "Read copies (segment.ro) this node got from owners.", func(s owner.Stats) uint64 { return s.CopiesTaken }),
	counter("read_copies_sent_total", "Read copies (segment.ro) this node gave readers.", func(s owner.Stats) uint64 { return s.CopiesSent }),
	counter("read_copies_revoked_total", "Read copies taken back before a page was written or handed on.", func(s owner.Stats) uint64 { return s.Revocations }),
}

var (
	receivedDesc   = prometheus.NewDesc("dsmfs_received_blocks_total", "Blocks received from a peer, with their ownership.", []string{"peer"}, nil)
	sentDesc       = prometheus.NewDesc("dsmfs_sent_blocks_total", "Blocks handed to a peer.", []string{"peer"}, nil)
	peerUpDesc     = prometheus.NewDesc("dsmfs_peer_up", "1 while this node counts the peer a live member, 0 once it left or was lost.", []string{"peer", "state"}, nil)
	ownedDesc      = prometheus.NewDesc("dsmfs_owned_pages", "Kernel pages of the segment this node owns.", nil, nil)
	copiesDesc     = prometheus.NewDesc("dsmfs_copies_kept_blocks", "Copies of other nodes' blocks kept here for their recovery (--replicas).", nil, nil)
	latencyDesc    = prometheus.NewDesc("dsmfs_fault_latency_seconds", "Time local accesses waited for a page owned elsewhere.", nil, nil)
	readCopiesDesc = prometheus.NewDesc("dsmfs_read_copy_pages", "Kernel pages local programs may read through segment.ro now.", nil, nil)
	buildDesc      = prometheus.NewDesc("dsmfs_build_info", "Always 1: the version of dsmfs running, the VCS revision it was built from, and the Go release that built it.", []string{"version", "revision", "goversion"}, nil)
	refusedDesc    = prometheus.NewDesc("dsmfs_refused_connections_total", refusedHelp, []string{"reason"}, nil)
)

const refusedHelp = "Peer connections refused before they were trusted, by reason: address (without a secret or TLS, not from the address of the member it says it is), auth (no proof of the secret, or no certificate of the CA), handshake (not a dsmfs handshake, another protocol version, too slow), busy (too many at once), unexpected (a trusted peer not waited for)."

func (c *Collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	b := ReadBuild()
	ch <- prometheus.MustNewConstMetric(buildDesc, prometheus.GaugeValue, 1, b.Version, b.Revision, b.GoVersion)
	for _, m := range counters {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.value(st)))
	}
	ch <- prometheus.MustNewConstMetric(ownedDesc, prometheus.GaugeValue, float64(st.Owned*c.node.Block))
	ch <- prometheus.MustNewConstMetric(copiesDesc, prometheus.GaugeValue, float64(st.Copies))
	ch <- prometheus.MustNewConstMetric(readCopiesDesc, prometheus.GaugeValue, float64(st.ReadCopies*c.node.Block))
	for id, addr := range c.node.Members {
		if owner.NodeID(id) == c.node.Self {
			continue
		}
		ch <- prometheus.MustNewConstMetric(receivedDesc, prometheus.CounterValue, float64(st.PagesIn[id]), addr)
		ch <- prometheus.MustNewConstMetric(sentDesc, prometheus.CounterValue, float64(st.PagesOut[id]), addr)
		state, up := owner.PeerUp, 0.0
		if id < len(st.Peers) {
			state = st.Peers[id]
		}
		if state == owner.PeerUp || state == owner.PeerLeaving {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(peerUpDesc, prometheus.GaugeValue, up, addr, state.String())
	}
	if c.refused != nil {
		for reason, n := range c.refused() {
			ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(n), reason)
		}
	}
	buckets := map[float64]uint64{}
	var cum uint64
	for i, le := range owner.LatencyBuckets {
		cum += st.FaultLatency[i]
		buckets[le.Seconds()] = cum
	}
	cum += st.FaultLatency[len(owner.LatencyBuckets)]
	ch <- prometheus.MustNewConstHistogram(latencyDesc, cum, st.FaultLatencySum.Seconds(), buckets)
}

// ServeMetrics serves c's metrics, with the Go runtime's and the
// process's, on l at /metrics, and health's answer at /healthz, until l
// closes.
func ServeMetrics(l stdnet.Listener, c *Collector, health *Health) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/healthz", health)
	go http.Serve(l, mux) // ends when l closes at shutdown
}
