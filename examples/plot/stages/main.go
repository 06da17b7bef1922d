// Command stages draws where a clean migration's time goes, from
// `dsmfs bench --json`: the migration's p50 as a bar stacked from its five
// stages (migrate_stages_us), beside the composed floor (floor_relay_us)
// and the hot floors' sum, as a PNG.
//
//	dsmfs bench --json > bench.json
//	go run ./stages -in bench.json -out ../stages.png   (from examples/plot)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"log"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// bench is the part of the bench's JSON this draws.
type bench struct {
	Stages    map[string]float64 `json:"migrate_stages_us"`
	P50       float64            `json:"migrate_clean_p50_us"`
	Relay     float64            `json:"floor_relay_us"`
	Fault     float64            `json:"floor_fuse_fault_us"`
	RTT       float64            `json:"floor_rtt_4k_us"`
	InvalHot  float64            `json:"floor_inval_clean_us"`
	StagesSum float64            `json:"migrate_stages_sum_ratio"`
}

// order is the stages in the order a fault passes them.
var order = []string{"kernel", "send", "wire", "owner", "install"}

var colors = []color.Color{
	color.RGBA{0x4c, 0x72, 0xb0, 255}, color.RGBA{0xdd, 0x84, 0x52, 255}, color.RGBA{0x55, 0xa8, 0x68, 255},
	color.RGBA{0xc4, 0x4e, 0x52, 255}, color.RGBA{0x81, 0x72, 0xb3, 255}, color.RGBA{0x93, 0x78, 0x60, 255},
}

func main() {
	in := flag.String("in", "bench.json", "dsmfs bench --json output")
	out := flag.String("out", "stages.png", "PNG to write")
	flag.Parse()
	raw, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var b bench
	if err := json.Unmarshal(raw, &b); err != nil {
		log.Fatal(err)
	}
	if len(b.Stages) == 0 {
		log.Fatalf("%s has no migrate_stages_us", *in)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("clean migration p50 %.0f µs, by stage (sum %.2f of p50)", b.P50, b.StagesSum)
	p.X.Label.Text = "µs"
	p.NominalY("migration", "relay floor", "hot floors")
	// Bars stack left to right: the migration's stages on row 0, the
	// relay floor on row 1, the hot floors (fault, rtt, invalidation) on
	// row 2.
	var below *plotter.BarChart
	for i, name := range order {
		bar, err := plotter.NewBarChart(plotter.Values{b.Stages[name], 0, 0}, vg.Points(18))
		if err != nil {
			log.Fatal(err)
		}
		bar.Horizontal, bar.Color, bar.LineStyle.Width = true, colors[i], 0
		if below != nil {
			bar.StackOn(below)
		}
		p.Add(bar)
		p.Legend.Add(fmt.Sprintf("%s %.0f", name, b.Stages[name]), bar)
		below = bar
	}
	hot := []struct {
		name string
		v    float64
	}{{"fault", b.Fault}, {"rtt", b.RTT}, {"invalidation", b.InvalHot}}
	var hotBelow *plotter.BarChart
	for i, h := range hot {
		bar, err := plotter.NewBarChart(plotter.Values{0, 0, h.v}, vg.Points(18))
		if err != nil {
			log.Fatal(err)
		}
		bar.Horizontal, bar.LineStyle.Width = true, 0
		bar.Color = color.Gray{Y: uint8(90 + 50*i)}
		if hotBelow != nil {
			bar.StackOn(hotBelow)
		}
		p.Add(bar)
		p.Legend.Add(fmt.Sprintf("hot %s %.0f", h.name, h.v), bar)
		hotBelow = bar
	}
	relay, err := plotter.NewBarChart(plotter.Values{0, b.Relay, 0}, vg.Points(18))
	if err != nil {
		log.Fatal(err)
	}
	relay.Horizontal, relay.Color, relay.LineStyle.Width = true, colors[5], 0
	p.Add(relay)
	p.Legend.Add(fmt.Sprintf("relay floor %.0f", b.Relay), relay)
	sum := 0.0
	for _, name := range order {
		sum += b.Stages[name]
	}
	// Room on the right for the legend.
	p.X.Min, p.X.Max = 0, 1.6*max(sum, b.Relay, b.P50)
	p.Legend.Top = true
	p.Y.Padding = vg.Points(10)
	if err := p.Save(7*vg.Inch, 3.2*vg.Inch, *out); err != nil {
		log.Fatal(err)
	}
}
