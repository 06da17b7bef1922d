package report

import (
	"net/http"
	"sync/atomic"
)

// Health is what /healthz answers: 200 "ok" while the node serves its
// mount as a member of the cluster, 503 and the reason once it stops
// (leaving, fenced). A load balancer or a supervisor polls it.
type Health struct {
	down atomic.Pointer[string]
}

// Down says the node no longer serves, and why; the first reason stays.
func (h *Health) Down(reason string) { h.down.CompareAndSwap(nil, &reason) }

func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if why := h.down.Load(); why != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(*why + "\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
