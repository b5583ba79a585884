package bench

import (
	"context"
	"time"
)

// Alternated streams: the stream floor and SPSC busy-spin measured in turn.
//
// This VM's speed flips with where the host places the two vCPUs (the
// stream floor runs at ~26-29 M msg/s or ~6.5 M msg/s at 64 B), and a flip
// can come between any two measurements. A ratio of two rows measured
// seconds apart can therefore be off by 4x; so at each size the two are
// streamed in turn, floor, SPSC, floor, SPSC, ..., altRuns runs each, and
// each row reports the median of its runs: a flip during one run moves
// one run of each, not the ratio of the medians.

const (
	// altRuns is how many runs each of the two alternated rows makes per
	// size: an odd count, so the median is a run.
	altRuns = 3
	// altShare divides the throughput duration into one run's: 3 runs of
	// a quarter each give SPSC three quarters of a row's time and the pair
	// 1.5 times a row's, instead of 2 (the default run stays ~45 s).
	altShare = 4
)

// streamFloorMechanism is the stream floor's row in the mechanisms table.
func streamFloorMechanism() mechanism {
	for _, m := range mechanisms() {
		if m.name == nameStreamFloor {
			return m
		}
	}
	panic("bench: no stream floor in the mechanisms table") // a broken table, caught by every test
}

// alternating reports whether a selected row streams in turn with the
// stream floor; the floor is then not measured on its own.
func (c *Config) alternating() bool {
	for _, m := range mechanisms() {
		if m.alternate && m.stream && c.selected(m) {
			return true
		}
	}
	return false
}

// alternated streams floor and m in turn at size, altRuns runs each, and
// returns the two combined rows. floor is the row m is compared with: the
// stream floor, or a C row's Go twin (cpeer.go).
func (e *engine) alternated(ctx context.Context, floor, m mechanism, size int) (ThroughputRow, ThroughputRow) {
	dur := max(e.cfg.ThroughputDuration/altShare, time.Millisecond)
	var fl, rows []ThroughputRow
	for i := 0; i < altRuns; i++ {
		fl = append(fl, e.throughput(ctx, floor, size, dur))
		rows = append(rows, e.throughput(ctx, m, size, dur))
	}
	return combineRuns(fl), combineRuns(rows)
}

// combineRuns makes one row of runs of one mechanism at one size: the
// median run's rate, the total messages and seconds, and every run's rate.
// A failed run fails the row with its error.
func combineRuns(runs []ThroughputRow) ThroughputRow {
	if len(runs) == 0 {
		return ThroughputRow{}
	}
	row := ThroughputRow{Mechanism: runs[0].Mechanism, Size: runs[0].Size, Runs: len(runs)}
	for _, r := range runs {
		if r.Error != "" {
			return ThroughputRow{Mechanism: row.Mechanism, Size: row.Size, Runs: len(runs), Error: r.Error}
		}
		row.Messages += r.Messages
		row.Seconds += r.Seconds
		row.RunMsgsPerSec = append(row.RunMsgsPerSec, r.MsgsPerSec)
	}
	row.MsgsPerSec = median(row.RunMsgsPerSec)
	row.MBPerSec = row.MsgsPerSec * float64(row.Size) / 1e6
	return row
}
