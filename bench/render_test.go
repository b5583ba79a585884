package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleReport is a hand-made report with one of each kind of row: a
// plain latency row, a shmring row with its floor and batch means, a
// blocking row with its futex floor, a failed row, two sizes of two
// mechanisms (given out of size order) and, at one size, the stream floor
// and SPSC alternated, a met and a missed target, a reported figure and
// a warning.
func sampleReport() *Report {
	dist := func(scale float64) []Point {
		var pts []Point
		for i, p := range []float64{0, 50, 90, 99, 99.9, 99.99, 99.999, 100} {
			pts = append(pts, Point{Percentile: p, Nanos: scale * float64(100+i*i*50)})
		}
		return pts
	}
	return &Report{
		Machine: Machine{
			CPU: "AMD EPYC 9R14", LogicalCPU: 2, GoVersion: "go1.26.8",
			OS: "linux", Kernel: "6.18.0", CPUs: [2]int{0, 1},
		},
		Settings: Settings{
			LatencyDuration: 1, ThroughputDuration: 0.4, LatencySize: 64,
			Sizes: []int{64, 4096},
		},
		Latency: []LatencyRow{
			{
				Mechanism: "shmring SPSC spin", Samples: 1234567, Mean: 140,
				P50: 131, P90: 152, P99: 410, P999: 2500, P9999: 12345, Max: 1_234_567,
				Distribution: dist(1), FloorP50: 120, VsFloor: 1.0916, VsSPSC: 1, IdleCPU: -1,
				BatchSize: 1000, Batches: 812, BatchMeanMin: 101.2, BatchMeanP10: 104.5, BatchMeanP50: 108.25,
				BatchMeanP90: 117, BatchMeanMax: 350.5, FloorBatchMean: 98.4, VsFloorMean: 1.1001,
			},
			{
				Mechanism: "shmring SPSC block", Samples: 20001, Mean: 30500,
				P50: 29800, P90: 41000, P99: 90000, P999: 120000, P9999: 600000, Max: 1_600_000,
				Distribution: dist(200), VsSPSC: 227.5, IdleCPU: 0.0016,
				BatchSize: 34, Batches: 245, BatchMeanMin: 2100, BatchMeanP10: 21000, BatchMeanP50: 27400,
				BatchMeanP90: 33000, BatchMeanMax: 51000, FutexFloorBatchMean: 26100, VsFutexFloor: 1.0498,
			},
			{
				Mechanism: "pipe", Samples: 98765, Mean: 9000,
				P50: 8800, P90: 9100, P99: 15000, P999: 45000, P9999: 210000, Max: 3_500_000,
				Distribution: dist(60), VsSPSC: 67.18, IdleCPU: 0.0002,
			},
			{Mechanism: "futex pair", IdleCPU: -1, Error: "futex: operation not permitted"},
		},
		Throughput: []ThroughputRow{
			{Mechanism: "shmring SPSC spin", Size: 4096, Messages: 1_000_000, Seconds: 0.4, MsgsPerSec: 2_500_000, MBPerSec: 10240, VsSPSC: 1},
			{Mechanism: "pipe", Size: 4096, Messages: 120_000, Seconds: 0.4, MsgsPerSec: 300_000, MBPerSec: 1228.8, VsSPSC: 8.333},
			{Mechanism: "stream floor", Size: 64, Messages: 6_600_000, Seconds: 0.3, MsgsPerSec: 23_000_000, MBPerSec: 1472, VsSPSC: 0.6522,
				Runs: 3, RunMsgsPerSec: []float64{23_000_000, 6_500_000, 24_100_000}},
			{Mechanism: "shmring SPSC spin", Size: 64, Messages: 4_500_000, Seconds: 0.3, MsgsPerSec: 15_000_000, MBPerSec: 960, VsSPSC: 1,
				Runs: 3, RunMsgsPerSec: []float64{15_000_000, 4_100_000, 15_900_000}, VsStreamFloor: 0.6522},
			{Mechanism: "pipe", Size: 64, Messages: 260_000, Seconds: 0.4, MsgsPerSec: 650_000, MBPerSec: 41.6, VsSPSC: 23.08},
		},
		Targets: []Target{
			{Name: "SPSC p50 vs floor", Want: "<= 1.5x", Measured: 1.0916, Met: true},
			{Name: "pipe vs SPSC p50", Want: ">= 100x", Measured: 67.18, Met: false, Note: "pipes are fast on this VM"},
			{Name: "SPSC vs pipe at 64 B", Measured: 23.08, Info: true, Value: 15_000_000, Baseline: 650_000, Note: "960 vs 41.6 MB/s"},
		},
		Warnings: []string{"CPU frequency scaling is on"},
		Started:  time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Elapsed:  41.24,
	}
}

func renderTable(t *testing.T, r *Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatalf("WriteTable: %v", err)
	}
	return buf.String()
}

func TestRenderTable(t *testing.T) {
	out := renderTable(t, sampleReport())
	t.Logf("\n%s", out)
	for _, want := range []string{
		"machine: AMD EPYC 9R14, 2 logical CPUs, go1.26.8, linux 6.18.0, pinned CPUs 0,1\n",
		"\nwarning: CPU frequency scaling is on\n",
		"Round-trip latency (64-byte message each way)\n",
		"One-way throughput\n",
		"Targets\n",
		"Elapsed: 41.2s\n",
		// latency headers and values
		"vs SPSC spin", "floor mean", "vs floor", "vs floor p50", "vs futex", "idle CPU", "p99.99",
		"mean p10", "mean p50", "mean p90",
		"131 ns", "2.50 µs", "12.3 µs", "1.23 ms", "8.80 µs", "3.50 ms",
		"1.00x", "67.18x", "1.09x", "1.10x", "1.05x", "98 ns", "104 ns", "108 ns", "117 ns", "27.4 µs", "0.2 ms/s",
		"error: futex: operation not permitted",
		// throughput
		"shmring SPSC speedup", "vs stream floor", "runs", "64 B", "4 KiB", "15.0 M/s", "650 k/s", "2.50 M/s", "23.0 M/s",
		"10240", "41.6", "23.1x", "8.33x", "0.65x",
		// targets
		"[met]", "[MISSED]", "[info]", "want >= 100x", "measured 67.18x", "measured 1.09x", "pipes are fast on this VM",
		"reported", "measured 23.08x  960 vs 41.6 MB/s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(out, "\n\n\n") {
		t.Errorf("table has runs of blank lines")
	}
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimRight(line, " ") != line {
			t.Errorf("line %d has trailing blanks: %q", i+1, line)
		}
	}
}

// section returns the lines of out after the line starting with title, up
// to the next blank line.
func section(t *testing.T, out, title string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "\n"+title)
	if !ok {
		t.Fatalf("no section %q", title)
	}
	lines := strings.Split(rest, "\n")[1:]
	for i, l := range lines {
		if l == "" {
			return lines[:i]
		}
	}
	return lines
}

// checkAligned checks that the columns of a right-aligned table line up:
// in each row, every column of the header holds either nothing or a cell
// ending exactly where the header's cell ends. Positions are in runes
// ("µs" is one column wide).
func checkAligned(t *testing.T, name string, header string, rows []string) {
	t.Helper()
	spans := cellSpans(header)
	if len(spans) < 3 {
		t.Fatalf("%s: header %q has %d cells", name, header, len(spans))
	}
	width := len([]rune(header))
	for _, r := range rows {
		rr := []rune(r)
		if len(rr) > width {
			t.Errorf("%s: row %q is wider (%d) than the header (%d)", name, r, len(rr), width)
			continue
		}
		rr = append(rr, []rune(strings.Repeat(" ", width-len(rr)))...)
		for _, sp := range spans[1:] { // the mechanism column is left-aligned
			blank := strings.TrimSpace(string(rr[sp[0]:sp[1]])) == ""
			ends := rr[sp[1]-1] != ' ' && (sp[1] == width || rr[sp[1]] == ' ')
			if !blank && !ends {
				t.Errorf("%s: row %q: column %q does not end at %d", name, r, string([]rune(header)[sp[0]:sp[1]]), sp[1])
			}
		}
	}
}

// cellUnder returns the cell of line under header's cell named name
// (right-aligned: the cell ends where the header's does), trimmed; "" if
// the header has no such cell.
func cellUnder(header, line, name string) string {
	hr, lr := []rune(header), []rune(line)
	for _, sp := range cellSpans(header) {
		if string(hr[sp[0]:sp[1]]) != name {
			continue
		}
		if sp[1] > len(lr) {
			return ""
		}
		start := sp[1] - 1 // back to two blanks: a cell may hold one ("108 ns")
		for start > 1 && !(lr[start-1] == ' ' && lr[start-2] == ' ') {
			start--
		}
		return strings.TrimSpace(string(lr[start:sp[1]]))
	}
	return ""
}

// cellSpans returns the rune ranges [start, end) of the cells of a header
// line, whose cells are separated by two or more blanks.
func cellSpans(line string) [][2]int {
	rr := []rune(line)
	var spans [][2]int
	start := -1
	for i := range rr {
		if rr[i] != ' ' && start < 0 {
			start = i
		}
		if start >= 0 && rr[i] != ' ' && (i+1 == len(rr) || (rr[i+1] == ' ' && (i+2 == len(rr) || rr[i+2] == ' '))) {
			spans = append(spans, [2]int{start, i + 1})
			start = -1
		}
	}
	return spans
}

func TestRenderTableAligned(t *testing.T) {
	out := renderTable(t, sampleReport())

	lat := section(t, out, "Round-trip latency")
	if len(lat) != 5 {
		t.Fatalf("latency table has %d lines, want header + 4 rows:\n%s", len(lat), strings.Join(lat, "\n"))
	}
	if !strings.Contains(lat[0], "mechanism") || !strings.Contains(lat[0], "p99.9") {
		t.Fatalf("latency header = %q", lat[0])
	}
	if got := len(cellSpans(lat[0])); got != 19 {
		t.Errorf("latency header has %d cells, want 19: %q", got, lat[0])
	}
	checkAligned(t, "latency", lat[0], lat[1:4])
	// The batch-mean ratio is under "vs floor", the p50 one under "vs
	// floor p50", the futex one under "vs futex".
	for _, c := range []struct{ line, header, value string }{
		{lat[1], "vs floor", "1.10x"}, {lat[1], "vs floor p50", "1.09x"}, {lat[1], "mean p50", "108 ns"},
		{lat[1], "floor mean", "98 ns"}, {lat[2], "vs futex", "1.05x"}, {lat[2], "mean p10", "21.0 µs"},
	} {
		if got := cellUnder(lat[0], c.line, c.header); got != c.value {
			t.Errorf("under %q: %q, want %q (row %q)", c.header, got, c.value, c.line)
		}
	}
	// The failed row comes last, its error right after the name.
	if !strings.HasPrefix(strings.TrimSpace(lat[4]), "futex pair") || !strings.Contains(lat[4], "error: ") {
		t.Errorf("failed row = %q", lat[4])
	}
	nameEnd := strings.Index(lat[1], "shmring SPSC spin") + len("shmring SPSC spin")
	if i := strings.Index(lat[4], "error: "); i != nameEnd+3 {
		t.Errorf("error at column %d, want just after the name column (%d): %q", i, nameEnd, lat[4])
	}

	tp := section(t, out, "One-way throughput")
	if len(tp) != 6 {
		t.Fatalf("throughput table has %d lines, want 6:\n%s", len(tp), strings.Join(tp, "\n"))
	}
	checkAligned(t, "throughput", tp[0], tp[1:])
	if got := cellUnder(tp[0], tp[2], "vs stream floor"); got != "0.65x" {
		t.Errorf("SPSC vs stream floor = %q, want 0.65x (row %q)", got, tp[2])
	}
	if got := cellUnder(tp[0], tp[2], "runs"); got != "3" {
		t.Errorf("SPSC runs = %q, want 3 (row %q)", got, tp[2])
	}
	// Grouped by size, ascending, in the given order within a size.
	for i, want := range []struct{ mech, size string }{
		{"stream floor", " 64 B"}, {"shmring SPSC spin", " 64 B"}, {"pipe", " 64 B"}, {"shmring SPSC spin", "4 KiB"}, {"pipe", "4 KiB"},
	} {
		l := tp[i+1]
		if !strings.HasPrefix(strings.TrimSpace(l), want.mech) || !strings.Contains(l, want.size) {
			t.Errorf("throughput row %d = %q, want %s at %s", i, l, want.mech, want.size)
		}
	}

	tg := section(t, out, "Targets")
	if len(tg) != 3 || !strings.HasPrefix(tg[0], "[met]") || !strings.HasPrefix(tg[1], "[MISSED]") || !strings.HasPrefix(tg[2], "[info]") {
		t.Fatalf("targets = %q", tg)
	}
	if strings.Index(tg[0], "SPSC p50") != strings.Index(tg[1], "pipe vs") {
		t.Errorf("target names not aligned:\n%s\n%s", tg[0], tg[1])
	}
}

func TestRenderTableFailedThroughputAndEmpty(t *testing.T) {
	r := sampleReport()
	r.Throughput = append(r.Throughput, ThroughputRow{Mechanism: "unix socket", Size: 64, Error: "dial: refused"})
	r.Machine.CPUs = [2]int{-1, -1}
	out := renderTable(t, r)
	tp := section(t, out, "One-way throughput")
	checkAligned(t, "throughput", tp[0], tp[1:6])
	if last := tp[len(tp)-1]; !strings.Contains(last, "unix socket") || !strings.Contains(last, "64 B") ||
		!strings.Contains(last, "error: dial: refused") {
		t.Errorf("failed throughput row = %q", last)
	}
	if !strings.Contains(out, "not pinned") {
		t.Errorf("unpinned run not reported:\n%s", out)
	}

	empty := renderTable(t, &Report{})
	if want := "machine: unknown CPU, 0 logical CPUs, pinned CPUs 0,0\n\nElapsed: 0.0s\n"; empty != want {
		t.Errorf("empty report:\n%q\nwant\n%q", empty, want)
	}
}

func TestRenderJSONRoundTrip(t *testing.T) {
	in := sampleReport()
	var buf bytes.Buffer
	if err := in.WriteJSON(&buf); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	if !strings.HasPrefix(buf.String(), "{\n  \"machine\": {\n    \"cpu\"") {
		t.Errorf("not indented by two spaces:\n%.80s", buf.String())
	}
	var out Report
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Errorf("round trip differs:\n in: %+v\nout: %+v", in, &out)
	}
}

func TestFmtNanos(t *testing.T) {
	for _, tc := range []struct {
		ns   float64
		want string
	}{
		{0, "0 ns"},
		{1, "1 ns"},
		{123, "123 ns"},
		{123.4, "123 ns"},
		{999.4, "999 ns"},
		{999.6, "1.00 µs"},
		{1000, "1.00 µs"},
		{1234, "1.23 µs"},
		{12_345, "12.3 µs"},
		{123_456, "123 µs"},
		{999_499, "999 µs"},
		{999_600, "1.00 ms"},
		{1_234_567, "1.23 ms"},
		{12_345_678, "12.3 ms"},
		{123_456_789, "123 ms"},
		{1_500_000_000, "1.50 s"},
		{-1, "-"},
	} {
		if got := fmtNanos(tc.ns); got != tc.want {
			t.Errorf("fmtNanos(%v) = %q, want %q", tc.ns, got, tc.want)
		}
	}
}

func TestFmtSizeRate(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{8, "8 B"}, {64, "64 B"}, {512, "512 B"}, {1500, "1500 B"},
		{1024, "1 KiB"}, {4096, "4 KiB"}, {65536, "64 KiB"}, {1 << 20, "1 MiB"}, {4 << 20, "4 MiB"},
	} {
		if got := fmtSize(tc.n); got != tc.want {
			t.Errorf("fmtSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{512, "512 /s"}, {750_000, "750 k/s"}, {999_700, "1.00 M/s"}, {1_234_567, "1.23 M/s"},
		{12_345_678, "12.3 M/s"}, {2.5e9, "2.50 G/s"},
	} {
		if got := fmtRate(tc.v); got != tc.want {
			t.Errorf("fmtRate(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0.0612, "0.06"}, {41.6, "41.6"}, {960, "960"}, {10240.4, "10240"},
	} {
		if got := fmtMBps(tc.v); got != tc.want {
			t.Errorf("fmtMBps(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{-1, "-"}, {0, "0.0 ms/s"}, {0.00001, "<0.1 ms/s"}, {0.0002, "0.2 ms/s"}, {1, "1000.0 ms/s"},
	} {
		if got := fmtIdleCPU(tc.v); got != tc.want {
			t.Errorf("fmtIdleCPU(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := fmtRatio(0); got != "" {
		t.Errorf("fmtRatio(0) = %q, want empty", got)
	}
	if got := fmtRatio(1); got != "1.00x" {
		t.Errorf("fmtRatio(1) = %q, want 1.00x", got)
	}
}

func TestPlotSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.svg")
	if err := sampleReport().Plot(path); err != nil {
		t.Fatalf("Plot: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, "<?xml") && !strings.HasPrefix(s, "<svg") || !strings.Contains(s, "<svg") {
		t.Fatalf("not an SVG: %.100q", s)
	}
	// Both titles, the tick labels and the mechanisms that have data are
	// drawn; the failed one is not.
	for _, want := range []string{
		"Round-trip latency by percentile", "One-way throughput by message size",
		"RTT (ns)", "MB/s", "99.9%", "99.999%", "64 B", "4 KiB", "shmring SPSC spin", "pipe",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if strings.Contains(s, "futex pair") {
		t.Errorf("SVG plots the failed row")
	}
}

func TestPlotPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.PNG") // the extension is matched without case
	if err := sampleReport().Plot(path); err != nil {
		t.Fatalf("Plot: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= cfg.Width {
		t.Errorf("PNG is %dx%d, want a portrait image (8x10 in)", cfg.Width, cfg.Height)
	}
	if _, format, err := image.DecodeConfig(mustOpen(t, path)); err != nil || format != "png" {
		t.Errorf("image.DecodeConfig: format %q, %v", format, err)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestPlotUnsupportedExtension(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"x.gif", "x.pdf", "x"} {
		path := filepath.Join(dir, name)
		err := sampleReport().Plot(path)
		if !errors.Is(err, ErrPlotExtension) {
			t.Errorf("Plot(%s) = %v, want ErrPlotExtension", name, err)
		}
		if _, serr := os.Stat(path); !os.IsNotExist(serr) {
			t.Errorf("Plot(%s) left a file behind", name)
		}
	}
}

// TestPlotSparse covers reports a log axis cannot take as they are: no
// data at all, only failed rows, one point, and zero or negative values.
func TestPlotSparse(t *testing.T) {
	dir := t.TempDir()
	onePoint := &Report{
		Latency: []LatencyRow{{Mechanism: "a", Distribution: []Point{{Percentile: 50, Nanos: 100}}}},
		Throughput: []ThroughputRow{
			{Mechanism: "a", Size: 64, MBPerSec: 5},
			{Mechanism: "b", Size: 64, MBPerSec: 0},
		},
	}
	bad := &Report{
		Latency: []LatencyRow{{Mechanism: "z", Distribution: []Point{
			{Percentile: 0, Nanos: 0}, {Percentile: 100, Nanos: -1}, {Percentile: 50, Nanos: 200}, {Percentile: 99, Nanos: 900},
		}}},
		Throughput: []ThroughputRow{{Mechanism: "z", Size: 0, MBPerSec: 10}},
		Settings:   Settings{Sizes: []int{8, 64}},
	}
	failed := sampleReport()
	for i := range failed.Latency {
		failed.Latency[i].Error = "boom"
	}
	for i := range failed.Throughput {
		failed.Throughput[i].Error = "boom"
	}
	for name, r := range map[string]*Report{"empty": {}, "onepoint": onePoint, "bad": bad, "failed": failed} {
		for _, ext := range []string{".svg", ".png"} {
			path := filepath.Join(dir, name+ext)
			if err := r.Plot(path); err != nil {
				t.Errorf("%s%s: %v", name, ext, err)
				continue
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
				t.Errorf("%s%s: no image (%v)", name, ext, err)
			}
		}
	}
}

func TestPlotNines(t *testing.T) {
	for _, tc := range []struct{ p, want float64 }{
		{0, 0}, {90, 1}, {99, 2}, {99.9, 3}, {99.99, 4}, {100, 6}, {99.99999, 6},
	} {
		if got := nines(tc.p); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("nines(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestProgressNotTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := NewProgress(f, 3)
	for _, s := range []string{"latency", "throughput", "targets", "one more"} {
		p.Step(s)
	}
	p.Done()
	p.Done()
	if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
		t.Errorf("progress on a file wrote %d bytes (%v), want nothing", fi.Size(), err)
	}
	if NewProgress(nil, 3) == nil {
		t.Errorf("NewProgress(nil) = nil")
	}
	NopProgress().Step("x")
	NopProgress().Done()
}

// TestProgressBar drives the terminal implementation over a buffer: it
// shows each step's description, survives more steps than announced, and
// erases itself on Done.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := newBarProgress(&buf, 2)
	for _, s := range []string{"step one", "step two", "step three"} {
		p.Step(s)
	}
	out := buf.String()
	for _, s := range []string{"step one", "step two", "step three", "(2/3"} {
		if !strings.Contains(out, s) {
			t.Errorf("bar output lacks %q: %q", s, out)
		}
	}
	buf.Reset()
	p.Done()
	p.Done()
	p.Step("after done")
	if out := buf.String(); strings.TrimSpace(out) != "" || !strings.HasSuffix(out, "\r") {
		t.Errorf("Done did not just clear the bar: %q", out)
	}
}
