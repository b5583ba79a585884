package ring

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// streamFloor is the simplest ring that streams 64-byte copies between
// two goroutines: the limit the SPSC stream is measured against (issue 12's
// "stream floor"). Its head and tail each sit on their own 128-byte unit;
// each side caches the other's index and reads it again only when the
// cache says full or empty; the producer publishes its tail every
// floorBatch messages (and when it finds the ring full), the consumer
// drains everything it sees and publishes its head once per drain. Plain
// sync/atomic loads and stores, no slot header, no closing, no counters,
// no crash safety: what the hardware allows for one cache line per
// message.
type streamFloor struct {
	_    [128]byte
	tail atomic.Uint64
	_    [120]byte
	head atomic.Uint64
	_    [120]byte
	data [1024][benchMsg]byte
}

const floorBatch = 32

func (f *streamFloor) produce(n int) {
	var src [benchMsg]byte
	tail, headCache := uint64(0), uint64(0)
	mask := uint64(len(f.data) - 1)
	for i := 0; i < n; i++ {
		for tail-headCache == uint64(len(f.data)) {
			f.tail.Store(tail) // full: publish what is written before waiting
			headCache = f.head.Load()
		}
		src[0] = byte(i)
		f.data[tail&mask] = src
		tail++
		if tail%floorBatch == 0 {
			f.tail.Store(tail)
		}
	}
	f.tail.Store(tail)
}

func (f *streamFloor) consume(n int) byte {
	var dst [benchMsg]byte
	var sum byte
	head := uint64(0)
	mask := uint64(len(f.data) - 1)
	for head < uint64(n) {
		t := f.tail.Load()
		for ; head < t; head++ {
			dst = f.data[head&mask]
			sum += dst[0]
		}
		f.head.Store(head)
	}
	return sum
}

// benchStreamFloor streams b.N messages through a streamFloor between two
// goroutines, as streamRing does through a ring.
func benchStreamFloor(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchMsg)
	f := new(streamFloor)
	n := b.N
	var wg sync.WaitGroup
	wg.Add(2)
	b.ResetTimer()
	go func() { defer wg.Done(); f.produce(n) }()
	go func() { defer wg.Done(); f.consume(n) }()
	wg.Wait()
	b.StopTimer()
	reportRate(b, n)
}

// BenchmarkStreamSizes streams b.N messages of each size through an SPSC
// ring between two goroutines with a spinning and with a sleeping
// consumer (the producer spins), in the same run: issue 12 asks that the
// spinning one never be the slower.
func BenchmarkStreamSizes(b *testing.B) {
	for _, size := range []int{8, 64, 512, 4096} {
		for _, ws := range []WaitStrategy{WaitSpin, WaitBlock} {
			b.Run(fmt.Sprintf("%d/%s", size, ws), func(b *testing.B) {
				r, _ := newHeapRing(b, kindSPSC, Config{Slots: 256, SlotSize: size})
				r.SetWaitStrategy(WaitSpin)
				cons, _ := AttachSPSC(r.(*SPSC).mem)
				cons.SetWaitStrategy(ws)
				defer cons.Detach()
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(int64(size))
				n := b.N
				done := make(chan error, 1)
				b.ResetTimer()
				go func() {
					dst := make([]byte, size)
					for i := 0; i < n; i++ {
						if _, err := cons.Pop(ctx, dst); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				msg := make([]byte, size)
				for i := 0; i < n; i++ {
					if err := r.Push(ctx, msg); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				reportRate(b, n)
			})
		}
	}
}
