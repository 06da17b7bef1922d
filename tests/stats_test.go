package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/fs/report"
)

func (c *cluster) stats(i int) report.Stats {
	c.t.Helper()
	text, err := readFile(filepath.Join(c.nodes[i].mnt, ".stats"), 5e9)
	if err != nil {
		c.t.Fatal(err)
	}
	var r report.Stats
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		c.t.Fatalf(".stats of node %d: %v\n%s", i, err, text)
	}
	return r
}

// TestOwnedPagesPreloaded: the pages a node owns are in its page cache from
// the start, so programs reading them never reach the daemon.
func TestOwnedPagesPreloaded(t *testing.T) {
	c := startCluster(t)
	for p := 0; p < c.pages/2; p += 7 {
		c.getLong(0, p*pageSize)
	}
	if r := c.stats(0); r.LocalAccesses != 0 || r.RemoteFaults != 0 {
		t.Fatalf("reading owned pages reached the daemon: %d local accesses, %d remote faults", r.LocalAccesses, r.RemoteFaults)
	}
	// A page of node 1's does reach it, and moves.
	c.getLong(0, (c.pages-1)*pageSize)
	if r := c.stats(0); r.RemoteFaults != 1 || r.PagesIn != 1 {
		t.Fatalf("after one remote page: %+v", r)
	}
}

// TestStatsAndMetrics: a migration shows on both sides in .stats, in
// `dsmfs stats` and in Prometheus metrics.
func TestStatsAndMetrics(t *testing.T) {
	var metricsAddrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		metricsAddrs = append(metricsAddrs, l.Addr().String())
		l.Close()
	}
	c := startClusterWith(t, clusterOpts{nodeFlags: func(i int) []string { return []string{"--metrics-addr", metricsAddrs[i]} }})
	const moved = 5
	mustRun(t, dsm("write", c.seg(0), 0, moved*pageSize, 2)...) // node 0's first pages: not zeros, which move as headers
	mustRun(t, dsm("write", c.seg(1), 0, moved*pageSize, 3)...)
	taker, giver := c.stats(1), c.stats(0)
	if taker.RemoteFaults != moved || taker.PagesIn != moved || taker.Peers[0].PagesIn != moved || taker.FaultP50Micros <= 0 {
		t.Errorf("taker's stats: %+v", taker)
	}
	if giver.PagesOut != moved || giver.Invalidations != moved {
		t.Errorf("giver's stats: %+v", giver)
	}

	table := mustRun(t, bin.dsmfs, "stats", c.nodes[1].mnt)
	for _, want := range []string{"remote 5", "in 5", "fault latency"} {
		if !strings.Contains(table, want) {
			t.Errorf("dsmfs stats lacks %q:\n%s", want, table)
		}
	}

	resp, err := http.Get("http://" + metricsAddrs[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"dsmfs_remote_faults_total 5", "dsmfs_fault_latency_seconds_count 5",
		`dsmfs_received_blocks_total{peer="` + c.nodes[0].name + `"} 5`, "dsmfs_received_bytes_total 20480",
		fmt.Sprintf("dsmfs_owned_pages %d", c.pages/2+moved), "dsmfs_copies_kept_blocks 0",
		`dsmfs_peer_up{peer="` + c.nodes[0].name + `",state="up"} 1`,
		`dsmfs_build_info{goversion="` + runtime.Version() + `"`,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	resp, err = http.Get("http://" + metricsAddrs[1] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(health) != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", resp.StatusCode, health)
	}

	// .stats says who the node is, what it owns and how its peer is.
	if taker.PagesOwned != c.pages/2+moved || taker.Version == "" || taker.UptimeSeconds <= 0 || taker.Peers[0].State != "up" {
		t.Errorf("taker's .stats: pages owned %d, version %q, uptime %v, peer %+v", taker.PagesOwned, taker.Version, taker.UptimeSeconds, taker.Peers[0])
	}
	c.nodes[0].stop(syscall.SIGTERM)
	if st := c.stats(1); st.Peers[0].State != "left" || st.PagesOwned != c.pages {
		t.Errorf("after node 0 left, node 1's .stats: pages owned %d, peer %+v", st.PagesOwned, st.Peers[0])
	}
}

// TestStatsWatch runs the help's own example, `dsmfs stats MNT --watch`,
// into a pipe: it samples every second, shows rates per second from the
// second sample on, writes no terminal escape codes, and ends cleanly on
// SIGINT.
func TestStatsWatch(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 1})
	cmd := exec.Command(bin.dsmfs, "stats", c.nodes[0].mnt, "--watch")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out strings.Builder
	samples, rated := 0, false
	for samples < 2 || !rated {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("dsmfs stats --watch ended: %v\n%s%s", cmd.Wait(), out.String(), stderr.String())
			}
			out.WriteString(line + "\n")
			if strings.HasPrefix(line, "--- ") {
				samples++
			}
			rated = rated || samples == 2 && regexp.MustCompile(`^local accesses +\d+ +\d+\.\d$`).MatchString(line)
		case <-time.After(20 * time.Second):
			t.Fatalf("no second sample with rates after 20s:\n%s%s", out.String(), stderr.String())
		}
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("escape codes written into a pipe:\n%q", out.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for range lines {
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Errorf("dsmfs stats --watch after SIGINT: %v\n%s", err, stderr.String())
	}
}
