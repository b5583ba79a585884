package bench

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestBatchSize(t *testing.T) {
	for _, tc := range []struct {
		p50  float64
		want int
	}{
		{0, maxBatch},          // no samples
		{math.NaN(), maxBatch}, // cannot happen; still bounded
		{-5, maxBatch},
		{1, maxBatch},         // 1 ns: a million would fit, capped
		{150, maxBatch},       // the floor: 6,667 fit, capped
		{1000, maxBatch},      // 1 µs: exactly 1,000 fit
		{1001, 999},           // just over
		{10_000, 100},         // a pipe
		{36_000, 28},          // a futex wake-up: 27.8 rounds to 28
		{62_500, 16},          // exactly minBatch
		{80_000, minBatch},    // TCP: 12.5, raised to the minimum
		{5_000_000, minBatch}, // a stalled mechanism
	} {
		if got := batchSize(tc.p50); got != tc.want {
			t.Errorf("batchSize(%v) = %d, want %d", tc.p50, got, tc.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted []float64
		q      float64
		want   float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []float64{7}, 0.5, 7},
		{"one p10", []float64{7}, 0.1, 7},
		{"odd median", []float64{1, 2, 9}, 0.5, 2},
		{"even median", []float64{1, 2, 4, 9}, 0.5, 3},
		{"min", []float64{1, 2, 4, 9}, 0, 1},
		{"max", []float64{1, 2, 4, 9}, 1, 9},
		{"p10 of 11", []float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 0.1, 10},
		{"p90 of 11", []float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 0.9, 90},
		{"p90 interpolated", []float64{0, 10, 20, 30, 40}, 0.9, 36},
		{"q below 0 clamps", []float64{1, 2}, -1, 1},
		{"q above 1 clamps", []float64{1, 2}, 2, 2},
	} {
		if got := quantile(tc.sorted, tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: quantile(%v, %v) = %v, want %v", tc.name, tc.sorted, tc.q, got, tc.want)
		}
	}
	if got := median([]float64{9, 1, 4, 2}); got != 3 {
		t.Errorf("median of unsorted = %v, want 3", got)
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("median sorted its argument: %v", in)
	}
}

// TestBatchMeansApply records known batches and checks each field: a
// batch's mean is its time over the batch size, and the row's figures are
// the order statistics of those means.
func TestBatchMeansApply(t *testing.T) {
	bm := &batchMeans{size: 1000}
	// Batches of 1,000 round trips taking 150 µs .. 50 µs (150 .. 50 ns
	// each), added out of order, and one slow batch (a host hiccup).
	for _, us := range []int{120, 100, 150, 90, 110, 130, 80, 140, 60, 70, 50} {
		bm.add(time.Duration(us) * time.Microsecond)
	}
	bm.add(9 * time.Millisecond)
	var row LatencyRow
	bm.apply(&row)
	want := LatencyRow{BatchSize: 1000, Batches: 12,
		BatchMeanMin: 50, BatchMeanP10: 61, BatchMeanP50: 105, BatchMeanP90: 149, BatchMeanMax: 9000}
	if !reflect.DeepEqual(row, want) {
		t.Errorf("apply:\n got %+v\nwant %+v", row, want)
	}
	if bm.means[0] != 120 {
		t.Errorf("apply reordered the recorded means: %v", bm.means)
	}

	// A fractional mean is kept: 3 round trips in 1 ns.
	odd := &batchMeans{size: 3}
	odd.add(1)
	odd.apply(&row)
	if math.Abs(row.BatchMeanP50-1.0/3) > 1e-12 || row.BatchSize != 3 || row.Batches != 1 {
		t.Errorf("fractional batch mean: %+v", row)
	}

	// No batch leaves the row alone.
	none := LatencyRow{Mechanism: "x", P50: 5}
	(&batchMeans{size: 16}).apply(&none)
	if !reflect.DeepEqual(none, LatencyRow{Mechanism: "x", P50: 5}) {
		t.Errorf("apply with no batch changed the row: %+v", none)
	}
}

// TestTimeRoundTrips runs the two phases over a counting round trip:
// every call is warm-up, a percentile sample or part of a whole batch of
// the one batch size, and both phases ran in every round.
func TestTimeRoundTrips(t *testing.T) {
	calls := 0
	roundTrip := func() error { calls++; return nil }
	h := newHist()
	bm, err := timeRoundTrips(context.Background(), 0, 8*time.Millisecond, h, roundTrip)
	if err != nil {
		t.Fatal(err)
	}
	if bm.size < minBatch || bm.size > maxBatch {
		t.Fatalf("batch size %d outside [%d, %d]", bm.size, minBatch, maxBatch)
	}
	if len(bm.means) < latencyRounds || h.TotalCount() < latencyRounds {
		t.Fatalf("%d batches and %d samples: want one of each at least in each of %d rounds", len(bm.means), h.TotalCount(), latencyRounds)
	}
	if got := int64(calls) - h.TotalCount() - int64(len(bm.means)*bm.size); got != 0 {
		t.Errorf("%d calls are neither samples nor whole batches (%d calls, %d samples, %d batches of %d)",
			got, calls, h.TotalCount(), len(bm.means), bm.size)
	}
	for _, m := range bm.means {
		if !(m >= 0) {
			t.Fatalf("batch mean %v", m)
		}
	}

	// A failing round trip ends the measurement with its error, in
	// either phase.
	boom := errors.New("boom")
	for _, failAt := range []int{1, 200} {
		n := 0
		_, err := timeRoundTrips(context.Background(), 0, time.Second, newHist(), func() error {
			if n++; n == failAt {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Errorf("fail at call %d: err %v, want boom", failAt, err)
		}
	}

	// A cancelled context stops at once (one sample and one batch at
	// most), well before the duration.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := timeRoundTrips(ctx, 0, time.Minute, newHist(), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelled measurement took %v", d)
	}
}
