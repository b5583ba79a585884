package fuzz

import (
	"math/rand/v2"

	"github.com/shmring/shmring/ring"
)

// Workload is what one client does in a history.
type Workload struct {
	// Ops is the number of operations.
	Ops int
	// PushBias is the probability that an operation is a push (1 for a
	// producer only, 0 for a consumer only).
	PushBias float64
	// ZeroCopy is the probability that a push goes through
	// TryReserve/Commit and a pop through TryPeek/Release.
	ZeroCopy float64
	// CloseAt, if in [0, Ops), closes the ring before that operation.
	CloseAt int
	// Gap, if set, runs between operations with probability GapRate.
	Gap     func()
	GapRate float64
}

// RandomWorkload draws a workload of between minOps and maxOps
// operations for a client that may push and pop (a producer-consumer
// mix skewed either way, so histories reach both full and empty).
func RandomWorkload(rng *rand.Rand, minOps, maxOps int) Workload {
	return Workload{
		Ops:      minOps + rng.IntN(maxOps-minOps+1),
		PushBias: 0.25 + 0.5*rng.Float64(),
		ZeroCopy: 0.3 * rng.Float64(),
		CloseAt:  -1,
		GapRate:  0.2 * rng.Float64(),
	}
}

// Run performs w on r. Pushed values are MakeValue(c.ID, seq) with seq
// counting from 0.
func (c *Client) Run(r ring.Ring, rng *rand.Rand, w Workload) error {
	seq := uint32(0)
	for i := range w.Ops {
		if i == w.CloseAt {
			if err := c.Close(r); err != nil {
				return err
			}
		}
		zc := rng.Float64() < w.ZeroCopy
		if rng.Float64() < w.PushBias {
			if err := c.Push(r, MakeValue(c.ID, seq), zc); err != nil {
				return err
			}
			seq++
		} else if _, err := c.Pop(r, zc); err != nil {
			return err
		}
		if w.Gap != nil && rng.Float64() < w.GapRate {
			w.Gap()
		}
	}
	return nil
}
