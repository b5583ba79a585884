package bench

import (
	"fmt"
	"strings"
)

// ratios fills VsSPSC in every row: latency rows against shmring SPSC
// busy-spin's p50, throughput rows as SPSC busy-spin's rate over theirs at
// the same size.
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
		if s, ok := rateOf(r, nameSPSCSpin, t.Size); ok && t.Error == "" && t.MsgsPerSec > 0 {
			t.VsSPSC = s.MsgsPerSec / t.MsgsPerSec
		}
	}
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

// targets checks the project's performance targets against this run.
// Each compares two measurements of the same run; a target whose
// measurements were not made (--only, --sizes) is left out.
func targets(r *Report) []Target {
	var out []Target
	add := func(name, want string, measured, limit float64, atMost bool, note string) {
		met := measured <= limit
		if !atMost {
			met = measured >= limit
		}
		out = append(out, Target{Name: name, Want: want, Measured: measured, Met: met, Note: note})
	}
	if s, ok := latencyOf(r, nameSPSCSpin); ok && s.VsFloor > 0 {
		add("SPSC busy-spin RTT p50 vs floor", "<= 1.5x (aim 1.2x)", s.VsFloor, 1.5, true,
			fmt.Sprintf("%.0f ns vs %.0f ns measured just before", s.P50, s.FloorP50))
	}
	if m, ok := latencyOf(r, nameMPMCSpin); ok && m.VsFloor > 0 {
		add("MPMC busy-spin RTT p50 vs floor", "<= 2x", m.VsFloor, 2, true,
			fmt.Sprintf("%.0f ns vs %.0f ns measured just before", m.P50, m.FloorP50))
	}
	if s, ok := latencyOf(r, nameSPSCSpin); ok {
		if a, ok := latencyOf(r, nameSPSCAdaptive); ok && s.P50 > 0 {
			note := ""
			if a.IdleCPU >= 0 {
				note = fmt.Sprintf("idle waiting peer used %.2f ms of CPU per second", a.IdleCPU*1e3)
			}
			add("SPSC adaptive RTT p50 vs busy-spin", "<= 2x, idle peer ~0 CPU", a.P50/s.P50, 2, true, note)
		}
	}
	if b, ok := latencyOf(r, nameSPSCBlock); ok {
		if u, ok := latencyOf(r, nameUnix); ok && u.P50 > 0 {
			add("SPSC blocking (futex) RTT p50 vs unix-stream", "<= 0.8x", b.P50/u.P50, 0.8, true,
				fmt.Sprintf("%.1f µs vs %.1f µs", b.P50/1e3, u.P50/1e3))
		}
	}
	for _, c := range []struct {
		size       int
		limit, aim float64
	}{{64, 20, 50}, {65536, 1.5, 3}} {
		s, ok1 := rateOf(r, nameSPSCSpin, c.size)
		u, ok2 := rateOf(r, nameUnix, c.size)
		if ok1 && ok2 && u.MsgsPerSec > 0 {
			add(fmt.Sprintf("SPSC throughput vs unix-stream at %d B", c.size), fmt.Sprintf(">= %gx (aim %gx)", c.limit, c.aim),
				s.MsgsPerSec/u.MsgsPerSec, c.limit, false, fmt.Sprintf("%.0f vs %.0f MB/s", s.MBPerSec, u.MBPerSec))
		}
	}
	if s, ok := rateOf(r, nameSPSCSpin, 64); ok && s.MsgsPerSec > 0 {
		if m, ok := rateOf(r, nameMPMCSpin, 64); ok {
			add("MPMC (1 producer, 1 consumer) throughput vs SPSC at 64 B", ">= 0.5x", m.MsgsPerSec/s.MsgsPerSec, 0.5, false, "")
		}
	}
	if s, ok := latencyOf(r, nameSPSCSpin); ok && s.P50 > 0 {
		if b, ok := latencyOf(r, nameBcastSpin); ok {
			add("broadcast (1 subscriber) busy-spin RTT p50 vs SPSC busy-spin", "<= 1.2x", b.P50/s.P50, 1.2, true,
				fmt.Sprintf("%.0f ns vs %.0f ns", b.P50, s.P50))
		}
	}
	if one, ok := rateOf(r, nameBcastAdaptive, 64); ok && one.MsgsPerSec > 0 {
		if two, ok := rateOf(r, nameBcast2Adaptive, 64); ok {
			add("broadcast throughput, 2 subscriber processes vs 1, at 64 B", ">= 0.8x", two.MsgsPerSec/one.MsgsPerSec, 0.8, false,
				fmt.Sprintf("%s vs %s, adaptive subscribers", fmtRate(two.MsgsPerSec), fmtRate(one.MsgsPerSec)))
		}
	}
	return out
}

// Missed lists the names of the targets a report missed.
func (r *Report) Missed() []string {
	var out []string
	for _, t := range r.Targets {
		if !t.Met {
			out = append(out, t.Name)
		}
	}
	return out
}

// Summary is a one-line verdict.
func (r *Report) Summary() string {
	missed := r.Missed()
	if len(missed) == 0 {
		return fmt.Sprintf("all %d targets met", len(r.Targets))
	}
	return fmt.Sprintf("%d of %d targets met; missed: %s", len(r.Targets)-len(missed), len(r.Targets), strings.Join(missed, "; "))
}
