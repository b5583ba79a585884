package bench

import (
	"math"
	"slices"
	"time"
)

// Batch means: the unbiased round-trip time.
//
// A per-sample percentile reads the clock twice per round trip, and each
// read (~20-60 ns on this kind of VM) lands inside the sample: it adds the
// same cost to both sides of a ratio and pulls every ratio toward 1. A
// batch mean reads the clock once before and once after a batch of
// batchSize round trips and records the elapsed time over the count, so
// the clock's share is two reads per batch. The median of the batch means
// is the row's central figure for ratios; the percentiles stay beside it
// for the tails, which a mean hides.
//
// A row's time is split between the two phases in latencyRounds rounds,
// each a percentile slice then a batch slice, so both phases see the same
// placement of the vCPUs (which the host may change during a row).

const (
	// latencyRounds is how many percentile/batch slice pairs a row's
	// duration is cut into.
	latencyRounds = 4
	// batchTarget is how long one batch should last: long enough that two
	// clock reads are noise (< 0.01 %), short enough that a row yields
	// hundreds of batches for a stable median.
	batchTarget = time.Millisecond
	// minBatch and maxBatch bound a batch: at least 16 round trips for a
	// slow mechanism (TCP at ~80 µs gives 16 x 80 µs = 1.3 ms), and 1,000
	// for a spinning one (~0.1-0.3 ms at 100-300 ns).
	minBatch = 16
	maxBatch = 1000
)

// batchSize is the number of round trips per batch for a mechanism whose
// per-sample p50 is p50 ns: as many as fill batchTarget, within
// [minBatch, maxBatch].
func batchSize(p50 float64) int {
	if !(p50 > 0) { // also NaN
		return maxBatch
	}
	n := math.Round(float64(batchTarget.Nanoseconds()) / p50)
	return int(min(max(n, minBatch), maxBatch))
}

// batchMeans collects one row's batch means.
type batchMeans struct {
	size  int       // round trips per batch
	means []float64 // each batch's elapsed ns over size
}

// add records one batch of b.size round trips that took elapsed.
func (b *batchMeans) add(elapsed time.Duration) {
	b.means = append(b.means, float64(elapsed.Nanoseconds())/float64(b.size))
}

// apply fills row's batch-mean fields; a row with no batch keeps them 0.
func (b *batchMeans) apply(row *LatencyRow) {
	if len(b.means) == 0 {
		return
	}
	s := slices.Clone(b.means)
	slices.Sort(s)
	row.BatchSize, row.Batches = b.size, len(s)
	row.BatchMeanMin, row.BatchMeanMax = s[0], s[len(s)-1]
	row.BatchMeanP10, row.BatchMeanP50, row.BatchMeanP90 = quantile(s, 0.1), quantile(s, 0.5), quantile(s, 0.9)
}

// quantile is the q-quantile (0 <= q <= 1) of sorted, interpolated
// linearly between the two nearest ranks (the "type 7" estimator of R and
// NumPy's default): the median of an even count is the mean of the middle
// two. It is 0 for no values.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// median is quantile 0.5 of values in any order.
func median(values []float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	return quantile(s, 0.5)
}
