package owner

import (
	"slices"
	"testing"
)

// TestPlan: live owners keep their pages, the newest copy is promoted, and
// pages with no copy are shared among the live nodes in contiguous runs.
func TestPlan(t *testing.T) {
	reports := map[NodeID][]Holding{
		0: {{Page: 0, Kind: HoldOwned, Version: 7}, {Page: 1, Kind: HoldCopy, Version: 2}},
		2: {{Page: 1, Kind: HoldCopy, Version: 3}, {Page: 0, Kind: HoldCopy, Version: 9}},
	}
	got := Plan(6, reports)
	want := []NodeID{0, 2, 0, 0, 2, 2}
	if !slices.Equal(got, want) {
		t.Fatalf("Plan = %v, want %v", got, want)
	}
}
