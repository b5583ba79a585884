package ring

import (
	"context"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkPingPong measures the round trip of one 64-byte message over a
// forward ring and back over an SPSC ring, between two goroutines locked
// to threads pinned to CPUs 0 and 1, both sides spinning: SPSC forward
// (the baseline) against broadcast forward with one tethered subscriber,
// in the same run. ns/op is the mean round trip over b.N (a batch mean:
// no clock read inside).
func BenchmarkPingPong(b *testing.B) {
	cfg := Config{Slots: 1024, SlotSize: 64}
	b.Run("spsc", func(b *testing.B) {
		fwd, _ := newHeapRing(b, kindSPSC, cfg)
		back, _ := newHeapRing(b, kindSPSC, cfg)
		pingPong(b, fwd.TryPush, fwd.TryPop, back)
	})
	b.Run("broadcast", func(b *testing.B) {
		fwd, mem := newHeapBroadcast(b, cfg)
		sub := subscribeHeap(b, mem, SubscribeOptions{})
		back, _ := newHeapRing(b, kindSPSC, cfg)
		pingPong(b, fwd.TryPush, sub.TryPop, back)
	})
}

func pin(cpu int) func() {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	_ = unix.SchedSetaffinity(0, &set) // best effort: fewer CPUs, no pinning
	return runtime.UnlockOSThread
}

func pingPong(b *testing.B, push func([]byte) error, pop func([]byte) (int, error), back Ring) {
	b.ReportAllocs()
	msg := make([]byte, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer pin(1)()
		buf := make([]byte, 64)
		for {
			if _, err := pop(buf); err != nil {
				if ctx.Err() != nil {
					return
				}
				continue
			}
			for back.TryPush(buf) != nil {
			}
		}
	}()
	defer pin(0)()
	buf := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for push(msg) != nil {
		}
		for {
			if _, err := back.TryPop(buf); err == nil {
				break
			}
		}
	}
	b.StopTimer()
	cancel()
	<-done
}
