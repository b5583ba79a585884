package main

import (
	"strings"
	"testing"

	"github.com/shmring/shmring/ring"
)

// TestVerifyBroadcast plants each fault the broadcast contract forbids,
// next to the case just inside what it allows, and checks the verifier's
// counts.
func TestVerifyBroadcast(t *testing.T) {
	// A generation's journal is runs: deliveries of [from, to), or a lap
	// of from messages (lap), journaled with the cursor it left (lapTo:
	// to is that cursor with bit 63 set).
	type run struct{ from, to uint64 }
	const lapCursor = 1 << 63
	lap := func(m uint64) run { return run{m, 0} }
	lapTo := func(m, cursor uint64) run { return run{m, lapCursor | cursor} }
	gen := func(lossy bool, join uint64, clean bool, runs ...run) bcastGeneration {
		g := bcastGeneration{Lossy: lossy, Join: join + 1, Clean: clean}
		for _, r := range runs {
			if r.to == 0 && r.from > 0 || r.to&lapCursor != 0 {
				g.lap(r.from)
				if r.to&lapCursor != 0 {
					g.lapEnd(r.to &^ lapCursor)
				}
				continue
			}
			for n := r.from; n < r.to; n++ {
				g.add(n)
			}
		}
		return g
	}
	tethered := func(runs ...run) bcastGeneration { return gen(false, 0, true, runs...) }
	lossy := func(runs ...run) bcastGeneration { return gen(true, 0, true, runs...) }
	one := []bcastProducer{{Start: 0, Base: 1, Committed: 100, Attempt: 100}}
	// A producer killed with [50,60) in flight, of which 50..52 got in
	// (its successor adopted them: 50 were published when it started);
	// the successor commits [60,100): 93 positions.
	killed := []bcastProducer{
		{Start: 0, Base: 1, Committed: 50, Attempt: 60, Killed: true},
		{Start: 60, Base: 54, Committed: 100, Attempt: 100, Published: 50},
	}
	// The same, with 50..52 completed and 53 marked, not completed: its
	// successor published position 53 as a hole; 94 positions.
	holed := []bcastProducer{
		{Start: 0, Base: 1, Committed: 50, Attempt: 60, Killed: true},
		{Start: 60, Base: 55, Committed: 100, Attempt: 100, Published: 50, Holes: []uint64{53}},
	}
	tests := []struct {
		name      string
		producers []bcastProducer
		tail      uint64
		gens      []bcastGeneration
		corrupt   uint64
		stats     ring.Stats
		backlog   uint64
		undrained bool
		want      bcastVerdict // counts only
		problem   string       // a problem that must be reported
	}{
		{name: "clean", producers: one, tail: 100,
			gens: []bcastGeneration{tethered(run{0, 100}), tethered(run{0, 100}), lossy(run{0, 10}, lap(20), run{30, 100})},
			want: bcastVerdict{Positions: 100, Missed: 20, Laps: 1, Generations: [2]int{2, 1}, Deliveries: [2]uint64{200, 80}}},
		{name: "planted loss", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 50}, run{51, 100})},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{99, 0}, Lost: 1}, problem: "positions [50,51)"},
		{name: "planted duplicate", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 11}, run{10, 100})},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{101, 0}, Duplicated: 1}, problem: "position 10 again"},
		{name: "planted reordering", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 50}, run{51, 52}, run{50, 51}, run{52, 100})},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{100, 0}, OutOfOrder: 1}, problem: "position 50 after position 51"},
		{name: "planted corruption", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 100})}, corrupt: 1,
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{100, 0}, Corrupt: 1}},
		{name: "a killed producer's completed messages adopted", producers: killed, tail: 93,
			gens: []bcastGeneration{tethered(run{0, 53}, run{60, 100}), lossy(run{0, 20}, lap(40), run{67, 100})},
			want: bcastVerdict{Positions: 93, InFlightDelivered: 3, Uncommitted: 7, Adoptions: 1, Adopted: 3, Missed: 40, Laps: 1,
				Generations: [2]int{1, 1}, Deliveries: [2]uint64{93, 53}}},
		{name: "an adopted message skipped", producers: killed, tail: 93, gens: []bcastGeneration{tethered(run{0, 52}, run{60, 100})},
			want: bcastVerdict{Positions: 93, InFlightDelivered: 3, Uncommitted: 7, Adoptions: 1, Adopted: 3,
				Generations: [2]int{1, 0}, Deliveries: [2]uint64{92, 0}, Lost: 1}, problem: "positions [52,53) (numbers [52,53))"},
		{name: "a message of a killed call delivered that never got in", producers: killed, tail: 93,
			gens: []bcastGeneration{tethered(run{0, 54}, run{60, 100})},
			want: bcastVerdict{Positions: 93, InFlightDelivered: 3, Uncommitted: 7, Adoptions: 1, Adopted: 3,
				Generations: [2]int{1, 0}, Deliveries: [2]uint64{94, 0}, Unsent: 1}, problem: "number 53 of stream 0, which holds no position"},
		{name: "a killed producer's committed message without a position",
			producers: []bcastProducer{{Start: 0, Base: 1, Committed: 50, Attempt: 60, Killed: true}, {Start: 60, Base: 50, Committed: 100, Attempt: 100, Published: 49}},
			tail:      89, gens: []bcastGeneration{tethered(run{0, 49}, run{60, 100})},
			want:    bcastVerdict{Positions: 89, Uncommitted: 10, Generations: [2]int{1, 0}, Deliveries: [2]uint64{89, 0}, Lost: 1},
			problem: "committed numbers [49,50) have no position"},
		{name: "positions beyond a killed producer's call",
			producers: []bcastProducer{{Start: 0, Base: 1, Committed: 50, Attempt: 60, Killed: true}, {Start: 60, Base: 62, Committed: 100, Attempt: 100, Published: 50}},
			tail:      101, gens: []bcastGeneration{tethered(run{0, 60}, run{60, 100})},
			want: bcastVerdict{Positions: 101, InFlightDelivered: 10, Adoptions: 1, Adopted: 11, Generations: [2]int{1, 0},
				Deliveries: [2]uint64{100, 0}, Unsent: 1, Lost: 1}, problem: "positions [60,61) hold no number"},
		{name: "a producer killed before its reservation", producers: []bcastProducer{
			{Start: 0, Attempt: 1, Killed: true}, {Start: 1, Base: 1, Committed: 101, Attempt: 101}}, tail: 100,
			gens: []bcastGeneration{tethered(run{1, 101})},
			want: bcastVerdict{Positions: 100, Uncommitted: 1, Generations: [2]int{1, 0}, Deliveries: [2]uint64{100, 0}}},
		{name: "a tethered subscriber lapped", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 10}, lap(5), run{15, 100})},
			want: bcastVerdict{Positions: 100, Laps: 1, Generations: [2]int{1, 0}, Deliveries: [2]uint64{95, 0}, Lost: 5}, problem: "a tethered subscriber"},
		{name: "a lap that counted one too many", producers: one, tail: 100, gens: []bcastGeneration{lossy(run{0, 10}, lap(21), run{30, 100})},
			want:    bcastVerdict{Positions: 100, Missed: 21, Laps: 1, Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 80}, Inexact: 1},
			problem: "which a lap counted as missed"},
		{name: "a lap that counted one too few", producers: one, tail: 100, gens: []bcastGeneration{lossy(run{0, 10}, lap(19), run{30, 100})},
			want:    bcastVerdict{Positions: 100, Missed: 19, Laps: 1, Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 80}, Lost: 1},
			problem: "positions [29,30)"},
		{name: "a lap at its cursor", producers: one, tail: 100, gens: []bcastGeneration{lossy(run{0, 10}, lapTo(20, 30), run{30, 100})},
			want: bcastVerdict{Positions: 100, Missed: 20, Laps: 1, Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 80}}},
		// The campaign's false loss: a hole (the killed producer's last
		// position, 53), passed silently, then a lap from 54. Placed at
		// the walk's position, 53, the lap ended at 63, and position 63,
		// counted by the lap, was "neither delivered nor missed".
		{name: "a lap after a hole passed silently", producers: holed, tail: 94, stats: ring.Stats{Skipped: 1},
			gens: []bcastGeneration{lossy(run{0, 53}, lapTo(10, 64), run{70, 100})},
			want: bcastVerdict{Positions: 94, InFlightDelivered: 3, Uncommitted: 7, Adoptions: 1, Adopted: 3, Missed: 10, Laps: 1,
				Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 83}}},
		{name: "a lap after a position passed silently that is no hole", producers: holed, tail: 94, stats: ring.Stats{Skipped: 1},
			gens: []bcastGeneration{lossy(run{0, 53}, lapTo(10, 65), run{71, 100})},
			want: bcastVerdict{Positions: 94, InFlightDelivered: 3, Uncommitted: 7, Adoptions: 1, Adopted: 3, Missed: 10, Laps: 1,
				Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 82}, Lost: 1}, problem: "positions [53,55)"},
		{name: "a lap after a hole the ring did not count", producers: holed, tail: 94,
			gens: []bcastGeneration{lossy(run{0, 53}, lapTo(10, 64), run{70, 100})},
			want: bcastVerdict{Positions: 94, InFlightDelivered: 3, Uncommitted: 7, Adoptions: 1, Adopted: 3, Missed: 10, Laps: 1,
				Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 83}, Lost: 1}, problem: "positions [53,54)"},
		// Between them, an incarnation that took over (publishing 53 as
		// a hole) and marked its reservation's slot, 54, and was killed
		// before it recorded its base: its successor published 54 as a
		// hole. Both hold no number: 53 is not number 53, nor 54 number 54.
		{name: "two holes, one of an incarnation killed before its base", tail: 94, stats: ring.Stats{Skipped: 2},
			producers: []bcastProducer{
				{Start: 0, Base: 1, Committed: 50, Attempt: 60, Killed: true},
				{Start: 60, Committed: 60, Attempt: 61, Killed: true, Published: 50, Holes: []uint64{53}},
				{Start: 61, Base: 56, Committed: 100, Attempt: 100, Published: 54, Holes: []uint64{54}},
			},
			gens: []bcastGeneration{tethered(run{0, 53}, run{61, 100}), lossy(run{0, 53}, lapTo(10, 65), run{71, 100})},
			want: bcastVerdict{Positions: 94, InFlightDelivered: 3, Uncommitted: 8, Missed: 10, Laps: 1,
				Generations: [2]int{1, 1}, Deliveries: [2]uint64{92, 82}}},
		{name: "a hole's position delivered", producers: holed, tail: 94, stats: ring.Stats{Skipped: 1},
			gens: []bcastGeneration{tethered(run{0, 54}, run{60, 100})},
			want: bcastVerdict{Positions: 94, InFlightDelivered: 3, Uncommitted: 7, Adoptions: 1, Adopted: 3,
				Generations: [2]int{1, 0}, Deliveries: [2]uint64{94, 0}, Unsent: 1}, problem: "number 53 of stream 0, which holds no position"},
		{name: "a lap that began before the walk's position", producers: one, tail: 100, gens: []bcastGeneration{lossy(run{0, 10}, lapTo(20, 29), run{29, 100})},
			want:    bcastVerdict{Positions: 100, Missed: 20, Laps: 1, Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 81}, Inexact: 1},
			problem: "a lap counted positions [9,10) missed"},
		{name: "killed between a lap and its cursor", producers: one, tail: 100, gens: []bcastGeneration{gen(true, 0, false, run{0, 10}, lap(20))},
			want: bcastVerdict{Positions: 100, Missed: 20, Laps: 1, Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 10}}},
		{name: "a lap cursor after no lap", producers: one, tail: 100,
			gens:    []bcastGeneration{func() bcastGeneration { g := lossy(run{0, 100}); g.lapEnd(100); return g }()},
			want:    bcastVerdict{Positions: 100, Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 100}},
			problem: "lap cursors journaled after no lap"},
		{name: "stats' Missed at odds with the laps", producers: one, tail: 100,
			gens:    []bcastGeneration{func() bcastGeneration { g := lossy(run{0, 10}, lap(20), run{30, 100}); g.Mismatch = 1; return g }()},
			want:    bcastVerdict{Positions: 100, Missed: 20, Laps: 1, Generations: [2]int{0, 1}, Deliveries: [2]uint64{0, 80}, Inexact: 1},
			problem: "SubscriberStats Missed"},
		{name: "io.EOF short of the end", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 99})},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{99, 0}, Lost: 1}, problem: "positions [99,100)"},
		{name: "killed short of the end", producers: one, tail: 100, gens: []bcastGeneration{gen(false, 0, false, run{0, 40})},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{40, 0}}},
		{name: "joined late", producers: one, tail: 100, gens: []bcastGeneration{gen(false, 40, true, run{40, 100})},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{60, 0}}},
		{name: "a gap at the join", producers: one, tail: 100, gens: []bcastGeneration{gen(false, 40, true, run{41, 100})},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{59, 0}, Lost: 1}, problem: "positions [40,41)"},
		{name: "a message from before the join", producers: one, tail: 100, gens: []bcastGeneration{gen(false, 40, true, run{39, 100})},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{61, 0}, OutOfOrder: 1}, problem: "before its join position 40"},
		{name: "journaled without a join", producers: one, tail: 100,
			gens: []bcastGeneration{func() bcastGeneration { g := tethered(run{0, 100}); g.Join = 0; return g }()},
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}}, problem: "without recording where it joined"},
		{name: "leaked registration", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 100})},
			stats: ring.Stats{NotFullWaiters: 1}, want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{100, 0}, Leaked: 1}},
		{name: "frozen", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 100})}, undrained: true,
			want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{100, 0}}, problem: "frozen"},
		{name: "a live tethered subscriber behind at the end", producers: one, tail: 100, gens: []bcastGeneration{tethered(run{0, 100})},
			backlog: 3, want: bcastVerdict{Positions: 100, Generations: [2]int{1, 0}, Deliveries: [2]uint64{100, 0}}, problem: "3 messages behind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := bcastAccount{Name: "b", End: tt.producers[len(tt.producers)-1].Attempt, Producers: tt.producers,
				Generations: tt.gens, Corrupt: tt.corrupt, Tail: tt.tail, Stats: tt.stats, Backlog: tt.backlog, Drained: !tt.undrained}
			got := verifyBroadcast(&acc)
			problems := got.Problems
			got.Problems = nil
			if !equalBcast(got, tt.want) {
				t.Errorf("verdict %+v\nwant    %+v", got, tt.want)
			}
			w := tt.want
			wantFail := w.Lost+w.Duplicated+w.Unsent+w.Corrupt+w.OutOfOrder+w.Inexact > 0 || w.Leaked > 0 || tt.problem != ""
			got.Problems = problems
			if got.failed() != wantFail {
				t.Errorf("failed() = %v, want %v (problems %q)", got.failed(), wantFail, problems)
			}
			if tt.problem != "" && !strings.Contains(strings.Join(problems, "\n"), tt.problem) {
				t.Errorf("problems %q do not mention %q", problems, tt.problem)
			}
		})
	}
}

func equalBcast(a, b bcastVerdict) bool {
	a.Problems, b.Problems = nil, nil
	return a.Positions == b.Positions && a.InFlightDelivered == b.InFlightDelivered && a.Uncommitted == b.Uncommitted &&
		a.Adoptions == b.Adoptions && a.Adopted == b.Adopted && a.Missed == b.Missed && a.Laps == b.Laps &&
		a.Generations == b.Generations && a.Deliveries == b.Deliveries && a.Lost == b.Lost && a.Duplicated == b.Duplicated &&
		a.Unsent == b.Unsent && a.Corrupt == b.Corrupt && a.OutOfOrder == b.OutOfOrder && a.Inexact == b.Inexact && a.Leaked == b.Leaked
}

// TestPositionMap pins the lookup of (f)'s map, at and around segment
// edges.
func TestPositionMap(t *testing.T) {
	m := positionMap{{pos: 0, num: 0, n: 53}, {pos: 53, num: 60, n: 40}}
	for _, tt := range []struct {
		num, pos uint64
		ok       bool
	}{{0, 0, true}, {52, 52, true}, {53, 0, false}, {59, 0, false}, {60, 53, true}, {99, 92, true}, {100, 0, false}} {
		if p, ok := m.of(tt.num); ok != tt.ok || ok && p != tt.pos {
			t.Errorf("of(%d) = %d, %v; want %d, %v", tt.num, p, ok, tt.pos, tt.ok)
		}
	}
}
