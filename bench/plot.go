package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// ErrPlotExtension reports a plot path whose extension is neither .svg
// nor .png.
var ErrPlotExtension = errors.New("bench: plot: unsupported extension")

// Plot geometry: one 8 x 10 inch image, PNGs at 150 dots per inch.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 10 * vg.Inch
	plotDPI    = 150
)

// maxPercentile caps percentiles on the nines axis, where 100 would be at
// infinity.
const maxPercentile = 99.9999

// Plot draws r as one image of two charts stacked vertically — round-trip
// latency by percentile on top, one-way throughput by message size below —
// and writes it to path as SVG or PNG, chosen by the extension (.svg,
// .png; any other is ErrPlotExtension). Rows with an error or without
// plottable data are left out; a report with no data still gives an image
// with titled, empty axes.
func (r *Report) Plot(path string) error {
	var newCanvas func() (vg.CanvasWriterTo, draw.Canvas)
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		newCanvas = func() (vg.CanvasWriterTo, draw.Canvas) {
			c := vgsvg.New(plotWidth, plotHeight)
			return c, draw.New(c)
		}
	case ".png":
		newCanvas = func() (vg.CanvasWriterTo, draw.Canvas) {
			c := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI))
			return vgimg.PngCanvas{Canvas: c}, draw.New(c)
		}
	default:
		return fmt.Errorf("%w %q (want .svg or .png)", ErrPlotExtension, ext)
	}

	plots := [][]*plot.Plot{{r.latencyPlot()}, {r.throughputPlot()}}
	img, dc := newCanvas()
	tiles := draw.Tiles{
		Rows: 2, Cols: 1,
		PadY:   vg.Points(24),
		PadTop: vg.Points(8), PadBottom: vg.Points(8),
		PadLeft: vg.Points(8), PadRight: vg.Points(16),
	}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return writeFile(path, img)
}

// writeFile writes img to path and removes the file if that fails.
func writeFile(path string, img io.WriterTo) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("bench: plot: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := img.WriteTo(f); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}

// nines maps a percentile to the "number of nines" axis of HdrHistogram
// plots: 90% -> 1, 99% -> 2, 99.9% -> 3.
func nines(percentile float64) float64 {
	return -math.Log10(1 - min(percentile, maxPercentile)/100)
}

// plottable reports whether v can go on a log axis.
func plottable(v float64) bool {
	return v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v)
}

// latencyPlot is the top chart: one line per measured mechanism, RTT in
// ns (log) against the percentile (nines).
func (r *Report) latencyPlot() *plot.Plot {
	p := plot.New()
	p.Title.Text = "Round-trip latency by percentile"
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "RTT (ns)"
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	p.Add(plotter.NewGrid())

	var xs, ys span
	i := 0
	for _, l := range r.Latency {
		if l.Error != "" {
			continue
		}
		dist := slices.Clone(l.Distribution)
		slices.SortStableFunc(dist, func(a, b Point) int { return cmp.Compare(a.Percentile, b.Percentile) })
		var pts plotter.XYs
		for _, d := range dist {
			if d.Percentile < 0 || math.IsNaN(d.Percentile) || !plottable(d.Nanos) {
				continue
			}
			pt := plotter.XY{X: nines(d.Percentile), Y: d.Nanos}
			pts = append(pts, pt)
			xs.add(pt.X)
			ys.add(pt.Y)
		}
		if len(pts) == 0 {
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			continue // cannot happen: every point is finite
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(l.Mechanism, line)
		i++
	}

	p.X.Min, p.X.Max = xs.linear(0, nines(99.999))
	var ticks plot.ConstantTicks
	for _, pct := range []float64{50, 90, 99, 99.9, 99.99, 99.999} {
		if x := nines(pct); x >= p.X.Min && x <= p.X.Max {
			ticks = append(ticks, plot.Tick{Value: x, Label: fmt.Sprintf("%g%%", pct)})
		}
	}
	p.X.Tick.Marker = ticks

	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = decadeTicks{}
	p.Y.Min, p.Y.Max = ys.decades(10, 1e6)
	return p
}

// throughputPlot is the bottom chart: one line per measured mechanism,
// MB/s (log) against the message size (log).
func (r *Report) throughputPlot() *plot.Plot {
	p := plot.New()
	p.Title.Text = "One-way throughput by message size"
	p.X.Label.Text = "message size"
	p.Y.Label.Text = "MB/s"
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	p.Add(plotter.NewGrid())

	// One series per mechanism, in order of first appearance.
	var names []string
	series := map[string]plotter.XYs{}
	var xs, ys span
	for _, t := range r.Throughput {
		if t.Error != "" || t.Size <= 0 || !plottable(t.MBPerSec) {
			continue
		}
		if _, ok := series[t.Mechanism]; !ok {
			names = append(names, t.Mechanism)
		}
		series[t.Mechanism] = append(series[t.Mechanism], plotter.XY{X: float64(t.Size), Y: t.MBPerSec})
		xs.add(float64(t.Size))
		ys.add(t.MBPerSec)
	}
	for i, name := range names {
		pts := series[name]
		slices.SortStableFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue // cannot happen: every point is finite
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(name, line, points)
	}

	// Ticks at the measured sizes, or the configured ones if none was.
	var sizes []int
	for _, pts := range series {
		for _, pt := range pts {
			sizes = append(sizes, int(pt.X))
		}
	}
	if len(sizes) == 0 {
		for _, s := range r.Settings.Sizes {
			if s > 0 {
				sizes = append(sizes, s)
				xs.add(float64(s))
			}
		}
	}
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	var ticks plot.ConstantTicks
	for _, s := range sizes {
		ticks = append(ticks, plot.Tick{Value: float64(s), Label: fmtSize(s)})
	}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = ticks
	// A margin of a factor 1.5 keeps the end points off the axes.
	p.X.Min, p.X.Max = xs.log(8, 64<<10)
	p.X.Min, p.X.Max = p.X.Min/1.5, p.X.Max*1.5

	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = decadeTicks{}
	p.Y.Min, p.Y.Max = ys.decades(1, 1e4)
	return p
}

// span is the range of the values added to it.
type span struct {
	min, max float64
	n        int
}

func (s *span) add(v float64) {
	if s.n == 0 {
		s.min, s.max = v, v
	}
	s.min, s.max = min(s.min, v), max(s.max, v)
	s.n++
}

// linear returns the axis range for a linear axis: the span, or lo..hi
// when empty, widened when it is a single value.
func (s span) linear(lo, hi float64) (float64, float64) {
	switch {
	case s.n == 0:
		return lo, hi
	case s.min == s.max:
		return s.min - 0.5, s.max + 0.5
	}
	return s.min, s.max
}

// log returns the axis range for a log axis (all values > 0): the span,
// or lo..hi when empty, widened by 2x each way when it is a single value.
func (s span) log(lo, hi float64) (float64, float64) {
	switch {
	case s.n == 0:
		return lo, hi
	case s.min == s.max:
		return s.min / 2, s.max * 2
	}
	return s.min, s.max
}

// decades is log widened to whole powers of ten, so that both ends of
// the axis carry a labelled tick.
func (s span) decades(lo, hi float64) (float64, float64) {
	lo, hi = s.log(lo, hi)
	return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
}

// decadeTicks are plot.LogTicks labelled in plain digits ("1000000"
// rather than "1e+06"); values below 1 keep the short form.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.LogTicks{Prec: -1}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" && t.Value >= 1 {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', 0, 64)
		}
	}
	return ticks
}
