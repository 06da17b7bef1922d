package bench

import (
	"math"
	"slices"
	"time"
)

// Summary is what a worker reports about a set of timed accesses. Latencies
// are summarized in the worker so that only a few numbers cross the pipe.
type Summary struct {
	Count   int   `json:"count"`
	P50Ns   int64 `json:"p50_ns"`
	P99Ns   int64 `json:"p99_ns"`
	TotalNs int64 `json:"total_ns"` // wall time of the whole timed loop
}

// summarize sorts samples (in place) and summarizes them; total is the wall
// time of the loop that produced them.
func summarize(samples []time.Duration, total time.Duration) Summary {
	slices.Sort(samples)
	return Summary{
		Count:   len(samples),
		P50Ns:   int64(percentile(samples, 50)),
		P99Ns:   int64(percentile(samples, 99)),
		TotalNs: int64(total),
	}
}

// percentile is the nearest-rank q-th percentile of sorted samples: the
// smallest sample that at least q% of the samples do not exceed. Nearest rank
// returns a real sample, never an interpolation between two. Zero when empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// rounds collects one floor's p50 from each round. The floor is the minimum:
// noise on a shared machine only ever adds time, so the smallest p50 is the
// closest to the true cost and one noisy round cannot move a ratio.
type rounds []float64

func (r *rounds) add(v float64) { *r = append(*r, v) }

// floor is the minimum over the rounds; ok is false when there were none.
func (r rounds) floor() (v float64, ok bool) {
	if len(r) == 0 {
		return 0, false
	}
	return slices.Min(r), true
}
