package owner

import (
	"errors"
	"fmt"
	"time"
)

// ReplicaTimeout checks replicas (--replicas) against a cluster of nodes
// and gives the fault timeout to use: with copies, a fault on a dead
// node's page waits for its recovery, which takes up to two peer
// timeouts, so a timeout left at its default (set false) grows to cover
// it, and one given too short is refused.
func ReplicaTimeout(replicas, nodes int, timeout, peerTimeout time.Duration, set bool) (time.Duration, error) {
	switch {
	case replicas == 0:
		return timeout, nil
	case replicas < 0 || replicas > nodes-1:
		return 0, fmt.Errorf("--replicas %d: want 0 to %d, the number of other nodes", replicas, nodes-1)
	case peerTimeout == 0:
		return 0, errors.New("--replicas needs --peer-timeout: without it a dead node is never noticed")
	}
	least := 2*peerTimeout + 5*time.Second
	if !set {
		return max(timeout, least), nil
	}
	if timeout < least {
		return 0, fmt.Errorf("--timeout %v is too short with --replicas: a fault on a dead node's page waits for recovery, up to 2 x --peer-timeout; use at least %v", timeout, least)
	}
	return timeout, nil
}
