package bench

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPairFloor(t *testing.T) {
	row := func() LatencyRow { return LatencyRow{Mechanism: "r", P50: 240, BatchMeanP50: 180} }
	for _, tc := range []struct {
		name  string
		row   LatencyRow
		floor LatencyRow
		want  LatencyRow
	}{
		{"both measured", row(), LatencyRow{P50: 160, BatchMeanP50: 120},
			LatencyRow{Mechanism: "r", P50: 240, BatchMeanP50: 180, FloorP50: 160, VsFloor: 1.5, FloorBatchMean: 120, VsFloorMean: 1.5}},
		{"floor failed", row(), LatencyRow{P50: 160, BatchMeanP50: 120, Error: "boom"}, row()},
		{"floor empty", row(), LatencyRow{}, row()},
		{"floor without batches", row(), LatencyRow{P50: 200},
			LatencyRow{Mechanism: "r", P50: 240, BatchMeanP50: 180, FloorP50: 200, VsFloor: 1.2}},
		{"row without batches", LatencyRow{Mechanism: "r", P50: 240}, LatencyRow{P50: 160, BatchMeanP50: 120},
			LatencyRow{Mechanism: "r", P50: 240, FloorP50: 160, VsFloor: 1.5, FloorBatchMean: 120}},
		{"row failed", LatencyRow{Mechanism: "r", Error: "x"}, LatencyRow{P50: 160, BatchMeanP50: 120},
			LatencyRow{Mechanism: "r", Error: "x", FloorP50: 160, FloorBatchMean: 120}},
	} {
		got := tc.row
		pairFloor(&got, tc.floor)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestPairFutex(t *testing.T) {
	for _, tc := range []struct {
		name      string
		row, fu   LatencyRow
		floor, vs float64
	}{
		{"both", LatencyRow{BatchMeanP50: 33_000}, LatencyRow{BatchMeanP50: 30_000}, 30_000, 1.1},
		{"futex failed", LatencyRow{BatchMeanP50: 33_000}, LatencyRow{BatchMeanP50: 30_000, Error: "x"}, 0, 0},
		{"futex without batches", LatencyRow{BatchMeanP50: 33_000}, LatencyRow{P50: 30_000}, 0, 0},
		{"row without batches", LatencyRow{P50: 33_000}, LatencyRow{BatchMeanP50: 30_000}, 30_000, 0},
		{"row failed", LatencyRow{Error: "x"}, LatencyRow{BatchMeanP50: 30_000}, 30_000, 0},
	} {
		got := tc.row
		pairFutex(&got, tc.fu)
		if got.FutexFloorBatchMean != tc.floor || got.VsFutexFloor != tc.vs {
			t.Errorf("%s: futex floor %v vs %v, want %v vs %v", tc.name, got.FutexFloorBatchMean, got.VsFutexFloor, tc.floor, tc.vs)
		}
	}
}

func TestCombineRuns(t *testing.T) {
	runs := []ThroughputRow{
		{Mechanism: "m", Size: 64, Messages: 2_300_000, Seconds: 0.125, MsgsPerSec: 23e6},
		{Mechanism: "m", Size: 64, Messages: 650_000, Seconds: 0.25, MsgsPerSec: 6.5e6}, // a vCPU placement flip
		{Mechanism: "m", Size: 64, Messages: 2_400_000, Seconds: 0.125, MsgsPerSec: 24e6},
	}
	got := combineRuns(runs)
	want := ThroughputRow{Mechanism: "m", Size: 64, Messages: 5_350_000, Seconds: 0.5, MsgsPerSec: 23e6,
		MBPerSec: 23e6 * 64 / 1e6, Runs: 3, RunMsgsPerSec: []float64{23e6, 6.5e6, 24e6}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("combineRuns:\n got %+v\nwant %+v", got, want)
	}
	if got := combineRuns(runs[:2]); got.MsgsPerSec != (23e6+6.5e6)/2 {
		t.Errorf("median of two = %v, want their mean", got.MsgsPerSec)
	}
	failed := slices.Clone(runs)
	failed[1] = ThroughputRow{Mechanism: "m", Size: 64, Error: "peer died"}
	if got := combineRuns(failed); got.Error != "peer died" || got.MsgsPerSec != 0 || got.Messages != 0 || got.Runs != 3 {
		t.Errorf("a failed run: %+v, want the row failed with its error", got)
	}
	if got := combineRuns(nil); !reflect.DeepEqual(got, ThroughputRow{}) {
		t.Errorf("no runs: %+v", got)
	}
}

// synthReport is a run of every row the targets read, its derived fields
// filled by the same functions Run uses (pairFloor, pairFutex, ratios).
// Its values put several targets exactly on their bounds.
func synthReport() *Report {
	floor := LatencyRow{Mechanism: nameFloor, P50: 130, BatchMeanP50: 100}
	futexRow := LatencyRow{Mechanism: nameFutex, P50: 31_000, BatchMeanP50: 30_000}
	lat := func(name string, p50, mean float64) LatencyRow {
		l := LatencyRow{Mechanism: name, P50: p50, BatchMeanP50: mean, IdleCPU: -1}
		pairFloor(&l, floor)
		return l
	}
	block := lat(nameSPSCBlock, 34_000, 33_000)
	block.IdleCPU = 0.0016
	pairFutex(&block, futexRow)
	r := &Report{
		Latency: []LatencyRow{
			floor,
			lat(nameSPSCSpin, 150, 121),  // 1.21x: met (<= 1.3)
			lat(nameMPMCSpin, 200, 170),  // 1.7x: missed (<= 1.6)
			lat(nameBcastSpin, 180, 140), // 1.4x: met on the bound (<= 1.4)
			futexRow,
			block, // 1.1x the futex floor: met on the bound
		},
		Throughput: []ThroughputRow{
			{Mechanism: nameStreamFloor, Size: 8, MsgsPerSec: 16e6, Runs: 3},
			{Mechanism: nameSPSCSpin, Size: 8, MsgsPerSec: 8e6, Runs: 3, MBPerSec: 64},
			{Mechanism: nameSPSCBlock, Size: 8, MsgsPerSec: 10e6}, // spin 0.8x block: the slowest size
			{Mechanism: nameStreamFloor, Size: 64, MsgsPerSec: 20e6, Runs: 3},
			{Mechanism: nameSPSCSpin, Size: 64, MsgsPerSec: 18e6, Runs: 3, MBPerSec: 1152}, // 0.9x the stream floor: on the bound
			{Mechanism: nameSPSCBlock, Size: 64, MsgsPerSec: 15e6},
			{Mechanism: nameUnix, Size: 64, MsgsPerSec: 0.5e6, MBPerSec: 32},
			{Mechanism: nameBcastAdaptive, Size: 64, MsgsPerSec: 10e6},
			{Mechanism: nameBcast2Adaptive, Size: 64, MsgsPerSec: 9e6},
		},
	}
	ratios(r)
	r.Targets = targets(r)
	return r
}

// TestTargets checks every target against the synthetic run: what it
// measured (value over baseline), whether it was met, and that each
// names both numbers.
func TestTargets(t *testing.T) {
	r := synthReport()
	want := []struct {
		name            string
		value, baseline float64
		met, info       bool
		note            []string
	}{
		{"SPSC busy-spin RTT vs floor (batch means)", 121, 100, true, false, []string{"121 ns vs 100 ns"}},
		{"MPMC busy-spin RTT vs floor (batch means)", 170, 100, false, false, []string{"170 ns vs 100 ns"}},
		{"broadcast (1 subscriber) busy-spin RTT vs floor (batch means)", 140, 100, true, false, []string{"140 ns vs 100 ns"}},
		{"SPSC blocking RTT vs futex floor (batch means)", 33_000, 30_000, true, false, []string{"33.0 µs vs 30.0 µs", "1.60 ms of CPU"}},
		{"SPSC stream vs stream floor at 64 B", 18e6, 20e6, true, false, []string{"18.0 M/s vs 20.0 M/s", "3 alternated runs"}},
		{"SPSC throughput vs unix-stream at 64 B", 18e6, 0.5e6, false, true, []string{"1152 vs 32.0 MB/s"}},
		{"SPSC stream, busy-spin vs blocking, slowest size", 8e6, 10e6, false, false, []string{"at 8 B", "8.00 M/s vs 10.0 M/s"}},
		{"broadcast throughput, 2 subscriber processes vs 1, at 64 B", 9e6, 10e6, false, true, []string{"9.00 M/s vs 10.0 M/s"}},
	}
	if len(r.Targets) != len(want) {
		var names []string
		for _, tg := range r.Targets {
			names = append(names, tg.Name)
		}
		t.Fatalf("%d targets, want %d: %q", len(r.Targets), len(want), names)
	}
	for i, w := range want {
		g := r.Targets[i]
		if g.Name != w.name {
			t.Errorf("target %d is %q, want %q", i, g.Name, w.name)
			continue
		}
		if g.Value != w.value || g.Baseline != w.baseline || math.Abs(g.Measured-w.value/w.baseline) > 1e-12 {
			t.Errorf("%s: measured %v = %v / %v, want %v / %v", g.Name, g.Measured, g.Value, g.Baseline, w.value, w.baseline)
		}
		if g.Met != w.met || g.Info != w.info {
			t.Errorf("%s: met %v info %v, want met %v info %v", g.Name, g.Met, g.Info, w.met, w.info)
		}
		if !w.info && g.Want == "" {
			t.Errorf("%s: no want", g.Name)
		}
		for _, n := range w.note {
			if !strings.Contains(g.Note, n) {
				t.Errorf("%s: note %q lacks %q", g.Name, g.Note, n)
			}
		}
	}
	missed := r.Missed()
	if want := []string{"MPMC busy-spin RTT vs floor (batch means)", "SPSC stream, busy-spin vs blocking, slowest size"}; !slices.Equal(missed, want) {
		t.Errorf("missed %q, want %q (reported figures are never missed)", missed, want)
	}
	if got, want := r.Summary(), "4 of 6 targets met; missed: "; !strings.HasPrefix(got, want) {
		t.Errorf("summary %q, want it to start %q", got, want)
	}
	if got, want := (&Report{}).Summary(), "no target applies to the rows measured"; got != want {
		t.Errorf("summary of a run without targets %q, want %q", got, want)
	}
}

// TestTargetsLeftOut removes or fails the measurements one target needs
// and checks that target alone is left out.
func TestTargetsLeftOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(r *Report)
		gone   string
	}{
		{"SPSC floor failed", func(r *Report) { setLatency(r, nameSPSCSpin, func(l *LatencyRow) { l.VsFloorMean = 0 }) },
			"SPSC busy-spin RTT vs floor"},
		{"MPMC not measured", func(r *Report) { dropLatency(r, nameMPMCSpin) }, "MPMC busy-spin RTT"},
		{"broadcast failed", func(r *Report) { setLatency(r, nameBcastSpin, func(l *LatencyRow) { l.Error = "x" }) },
			"broadcast (1 subscriber) busy-spin RTT"},
		{"no futex floor", func(r *Report) { setLatency(r, nameSPSCBlock, func(l *LatencyRow) { l.VsFutexFloor = 0 }) },
			"futex floor"},
		{"stream floor failed", func(r *Report) { setRate(r, nameStreamFloor, 64, func(t *ThroughputRow) { t.Error = "x" }) },
			"stream floor at 64 B"},
		{"no unix-stream", func(r *Report) { setRate(r, nameUnix, 64, func(t *ThroughputRow) { t.Mechanism = "x" }) },
			"vs unix-stream"},
		{"no blocking streams", func(r *Report) {
			setRate(r, nameSPSCBlock, 8, func(t *ThroughputRow) { t.Mechanism = "x" })
			setRate(r, nameSPSCBlock, 64, func(t *ThroughputRow) { t.Mechanism = "x" })
		}, "busy-spin vs blocking"},
		{"one broadcast subscriber only", func(r *Report) { setRate(r, nameBcast2Adaptive, 64, func(t *ThroughputRow) { t.Error = "x" }) },
			"2 subscriber processes"},
	} {
		r := synthReport()
		before := len(r.Targets)
		tc.mutate(r)
		r.Targets = targets(r)
		var left []string
		for _, tg := range r.Targets {
			if strings.Contains(tg.Name, tc.gone) {
				left = append(left, tg.Name)
			}
		}
		if len(left) != 0 || len(r.Targets) != before-1 {
			t.Errorf("%s: %d of %d targets left, still %q", tc.name, len(r.Targets), before, left)
		}
	}

	// The slowest size moves with the data: spin faster at 8 B leaves
	// 64 B (1.2x) as the slowest, now met.
	r := synthReport()
	setRate(r, nameSPSCSpin, 8, func(t *ThroughputRow) { t.MsgsPerSec = 30e6 })
	for _, tg := range targets(r) {
		if strings.Contains(tg.Name, "busy-spin vs blocking") && (!tg.Met || tg.Measured != 1.2 || !strings.Contains(tg.Note, "at 64 B")) {
			t.Errorf("slowest size: %+v, want met at 64 B with 1.2x", tg)
		}
	}
}

func setLatency(r *Report, name string, f func(*LatencyRow)) {
	for i := range r.Latency {
		if r.Latency[i].Mechanism == name {
			f(&r.Latency[i])
		}
	}
}

func dropLatency(r *Report, name string) {
	r.Latency = slices.DeleteFunc(r.Latency, func(l LatencyRow) bool { return l.Mechanism == name })
}

func setRate(r *Report, name string, size int, f func(*ThroughputRow)) {
	for i := range r.Throughput {
		if r.Throughput[i].Mechanism == name && r.Throughput[i].Size == size {
			f(&r.Throughput[i])
		}
	}
}

// TestRatios checks the derived columns: VsStreamFloor is set on SPSC
// busy-spin's rows alone, per size; VsSPSC on every row.
func TestRatios(t *testing.T) {
	r := synthReport()
	for _, tr := range r.Throughput {
		var want float64
		if tr.Mechanism == nameSPSCSpin {
			want = map[int]float64{8: 0.5, 64: 0.9}[tr.Size]
		}
		if math.Abs(tr.VsStreamFloor-want) > 1e-12 {
			t.Errorf("%s at %d: vs stream floor %v, want %v", tr.Mechanism, tr.Size, tr.VsStreamFloor, want)
		}
		if s, _ := rateOf(r, nameSPSCSpin, tr.Size); math.Abs(tr.VsSPSC-s.MsgsPerSec/tr.MsgsPerSec) > 1e-12 {
			t.Errorf("%s at %d: vs SPSC %v", tr.Mechanism, tr.Size, tr.VsSPSC)
		}
	}
	if l, _ := latencyOf(r, nameMPMCSpin); math.Abs(l.VsFloorMean-1.7) > 1e-12 || math.Abs(l.VsFloor-200.0/130) > 1e-12 {
		t.Errorf("MPMC vs floor: %v (batch means), %v (p50)", l.VsFloorMean, l.VsFloor)
	}
}

// TestSelection checks --only's matching on names and aliases, and how
// many steps the progress display is told of, with the stream floor
// alternated with SPSC busy-spin or alone.
func TestSelection(t *testing.T) {
	sizes := []int{64, 4096}
	for _, tc := range []struct {
		only        []string
		rows        []string // selected mechanisms
		alternating bool
		steps       int
	}{
		{[]string{"streamfloor"}, []string{nameStreamFloor}, false, 1 + 2},
		{[]string{"futex"}, []string{nameFutex}, false, 1 + 1},
		// SPSC spin: latency, its floor, and 3 runs of it and of the
		// stream floor at each size.
		{[]string{"spsc/spin"}, []string{nameSPSCSpin}, true, 1 + 2 + 2*altRuns*2},
		{[]string{"spsc/spin", "streamfloor"}, []string{nameStreamFloor, nameSPSCSpin}, true, 1 + 2 + 2*altRuns*2},
		{[]string{"unix-stream"}, []string{nameUnix}, false, 1 + 1 + 2},
		// The C peer's rows by their alias, and nothing else (most names
		// contain a "c"): the ping-pong and its Go twin, and 3 runs of
		// each stream and of its twin, at 64 B only.
		{[]string{"c"}, []string{nameCPingPong, nameCSink, nameCSource}, false, 1 + 2 + 2*(2*altRuns)},
		{[]string{"c-peer/spin c->go"}, []string{nameCSource}, false, 1 + 2*altRuns},
		{[]string{"spsc/"}, []string{nameSPSCSpin, nameSPSCAdaptive, nameSPSCBlock}, true, 1 + 2 + 2*altRuns*2 + (2 + 2) + (2 + 2)},
	} {
		cfg := Config{Only: tc.only, Sizes: sizes}
		var rows []string
		for _, m := range mechanisms() {
			if cfg.selected(m) {
				rows = append(rows, m.name)
			}
		}
		if !slices.Equal(rows, tc.rows) {
			t.Errorf("--only %v selects %q, want %q", tc.only, rows, tc.rows)
		}
		if got := cfg.alternating(); got != tc.alternating {
			t.Errorf("--only %v: alternating %v, want %v", tc.only, got, tc.alternating)
		}
		if got := Steps(cfg); got != tc.steps {
			t.Errorf("--only %v: %d steps, want %d", tc.only, got, tc.steps)
		}
	}
	if m := streamFloorMechanism(); m.name != nameStreamFloor || !m.stream || m.latency {
		t.Errorf("stream floor mechanism %+v", m)
	}
}
