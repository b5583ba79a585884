package bench

import (
	"fmt"
	"strings"
)

// pairFloor records on row the cache-line floor fl measured right before
// it: the floor's p50 and median batch mean, and row's ratios to them. A
// failed or empty floor leaves row alone; the batch-mean ratio needs both
// batch means.
func pairFloor(row *LatencyRow, fl LatencyRow) {
	if fl.Error != "" || fl.P50 <= 0 {
		return
	}
	row.FloorP50 = fl.P50
	if row.P50 > 0 {
		row.VsFloor = row.P50 / fl.P50
	}
	if fl.BatchMeanP50 > 0 {
		row.FloorBatchMean = fl.BatchMeanP50
		if row.BatchMeanP50 > 0 {
			row.VsFloorMean = row.BatchMeanP50 / fl.BatchMeanP50
		}
	}
}

// pairFutex records on a blocking row the futex floor row fu: its median
// batch mean and row's ratio to it.
func pairFutex(row *LatencyRow, fu LatencyRow) {
	if fu.Error != "" || fu.BatchMeanP50 <= 0 {
		return
	}
	row.FutexFloorBatchMean = fu.BatchMeanP50
	if row.Error == "" && row.BatchMeanP50 > 0 {
		row.VsFutexFloor = row.BatchMeanP50 / fu.BatchMeanP50
	}
}

// ratios fills VsSPSC in every row: latency rows against shmring SPSC
// busy-spin's p50, throughput rows as SPSC busy-spin's rate over theirs at
// the same size; and SPSC busy-spin's VsStreamFloor at every size.
func ratios(r *Report) {
	if s, ok := latencyOf(r, nameSPSCSpin); ok && s.P50 > 0 {
		for i := range r.Latency {
			if r.Latency[i].Error == "" && r.Latency[i].P50 > 0 {
				r.Latency[i].VsSPSC = r.Latency[i].P50 / s.P50
			}
		}
	}
	for i := range r.Throughput {
		t := &r.Throughput[i]
		if t.Error != "" || t.MsgsPerSec <= 0 {
			continue
		}
		if s, ok := rateOf(r, nameSPSCSpin, t.Size); ok {
			t.VsSPSC = s.MsgsPerSec / t.MsgsPerSec
		}
		if f, ok := rateOf(r, nameStreamFloor, t.Size); ok && t.Mechanism == nameSPSCSpin && f.MsgsPerSec > 0 {
			t.VsStreamFloor = t.MsgsPerSec / f.MsgsPerSec
		}
	}
	for i := range r.Frames {
		f := &r.Frames[i]
		s, ok := frameRateOf(r, nameSPSCFixed, f.Mix)
		if f.Error != "" || !ok {
			continue
		}
		if s.MBPerSec > 0 {
			f.VsSPSC = f.MBPerSec / s.MBPerSec
		}
		if s.RingBytes > 0 && f.RingBytes > 0 {
			f.VsSPSCMemory = float64(f.RingBytes) / float64(s.RingBytes)
		}
	}
	for i := range r.FrameLatency {
		l := &r.FrameLatency[i]
		if s, ok := frameLatencyOf(r, nameSPSCFixed, l.Size); ok && l.Error == "" && s.OneWayP50 > 0 {
			l.VsSPSC = l.OneWayP50 / s.OneWayP50
		}
	}
}

func frameRateOf(r *Report, name, mix string) (FrameRow, bool) {
	for _, f := range r.Frames {
		if f.Mechanism == name && f.Mix == mix && f.Error == "" {
			return f, true
		}
	}
	return FrameRow{}, false
}

func frameLatencyOf(r *Report, name string, size int) (FrameLatencyRow, bool) {
	for _, l := range r.FrameLatency {
		if l.Mechanism == name && l.Size == size && l.Error == "" {
			return l, true
		}
	}
	return FrameLatencyRow{}, false
}

func latencyOf(r *Report, name string) (LatencyRow, bool) {
	for _, l := range r.Latency {
		if l.Mechanism == name && l.Error == "" {
			return l, true
		}
	}
	return LatencyRow{}, false
}

func rateOf(r *Report, name string, size int) (ThroughputRow, bool) {
	for _, t := range r.Throughput {
		if t.Mechanism == name && t.Size == size && t.Error == "" {
			return t, true
		}
	}
	return ThroughputRow{}, false
}

// bound is a target's threshold: at most or at least limit.
type bound struct {
	limit  float64
	atMost bool
}

func (b bound) met(v float64) bool {
	if b.atMost {
		return v <= b.limit
	}
	return v >= b.limit
}

// targets checks issue 12's performance targets against this run, each a
// ratio of two measurements of the run, latency ratios on batch means
// beside a baseline measured right before; then reports, as figures that
// are not targets, the throughput ratios to a Unix socket and of two
// broadcast subscriber processes to one. A target whose measurements were
// not made (--only, --sizes) is left out.
func targets(r *Report) []Target {
	var out []Target
	add := func(name, want string, value, baseline float64, b *bound, note string) {
		t := Target{Name: name, Want: want, Measured: value / baseline, Value: value, Baseline: baseline, Note: note}
		if b == nil {
			t.Info = true
		} else {
			t.Met = b.met(t.Measured)
		}
		out = append(out, t)
	}
	// Busy-spin round trips over the cache-line floor measured just before.
	for _, c := range []struct {
		name, label, want string
		b                 bound
	}{
		{nameSPSCSpin, "SPSC busy-spin", "<= 1.3x (aim 1.1x)", bound{1.3, true}},
		{nameMPMCSpin, "MPMC busy-spin", "<= 1.6x (aim 1.3x)", bound{1.6, true}},
		{nameBcastSpin, "broadcast (1 subscriber) busy-spin", "<= 1.4x", bound{1.4, true}},
	} {
		if l, ok := latencyOf(r, c.name); ok && l.VsFloorMean > 0 {
			add(c.label+" RTT vs floor (batch means)", c.want, l.BatchMeanP50, l.FloorBatchMean, &c.b,
				fmt.Sprintf("%s vs %s floor measured just before", fmtNanos(l.BatchMeanP50), fmtNanos(l.FloorBatchMean)))
		}
	}
	// The blocking round trip over the bare futex ping-pong.
	if b, ok := latencyOf(r, nameSPSCBlock); ok && b.VsFutexFloor > 0 {
		note := fmt.Sprintf("%s vs %s futex ping-pong", fmtNanos(b.BatchMeanP50), fmtNanos(b.FutexFloorBatchMean))
		if b.IdleCPU >= 0 {
			note += fmt.Sprintf("; idle waiting peer used %.2f ms of CPU per second", b.IdleCPU*1e3)
		}
		add("SPSC blocking RTT vs futex floor (batch means)", "<= 1.1x", b.BatchMeanP50, b.FutexFloorBatchMean, &bound{1.1, true}, note)
	}
	// Streaming over the stream floor, the runs alternated.
	if s, ok := rateOf(r, nameSPSCSpin, 64); ok {
		if f, ok := rateOf(r, nameStreamFloor, 64); ok && f.MsgsPerSec > 0 {
			add("SPSC stream vs stream floor at 64 B", ">= 0.9x (aim > 1x)", s.MsgsPerSec, f.MsgsPerSec, &bound{0.9, false},
				fmt.Sprintf("%s vs %s, medians of %d alternated runs", fmtRate(s.MsgsPerSec), fmtRate(f.MsgsPerSec), max(s.Runs, 1)))
		}
	}
	// Reported beside it: the ratio to a Unix socket.
	for _, size := range []int{64, 65536} {
		s, ok1 := rateOf(r, nameSPSCSpin, size)
		u, ok2 := rateOf(r, nameUnix, size)
		if ok1 && ok2 && u.MsgsPerSec > 0 {
			add(fmt.Sprintf("SPSC throughput vs unix-stream at %s", fmtSize(size)), "", s.MsgsPerSec, u.MsgsPerSec, nil,
				fmt.Sprintf("%s vs %s MB/s", fmtMBps(s.MBPerSec), fmtMBps(u.MBPerSec)))
		}
	}
	// A spinning consumer never slower than a sleeping one: the worst size.
	worst, found := -1.0, false
	var ws, wb ThroughputRow
	for _, s := range r.Throughput {
		if s.Mechanism != nameSPSCSpin || s.Error != "" {
			continue
		}
		b, ok := rateOf(r, nameSPSCBlock, s.Size)
		if !ok || b.MsgsPerSec <= 0 {
			continue
		}
		if v := s.MsgsPerSec / b.MsgsPerSec; !found || v < worst {
			worst, found, ws, wb = v, true, s, b
		}
	}
	if found {
		add("SPSC stream, busy-spin vs blocking, slowest size", ">= 1x at every size", ws.MsgsPerSec, wb.MsgsPerSec, &bound{1, false},
			fmt.Sprintf("at %s: %s vs %s", fmtSize(ws.Size), fmtRate(ws.MsgsPerSec), fmtRate(wb.MsgsPerSec)))
	}
	// Reported: two broadcast subscriber processes against one.
	if one, ok := rateOf(r, nameBcastAdaptive, 64); ok && one.MsgsPerSec > 0 {
		if two, ok := rateOf(r, nameBcast2Adaptive, 64); ok {
			add("broadcast throughput, 2 subscriber processes vs 1, at 64 B", "", two.MsgsPerSec, one.MsgsPerSec, nil,
				fmt.Sprintf("%s vs %s, adaptive subscribers", fmtRate(two.MsgsPerSec), fmtRate(one.MsgsPerSec)))
		}
	}
	// Reported: the C peer against its Go twins (cpeer.go).
	if l, ok := latencyOf(r, nameCPingPong); ok && l.VsGo > 0 {
		add("C peer SPSC busy-spin RTT vs Go peer (batch means)", "", l.BatchMeanP50, l.GoBatchMean, nil,
			fmt.Sprintf("%s vs %s Go twin measured just before", fmtNanos(l.BatchMeanP50), fmtNanos(l.GoBatchMean)))
	}
	for _, c := range []struct{ name, label string }{
		{nameCSink, "Go producer to C consumer"},
		{nameCSource, "C producer to Go consumer"},
	} {
		if t, ok := rateOf(r, c.name, cStreamSize); ok && t.VsGo > 0 {
			add(fmt.Sprintf("%s vs Go to Go at %s", c.label, fmtSize(cStreamSize)), "", t.MsgsPerSec, t.GoMsgsPerSec, nil,
				fmt.Sprintf("%s vs %s, medians of %d alternated runs", fmtRate(t.MsgsPerSec), fmtRate(t.GoMsgsPerSec), max(t.Runs, 1)))
		}
	}
	return append(out, frameTargets(r)...)
}

// frameTargets checks issue 13's targets for the record ring against the
// fixed-slot SPSC ring on the 1-8 MiB frame mix (memory for the same
// frames in flight; throughput on the same frames), and reports beside
// them the half-capacity record ring, the small mix, the ratios to a Unix
// socket and the hand-off latencies.
func frameTargets(r *Report) []Target {
	var out []Target
	add := func(name, want string, value, baseline float64, b *bound, note string) {
		t := Target{Name: name, Want: want, Measured: value / baseline, Value: value, Baseline: baseline, Note: note}
		if b == nil {
			t.Info = true
		} else {
			t.Met = b.met(t.Measured)
		}
		out = append(out, t)
	}
	video := frameMixes[0]
	spsc, ok := frameRateOf(r, nameSPSCFixed, video.name)
	if rec, ok2 := frameRateOf(r, nameRecords, video.name); ok && ok2 && spsc.RingBytes > 0 && spsc.MBPerSec > 0 {
		need := video.inFlight * recordSpan((video.min+video.max)/2)
		add(fmt.Sprintf("record ring memory vs fixed-slot SPSC, %s frames, %d in flight", video.name, video.inFlight), "<= 0.6x",
			float64(rec.RingBytes), float64(spsc.RingBytes), &bound{0.6, true},
			fmt.Sprintf("%s vs %s regions; %d mean frames need %s (%.2fx), Capacity rounded up to 4096",
				fmtBytes(rec.RingBytes), fmtBytes(spsc.RingBytes), video.inFlight, fmtBytes(int64(need)), float64(need)/float64(spsc.RingBytes)))
		add(fmt.Sprintf("record ring throughput vs fixed-slot SPSC, %s frames", video.name), ">= 0.9x", rec.MBPerSec, spsc.MBPerSec, &bound{0.9, false},
			fmt.Sprintf("%s vs %s MB/s, the same frames, written and checksummed whole", fmtMBps(rec.MBPerSec), fmtMBps(spsc.MBPerSec)))
	}
	for _, mix := range frameMixes {
		s, ok := frameRateOf(r, nameSPSCFixed, mix.name)
		if h, ok2 := frameRateOf(r, nameRecordsHalf, mix.name); ok && ok2 && s.MBPerSec > 0 && s.RingBytes > 0 {
			add(fmt.Sprintf("half-capacity record ring throughput vs fixed-slot SPSC, %s", mix.name), "", h.MBPerSec, s.MBPerSec, nil,
				fmt.Sprintf("%s vs %s MB/s with %s vs %s (%.2fx memory)", fmtMBps(h.MBPerSec), fmtMBps(s.MBPerSec),
					fmtBytes(h.RingBytes), fmtBytes(s.RingBytes), float64(h.RingBytes)/float64(s.RingBytes)))
		}
		if mix != video {
			if rec, ok2 := frameRateOf(r, nameRecords, mix.name); ok && ok2 && s.MBPerSec > 0 && s.RingBytes > 0 {
				add(fmt.Sprintf("record ring throughput vs fixed-slot SPSC, %s", mix.name), "", rec.MBPerSec, s.MBPerSec, nil,
					fmt.Sprintf("%s vs %s MB/s with %s vs %s (%.2fx memory)", fmtMBps(rec.MBPerSec), fmtMBps(s.MBPerSec),
						fmtBytes(rec.RingBytes), fmtBytes(s.RingBytes), float64(rec.RingBytes)/float64(s.RingBytes)))
			}
		}
		rec, ok1 := frameRateOf(r, nameRecords, mix.name)
		if u, ok2 := frameRateOf(r, nameUnixFramed, mix.name); ok1 && ok2 && u.MBPerSec > 0 {
			add(fmt.Sprintf("record ring throughput vs unix-stream, %s", mix.name), "", rec.MBPerSec, u.MBPerSec, nil,
				fmt.Sprintf("%s vs %s MB/s", fmtMBps(rec.MBPerSec), fmtMBps(u.MBPerSec)))
		}
	}
	for _, size := range frameLatencySizes {
		rec, ok1 := frameLatencyOf(r, nameRecords, size)
		s, ok2 := frameLatencyOf(r, nameSPSCFixed, size)
		if ok1 && ok2 && s.OneWayP50 > 0 {
			add(fmt.Sprintf("record ring commit-to-peek p50 vs fixed-slot SPSC at %s", fmtSize(size)), "", rec.OneWayP50, s.OneWayP50, nil,
				fmt.Sprintf("%s vs %s; round trip p50 %s vs %s", fmtNanos(rec.OneWayP50), fmtNanos(s.OneWayP50), fmtNanos(rec.RTTP50), fmtNanos(s.RTTP50)))
		}
	}
	return out
}

// Missed lists the names of the targets a report missed (reported
// figures are never missed).
func (r *Report) Missed() []string {
	var out []string
	for _, t := range r.Targets {
		if !t.Info && !t.Met {
			out = append(out, t.Name)
		}
	}
	return out
}

// Summary is a one-line verdict over the targets (not the reported
// figures).
func (r *Report) Summary() string {
	n := 0
	for _, t := range r.Targets {
		if !t.Info {
			n++
		}
	}
	missed := r.Missed()
	if n == 0 {
		return "no target applies to the rows measured"
	}
	if len(missed) == 0 {
		return fmt.Sprintf("all %d targets met", n)
	}
	return fmt.Sprintf("%d of %d targets met; missed: %s", n-len(missed), n, strings.Join(missed, "; "))
}
