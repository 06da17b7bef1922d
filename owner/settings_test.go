package owner

import (
	"strings"
	"testing"
	"time"
)

func TestReplicaTimeout(t *testing.T) {
	for _, tc := range []struct {
		replicas, nodes int
		timeout, peer   time.Duration
		set             bool
		want            time.Duration
		err             string
	}{
		{0, 2, 10 * time.Second, 5 * time.Second, false, 10 * time.Second, ""},
		{1, 3, 10 * time.Second, 5 * time.Second, false, 15 * time.Second, ""},
		{1, 3, 30 * time.Second, 5 * time.Second, true, 30 * time.Second, ""},
		{1, 3, 10 * time.Second, 5 * time.Second, true, 0, "--timeout 10s is too short"},
		{3, 3, 10 * time.Second, 5 * time.Second, false, 0, "want 0 to 2"},
		{1, 3, 10 * time.Second, 0, false, 0, "needs --peer-timeout"},
	} {
		got, err := ReplicaTimeout(tc.replicas, tc.nodes, tc.timeout, tc.peer, tc.set)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: got %v, %v", tc, got, err)
		}
	}
}
