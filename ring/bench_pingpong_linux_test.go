package ring

import (
	"context"
	"time"

	"github.com/shmring/shmring/futex"
	"runtime"
	"sync/atomic"
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
	b.Run("floor", floorPingPong)
	b.Run("spsc", func(b *testing.B) {
		fwd, _ := newHeapRing(b, kindSPSC, cfg)
		back, _ := newHeapRing(b, kindSPSC, cfg)
		pingPong(b, fwd.TryPush, fwd.TryPop, back)
	})
	b.Run("spsc56", func(b *testing.B) {
		c := Config{Slots: 1024, SlotSize: 56}
		fwd, _ := newHeapRing(b, kindSPSC, c)
		back, _ := newHeapRing(b, kindSPSC, c)
		pingPongN(b, 56, fwd.TryPush, fwd.TryPop, back)
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
	pingPongN(b, 64, push, pop, back)
}

func pingPongN(b *testing.B, size int, push func([]byte) error, pop func([]byte) (int, error), back Ring) {
	b.ReportAllocs()
	msg := make([]byte, size)
	// The pong side polls a flag, not ctx.Err (a call per poll that the
	// floor does not make).
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer pin(1)()
		buf := make([]byte, size)
		for {
			if _, err := pop(buf); err != nil {
				if stop.Load() {
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
	stop.Store(true)
	<-done
}

// floorPingPong is the hardware's round trip between the two pinned
// threads: one cache line bounced with plain atomics (a word each way on
// the same line, no pause), the floor the ring rows are compared to.
func floorPingPong(b *testing.B) {
	b.ReportAllocs()
	var line struct {
		_          [64]byte
		ping, pong atomic.Uint64
		_          [48]byte
	}
	n := uint64(b.N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer pin(1)()
		for i := uint64(1); i <= n; i++ {
			for line.ping.Load() != i {
			}
			line.pong.Store(i)
		}
	}()
	defer pin(0)()
	b.ResetTimer()
	for i := uint64(1); i <= n; i++ {
		line.ping.Store(i)
		for line.pong.Load() != i {
		}
	}
	b.StopTimer()
	<-done
}

// BenchmarkPingPongBlock is BenchmarkPingPong with sleeping waiters: the
// bare futex ping-pong (the blocking floor: two words, each side waits on
// its own and wakes the other's) beside SPSC rings with WaitBlock, in the
// same run, both sides pinned as above. ns/op is the mean round trip.
func BenchmarkPingPongBlock(b *testing.B) {
	b.Run("futex", futexPingPong)
	cfg := Config{Slots: 1024, SlotSize: 64}
	for _, ctxKind := range []string{"background", "cancel"} {
		b.Run("spsc/"+ctxKind, func(b *testing.B) {
			fwd, _ := newHeapRing(b, kindSPSC, cfg)
			back, _ := newHeapRing(b, kindSPSC, cfg)
			fwd.SetWaitStrategy(WaitBlock)
			back.SetWaitStrategy(WaitBlock)
			ctx := context.Background()
			if ctxKind == "cancel" {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			b.ReportAllocs()
			n := b.N
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer pin(1)()
				buf := make([]byte, 64)
				for i := 0; i < n; i++ {
					if _, err := fwd.Pop(ctx, buf); err != nil {
						b.Error(err)
						return
					}
					if err := back.Push(ctx, buf); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			defer pin(0)()
			msg, buf := make([]byte, 64), make([]byte, 64)
			b.ResetTimer()
			for i := 0; i < n; i++ {
				if err := fwd.Push(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if _, err := back.Pop(ctx, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			<-done
		})
	}
}

func futexPingPong(b *testing.B) {
	b.ReportAllocs()
	var words struct {
		ping uint32
		_    [124]byte
		pong uint32
	}
	await := func(w *uint32, v uint32) {
		for {
			cur := atomic.LoadUint32(w)
			if cur == v {
				return
			}
			_ = futex.Wait(w, cur, 100*time.Millisecond) // returns at once if *w != cur by now
		}
	}
	n := uint32(b.N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer pin(1)()
		for i := uint32(1); i <= n; i++ {
			await(&words.ping, i)
			atomic.StoreUint32(&words.pong, i)
			_, _ = futex.Wake(&words.pong, 1)
		}
	}()
	defer pin(0)()
	b.ResetTimer()
	for i := uint32(1); i <= n; i++ {
		atomic.StoreUint32(&words.ping, i)
		_, _ = futex.Wake(&words.ping, 1)
		await(&words.pong, i)
	}
	b.StopTimer()
	<-done
}
