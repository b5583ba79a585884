package bench

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// This file turns a Report into text: an aligned table for people
// (WriteTable) and indented JSON for tools (WriteJSON). Neither measures
// anything or changes the Report.
//
// The tables are written through text/tabwriter, which aligns a column
// only over contiguous lines that all have that column. A row whose
// measurement failed has no numbers, so failed rows are written after the
// measured rows of their table: the error then sits in place of the
// numbers without splitting the columns above it.

// WriteTable writes r as a human-readable report: the machine, any
// warnings, the round-trip latency table, the one-way throughput table
// (grouped by message size), the targets and the elapsed time. Sections
// with no rows are left out.
func (r *Report) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, r.machineLine())
	for _, warn := range r.Warnings {
		fmt.Fprintf(bw, "warning: %s\n", warn)
	}
	if len(r.Latency) > 0 {
		fmt.Fprintf(bw, "\nRound-trip latency (%d-byte message each way)\n", r.Settings.LatencySize)
		if err := r.writeLatency(bw); err != nil {
			return err
		}
	}
	if len(r.Throughput) > 0 {
		fmt.Fprintf(bw, "\nOne-way throughput\n")
		if err := r.writeThroughput(bw); err != nil {
			return err
		}
	}
	if len(r.Frames) > 0 {
		fmt.Fprintf(bw, "\nFrames: one-way throughput (frames written and checksummed whole; zero-copy on the rings)\n")
		if err := r.writeFrames(bw); err != nil {
			return err
		}
	}
	if len(r.FrameLatency) > 0 {
		fmt.Fprintf(bw, "\nFrames: hand-off latency (Reserve/Commit to Peek; round trip to the consumer's acknowledgement)\n")
		if err := r.writeFrameLatency(bw); err != nil {
			return err
		}
	}
	if len(r.Targets) > 0 {
		fmt.Fprintf(bw, "\nTargets\n")
		if err := r.writeTargets(bw); err != nil {
			return err
		}
	}
	fmt.Fprintf(bw, "\nElapsed: %.1fs\n", r.Elapsed)
	return bw.Flush()
}

// WriteJSON writes r as JSON indented by two spaces, followed by a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// machineLine is the report's first line.
func (r *Report) machineLine() string {
	m := r.Machine
	cpu := cmp.Or(m.CPU, "unknown CPU")
	kernel := strings.TrimSpace(m.OS + " " + m.Kernel)
	pinned := "not pinned"
	if m.CPUs[0] >= 0 && m.CPUs[1] >= 0 {
		pinned = fmt.Sprintf("pinned CPUs %d,%d", m.CPUs[0], m.CPUs[1])
	}
	parts := []string{cpu, fmt.Sprintf("%d logical CPUs", m.LogicalCPU)}
	for _, s := range []string{m.GoVersion, kernel} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	parts = append(parts, pinned)
	return "machine: " + strings.Join(parts, ", ")
}

// newTable returns a tabwriter that right-aligns every column. The first
// column (the mechanism) is padded on the right by the caller with padName
// so that it reads left-aligned. Rows whose last cells are empty would
// end in padding; the lines go through a blankTrimmer.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(&blankTrimmer{w: w}, 0, 0, 2, ' ', tabwriter.AlignRight)
}

// blankTrimmer writes what it is given to w without the blanks that end
// a line: it holds back a run of blanks until it sees what follows, and
// drops the run at a newline.
type blankTrimmer struct {
	w      io.Writer
	blanks int // blanks held back
}

func (t *blankTrimmer) Write(p []byte) (int, error) {
	var out []byte
	for _, c := range p {
		switch c {
		case ' ':
			t.blanks++
			continue
		case '\n':
			t.blanks = 0
		}
		for ; t.blanks > 0; t.blanks-- {
			out = append(out, ' ')
		}
		out = append(out, c)
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// padName pads s on the right to width runes.
func padName(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// nameWidth is the width of the mechanism column: its header or the
// longest name in rows.
func nameWidth[T any](rows []T, name func(T) string) int {
	width := len("mechanism")
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(name(r)))
	}
	return width
}

// row writes cells as one tab-terminated table line.
func row(w io.Writer, cells ...string) {
	io.WriteString(w, strings.Join(cells, "\t")+"\t\n")
}

// writeLatency writes the latency table: the per-sample percentiles (a
// clock read per round trip, for the tails), the batch means (no clock
// read inside a batch, for ratios), then the ratios: "vs floor" on batch
// means and "vs floor p50" on per-sample p50s against the floor measured
// just before, "vs futex" on batch means against the futex floor, "vs
// SPSC spin" on p50s, and for a C peer row its Go twin's batch mean and
// "vs Go" on batch means.
func (r *Report) writeLatency(w io.Writer) error {
	width := nameWidth(r.Latency, func(l LatencyRow) string { return l.Mechanism })
	tw := newTable(w)
	row(tw, padName("mechanism", width), "samples", "p50", "p90", "p99", "p99.9", "p99.99", "max",
		"mean p10", "mean p50", "mean p90", "floor mean", "vs floor", "vs floor p50", "vs futex", "vs SPSC spin", "idle CPU", "Go mean", "vs Go")
	for _, l := range r.Latency {
		if l.Error != "" {
			continue
		}
		row(tw, padName(l.Mechanism, width), fmt.Sprint(l.Samples),
			fmtNanos(l.P50), fmtNanos(l.P90), fmtNanos(l.P99), fmtNanos(l.P999), fmtNanos(l.P9999), fmtNanos(l.Max),
			fmtMean(l.BatchMeanP10), fmtMean(l.BatchMeanP50), fmtMean(l.BatchMeanP90), fmtMean(l.FloorBatchMean),
			fmtRatio(l.VsFloorMean), fmtRatio(l.VsFloor), fmtRatio(l.VsFutexFloor), fmtRatio(l.VsSPSC), fmtIdleCPU(l.IdleCPU),
			fmtMean(l.GoBatchMean), fmtRatio(l.VsGo))
	}
	for _, l := range r.Latency {
		if l.Error != "" {
			// Only the name cell is tab-terminated: the error is not
			// part of any column and does not widen one.
			fmt.Fprintf(tw, "%s\t  error: %s\n", padName(l.Mechanism, width), l.Error)
		}
	}
	return tw.Flush()
}

func (r *Report) writeThroughput(w io.Writer) error {
	rows := slices.Clone(r.Throughput)
	slices.SortStableFunc(rows, func(a, b ThroughputRow) int { return cmp.Compare(a.Size, b.Size) })
	width := nameWidth(rows, func(t ThroughputRow) string { return t.Mechanism })
	tw := newTable(w)
	row(tw, padName("mechanism", width), "size", "msgs/s", "MB/s", "runs", "shmring SPSC speedup", "vs stream floor", "Go msgs/s", "vs Go")
	for _, t := range rows {
		if t.Error != "" {
			continue
		}
		speedup := ""
		if t.VsSPSC != 0 {
			speedup = sig3(t.VsSPSC) + "x"
		}
		runs := ""
		if t.Runs > 1 {
			runs = fmt.Sprint(t.Runs)
		}
		row(tw, padName(t.Mechanism, width), fmtSize(t.Size), fmtRate(t.MsgsPerSec), fmtMBps(t.MBPerSec), runs, speedup, fmtRatio(t.VsStreamFloor),
			fmtGoRate(t.GoMsgsPerSec), fmtRatio(t.VsGo))
	}
	for _, t := range rows {
		if t.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t  error: %s\n", padName(t.Mechanism, width), fmtSize(t.Size), t.Error)
		}
	}
	return tw.Flush()
}

// writeFrames writes the frame throughput table, grouped by mix.
func (r *Report) writeFrames(w io.Writer) error {
	width := nameWidth(r.Frames, func(f FrameRow) string { return f.Mechanism })
	tw := newTable(w)
	row(tw, padName("mechanism", width), "mix", "in flight", "ring memory", "vs SPSC memory", "frames/s", "MB/s", "mean frame", "vs SPSC")
	for _, f := range r.Frames {
		if f.Error != "" {
			continue
		}
		mem := "-"
		if f.RingBytes > 0 {
			mem = fmtBytes(f.RingBytes)
		}
		row(tw, padName(f.Mechanism, width), f.Mix, fmt.Sprint(f.InFlight), mem, fmtRatio(f.VsSPSCMemory),
			fmtRate(f.FramesPerSec), fmtMBps(f.MBPerSec), fmtBytes(int64(f.MeanFrame)), fmtRatio(f.VsSPSC))
	}
	for _, f := range r.Frames {
		if f.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t  error: %s\n", padName(f.Mechanism, width), f.Mix, f.Error)
		}
	}
	return tw.Flush()
}

// writeFrameLatency writes the frame hand-off latency table.
func (r *Report) writeFrameLatency(w io.Writer) error {
	width := nameWidth(r.FrameLatency, func(l FrameLatencyRow) string { return l.Mechanism })
	tw := newTable(w)
	row(tw, padName("mechanism", width), "frame", "ring memory", "samples", "commit-peek p50", "p90", "p99",
		"RTT p50", "RTT p90", "RTT p99", "RTT max", "vs SPSC")
	for _, l := range r.FrameLatency {
		if l.Error != "" {
			continue
		}
		row(tw, padName(l.Mechanism, width), fmtSize(l.Size), fmtBytes(l.RingBytes), fmt.Sprint(l.Samples),
			fmtNanos(l.OneWayP50), fmtNanos(l.OneWayP90), fmtNanos(l.OneWayP99),
			fmtNanos(l.RTTP50), fmtNanos(l.RTTP90), fmtNanos(l.RTTP99), fmtNanos(l.RTTMax), fmtRatio(l.VsSPSC))
	}
	for _, l := range r.FrameLatency {
		if l.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t  error: %s\n", padName(l.Mechanism, width), fmtSize(l.Size), l.Error)
		}
	}
	return tw.Flush()
}

func (r *Report) writeTargets(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		status, want := "[MISSED]", "want "+t.Want
		switch {
		case t.Info:
			status, want = "[info]", "reported"
		case t.Met:
			status = "[met]"
		}
		// The last cell is not tab-terminated, so it is not padded:
		// no trailing blanks.
		fmt.Fprintf(tw, "%s\t%s\t%s\tmeasured %.2fx", status, t.Name, want, t.Measured)
		if t.Note != "" {
			fmt.Fprintf(tw, "\t%s", t.Note)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// fmtNanos formats a duration given in nanoseconds with three significant
// digits and a unit fixed by its magnitude: "123 ns", "12.3 µs",
// "1.23 ms", "1.23 s".
func fmtNanos(ns float64) string {
	switch {
	case math.IsNaN(ns) || math.IsInf(ns, 0) || ns < 0:
		return "-"
	case ns < 999.5: // rounds to at most "999 ns"
		return fmt.Sprintf("%.0f ns", ns)
	}
	return scaled(ns, []unit{{1e3, " µs"}, {1e6, " ms"}, {1e9, " s"}})
}

// fmtRate formats messages per second: "750 k/s", "12.3 M/s".
func fmtRate(perSec float64) string {
	if math.IsNaN(perSec) || math.IsInf(perSec, 0) || perSec < 0 {
		return "-"
	}
	return scaled(perSec, []unit{{1, " /s"}, {1e3, " k/s"}, {1e6, " M/s"}, {1e9, " G/s"}})
}

// fmtMBps formats megabytes per second without a unit (the column says
// MB/s): three significant digits, whole numbers from 1000 up.
func fmtMBps(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return "-"
	}
	if v >= 999.5 {
		return fmt.Sprintf("%.0f", v)
	}
	return sig3(v)
}

// fmtSize formats a message size: "8 B", "512 B", "4 KiB", "64 KiB",
// "1 MiB"; sizes that are not whole KiB stay in bytes ("1500 B").
func fmtSize(n int) string {
	switch {
	case n > 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n > 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// fmtBytes formats a memory size in binary units with three significant
// digits: "512 B", "4.00 KiB", "64.0 MiB".
func fmtBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return scaled(float64(n), []unit{{1, " B"}, {1 << 10, " KiB"}, {1 << 20, " MiB"}, {1 << 30, " GiB"}})
}

// fmtMean formats a batch mean, which has a fraction of a nanosecond: as
// fmtNanos, or "" when it is 0 (not measured for this row).
func fmtMean(ns float64) string {
	if ns == 0 {
		return ""
	}
	return fmtNanos(ns)
}

// fmtGoRate formats a C row's Go twin's msgs/s, or "" when there is none.
func fmtGoRate(perSec float64) string {
	if perSec == 0 {
		return ""
	}
	return fmtRate(perSec)
}

// fmtRatio formats a latency ratio as "1.00x", or "" when it is 0 (not
// computed for this row).
func fmtRatio(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx", v)
}

// fmtIdleCPU formats the CPU seconds a waiting peer burned per idle second
// as milliseconds per second, or "-" when it was not measured (< 0).
func fmtIdleCPU(secPerSec float64) string {
	ms := secPerSec * 1e3
	switch {
	case math.IsNaN(ms) || secPerSec < 0:
		return "-"
	case ms > 0 && ms < 0.05:
		return "<0.1 ms/s"
	}
	return fmt.Sprintf("%.1f ms/s", ms)
}

// unit is a divisor and the suffix that goes with it.
type unit struct {
	div    float64
	suffix string
}

// scaled formats v in the largest unit of units (ascending) in which it
// does not round up to 1000 or more.
func scaled(v float64, units []unit) string {
	for i, u := range units {
		if x := v / u.div; x < 999.5 || i == len(units)-1 {
			return sig3(x) + u.suffix
		}
	}
	return "" // unreachable: the last unit always formats
}

// sig3 formats v >= 0 with three significant digits below 1000
// ("1.23", "12.3", "123") and as a whole number above.
func sig3(v float64) string {
	switch {
	case v < 9.995:
		return fmt.Sprintf("%.2f", v)
	case v < 99.95:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
