// Command plot draws the example applications' results (scripts/apps.sh) as a
// PNG: time and speedup against node count, one line per application.
//
//	plot -in results.tsv -out examples/apps.png
//
// The input has one line per run, "APP NODES SECONDS", whitespace separated;
// speedup is the app's 1-node time over its n-node time.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image/color"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	in := flag.String("in", "results.tsv", "results: APP NODES SECONDS per line")
	out := flag.String("out", "apps.png", "PNG to write")
	title := flag.String("title", "dsmfs example apps, one worker per node", "figure note")
	flag.Parse()
	runs, err := read(*in)
	if err != nil {
		log.Fatal(err)
	}
	if err := draw2(runs, *title, *out); err != nil {
		log.Fatal(err)
	}
}

// runs maps an app to its points, sorted by node count.
type runs map[string]plotter.XYs

func read(path string) (runs, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := runs{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		if len(fs) != 3 {
			return nil, fmt.Errorf("%s:%d: want APP NODES SECONDS", path, line)
		}
		n, err1 := strconv.ParseFloat(fs[1], 64)
		t, err2 := strconv.ParseFloat(fs[2], 64)
		if err1 != nil || err2 != nil || n < 1 || t <= 0 {
			return nil, fmt.Errorf("%s:%d: bad numbers %q %q", path, line, fs[1], fs[2])
		}
		r[fs[0]] = append(r[fs[0]], plotter.XY{X: n, Y: t})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(r) == 0 {
		return nil, fmt.Errorf("%s: no results", path)
	}
	for _, xys := range r {
		slices.SortFunc(xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
	}
	return r, nil
}

// draw2 puts the time panel and the speedup panel side by side.
func draw2(r runs, note, out string) error {
	tp, sp := plot.New(), plot.New()
	tp.Title.Text = "Time (" + note + ")"
	tp.Y.Label.Text = "seconds (lower is better)"
	sp.Title.Text = "Speedup over 1 node"
	sp.Y.Label.Text = "1-node time / n-node time"
	var maxN float64
	apps := make([]string, 0, len(r))
	for app := range r {
		apps = append(apps, app)
	}
	slices.Sort(apps) // stable colours and legend order
	for i, app := range apps {
		xys := r[app]
		speed := make(plotter.XYs, 0, len(xys))
		for _, p := range xys {
			maxN = max(maxN, p.X)
			if xys[0].X == 1 {
				speed = append(speed, plotter.XY{X: p.X, Y: xys[0].Y / p.Y})
			}
		}
		if err := addLine(tp, app, xys, i); err != nil {
			return err
		}
		if len(speed) > 0 {
			if err := addLine(sp, app, speed, i); err != nil {
				return err
			}
		}
	}
	// The ideal, for reference: n nodes n times faster.
	ideal, err := plotter.NewLine(plotter.XYs{{X: 1, Y: 1}, {X: maxN, Y: maxN}})
	if err != nil {
		return err
	}
	ideal.Color = color.Gray{Y: 150}
	ideal.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	sp.Add(ideal)
	sp.Legend.Add("ideal", ideal)
	for _, p := range []*plot.Plot{tp, sp} {
		// Add has stretched the axes to the data; leave headroom above it
		// for the legend, top left.
		p.Y.Max *= 1.3
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
		p.Title.TextStyle.Font.Size = vg.Points(13)
		p.X.Label.Text = "nodes (one worker each)"
		p.X.Min, p.Y.Min = 0.5, 0
		p.X.Max = maxN + 0.5
		p.X.Tick.Marker = intTicks{}
		p.Add(plotter.NewGrid())
	}

	img := vgimg.New(vg.Points(720), vg.Points(320))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(20),
		PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}
	plots := [][]*plot.Plot{{tp, sp}}
	canvases := plot.Align(plots, tiles, dc)
	tp.Draw(canvases[0][0])
	sp.Draw(canvases[0][1])

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, i int) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	c := palette[i%len(palette)]
	l.Color, s.Color = c, c
	l.Width = vg.Points(1.5)
	s.Shape = draw.CircleGlyph{}
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// intTicks labels whole node counts only.
type intTicks struct{}

func (intTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for n := 1; float64(n) <= max; n++ {
		if float64(n) >= min {
			ts = append(ts, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
		}
	}
	return ts
}
