package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dsmfs/dsmfs/fs/report"
)

// migrateStages splits the clean migration's p50 into stages, from the two
// daemons' own timings (.stats fault_stages_us, medians of their recent
// faults) and the program's: from the faulting node B the time to send the
// request, the time until the page arrived, and from its arrival to the
// handler waking; from the owner A the time from the request's arrival to
// the page's send. What the program waited beyond B's handler is the
// kernel's (the fault reaching the handler, the reply reaching the
// program); what B waited beyond A's work is the wire, both ways, with its
// wake-ups. The stages are medians of different samples, so their sum is
// only close to the p50: migrate_stages_sum_ratio says how close.
func migrateStages(cl *cluster, programP50 float64, r *Result) error {
	a, err := faultStages(cl.mounts[0])
	if err != nil {
		return err
	}
	b, err := faultStages(cl.mounts[1])
	if err != nil {
		return err
	}
	stages := map[string]float64{
		"kernel":  programP50 - b["wait"],
		"send":    b["send"],
		"wire":    b["away"] - a["owner"],
		"owner":   a["owner"],
		"install": b["install"],
	}
	sum := 0.0
	for name, v := range stages {
		r.set("migrate_stage_"+name+"_us", v)
		sum += v
	}
	r.set("migrate_stages_sum_ratio", sum/programP50)
	return nil
}

// faultStages reads the stage medians from the .stats of the mount.
func faultStages(mount string) (map[string]float64, error) {
	b, err := os.ReadFile(filepath.Join(mount, ".stats"))
	if err != nil {
		return nil, err
	}
	var st report.Stats
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s/.stats: %w", mount, err)
	}
	return st.FaultStagesMicros, nil
}
