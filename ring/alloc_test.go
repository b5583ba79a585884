package ring

import (
	"context"
	"testing"
)

// TestZeroAllocs asserts the hot paths allocate nothing: every Try*
// operation, the blocking forms when they need not wait, batches, and
// zero-copy reserve/commit and peek/release.
func TestZeroAllocs(t *testing.T) {
	ctx := context.Background()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r, _ := newHeapRing(t, k.kind, Config{Slots: 64, SlotSize: 64})
			msg := make([]byte, 64)
			dst := make([]byte, 64)
			msgs := [][]byte{msg, msg, msg, msg}
			bufs := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64), make([]byte, 64)}
			cases := []struct {
				name string
				fn   func()
			}{
				{"TryPush+TryPop", func() { r.TryPush(msg); r.TryPop(dst) }},
				{"TryPop empty", func() { r.TryPop(dst) }},
				{"Push+Pop", func() { r.Push(ctx, msg); r.Pop(ctx, dst) }},
				{"TryPushBatch+TryPopBatch", func() { r.TryPushBatch(msgs); r.TryPopBatch(bufs) }},
				{"PushBatch+PopBatch", func() { r.PushBatch(ctx, msgs); r.PopBatch(ctx, bufs) }},
				{"TryReserve+Commit+TryPeek+Release", func() {
					res, _ := r.TryReserve(32)
					r.Commit(res, 32)
					m, _ := r.TryPeek()
					r.Release(m)
				}},
				{"Len+Stats", func() { _ = r.Len(); _ = r.Stats() }},
			}
			for _, c := range cases {
				if a := testing.AllocsPerRun(1000, c.fn); a != 0 {
					t.Errorf("%s: %v allocs per run, want 0", c.name, a)
				}
			}
		})
	}
}
