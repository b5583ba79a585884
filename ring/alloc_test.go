package ring

import (
	"context"
	"io"
	"testing"
	"time"
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

// TestBlockingZeroAllocs: a blocking round trip with a cancelable context,
// both sides sleeping in the futex, allocates nothing (the first sleep of
// each call waits without a context.AfterFunc registration: wait.go,
// firstSleep). A call whose sleep outlasts firstSleep registers (and
// allocates), which a loaded machine may cause now and then: the bound is
// an average well below one allocation per round trip, where registering
// on every sleep made it 7.
func TestBlockingZeroAllocs(t *testing.T) {
	cfg := Config{Slots: 16, SlotSize: 64}
	fwd, _ := newHeapRing(t, kindSPSC, cfg)
	back, _ := newHeapRing(t, kindSPSC, cfg)
	fwd.SetWaitStrategy(WaitBlock)
	back.SetWaitStrategy(WaitBlock)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := fwd.Pop(ctx, buf)
			if err != nil {
				done <- err
				return
			}
			if err := back.Push(ctx, buf[:n]); err != nil {
				done <- err
				return
			}
		}
	}()
	msg, buf := make([]byte, 64), make([]byte, 64)
	roundTrip := func() {
		if err := fwd.Push(ctx, msg); err != nil {
			t.Fatal(err)
		}
		if _, err := back.Pop(ctx, buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // the echo's first, possibly long, sleep is behind us
	if avg := testing.AllocsPerRun(200, roundTrip); avg > 0.25 {
		t.Fatalf("%.2f allocations per blocking round trip, want ~0", avg)
	}
	if err := fwd.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != io.EOF {
		t.Fatalf("echo ended with %v, want io.EOF", err)
	}
}
