package ring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shmring/shmring/arena"
)

// Benchmarks compare the rings with a Go buffered channel doing the same
// work in the same run (sub-benchmarks "SPSC", "MPMC", "chan"). Messages
// are 64 bytes, copied in and out. They report msgs/s and allocations; they
// are never turned into timing assertions. docs/benchmarks.md records a run.

const benchMsg = 64

type msg64 = [benchMsg]byte

func benchRing(b *testing.B, kind ringKind, slots int) Ring {
	b.Helper()
	r, _ := newHeapRing(b, kind, Config{Slots: slots, SlotSize: benchMsg})
	return r
}

func reportRate(b *testing.B, msgs int) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
}

// BenchmarkSingleGoroutine: TryPush then TryPop of one message, one
// goroutine: the cost of the operations themselves, without cache-line
// transfers.
func BenchmarkSingleGoroutine(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			r := benchRing(b, k.kind, 1024)
			msg, dst := make([]byte, benchMsg), make([]byte, benchMsg)
			b.ReportAllocs()
			b.SetBytes(benchMsg)
			for b.Loop() {
				if err := r.TryPush(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := r.TryPop(dst); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, b.N)
		})
	}
	b.Run("chan", func(b *testing.B) {
		ch := make(chan msg64, 1024)
		var m, d msg64
		b.ReportAllocs()
		b.SetBytes(benchMsg)
		for b.Loop() {
			ch <- m
			d = <-ch
		}
		_ = d
		reportRate(b, b.N)
	})
}

// BenchmarkPeekRelease: TryPush, then TryPeek and Release (the zero-copy
// consumer), one goroutine: the instructions of the consumer's in-place
// path, for callgrind (docs/benchmarks.md counts them).
func BenchmarkPeekRelease(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			r := benchRing(b, k.kind, 1024)
			msg := make([]byte, benchMsg)
			b.ReportAllocs()
			b.SetBytes(benchMsg)
			for b.Loop() {
				if err := r.TryPush(msg); err != nil {
					b.Fatal(err)
				}
				m, err := r.TryPeek()
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Release(m); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, b.N)
		})
	}
}

// BenchmarkEmptyPoll: TryPop on an empty ring, one goroutine: the cost of
// one iteration of a spinning consumer's poll loop, which bounds how soon
// it sees a message after it lands (half an iteration on average).
func BenchmarkEmptyPoll(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			r := benchRing(b, k.kind, 1024)
			dst := make([]byte, benchMsg)
			if _, err := r.TryPop(dst); err != ErrEmpty {
				b.Fatalf("TryPop = %v, want ErrEmpty", err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.TryPop(dst); err != ErrEmpty {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTwoGoroutines: one producer and one consumer goroutine stream
// b.N messages through a 1024-slot ring (or channel). For MPMC, the
// "4x4" variant uses four of each.
func BenchmarkTwoGoroutines(b *testing.B) {
	for _, k := range kinds {
		for _, ws := range []WaitStrategy{WaitSpin, WaitAdaptive} {
			b.Run(fmt.Sprintf("%s/%s", k.name, ws), func(b *testing.B) {
				r := benchRing(b, k.kind, 1024)
				r.SetWaitStrategy(ws)
				streamRing(b, r, 1, 1)
			})
		}
	}
	for _, ws := range []WaitStrategy{WaitSpin, WaitAdaptive} {
		b.Run("MPMC-4x4/"+ws.String(), func(b *testing.B) {
			r := benchRing(b, kindMPMC, 1024)
			r.SetWaitStrategy(ws)
			streamRing(b, r, 4, 4)
		})
	}
	b.Run("floor", benchStreamFloor)
	b.Run("chan", func(b *testing.B) { streamChan(b, 1, 1) })
	b.Run("chan-4x4", func(b *testing.B) { streamChan(b, 4, 4) })
}

func streamRing(b *testing.B, r Ring, producers, consumers int) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(benchMsg)
	n := b.N
	var wg sync.WaitGroup
	b.ResetTimer()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			msg := make([]byte, benchMsg)
			for i := p; i < n; i += producers {
				if err := r.Push(ctx, msg); err != nil {
					b.Error(err)
					return
				}
			}
		}(p)
	}
	for c := 0; c < consumers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			dst := make([]byte, benchMsg)
			for i := c; i < n; i += consumers {
				if _, err := r.Pop(ctx, dst); err != nil {
					b.Error(err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	reportRate(b, n)
}

func streamChan(b *testing.B, producers, consumers int) {
	ch := make(chan msg64, 1024)
	b.ReportAllocs()
	b.SetBytes(benchMsg)
	n := b.N
	var wg sync.WaitGroup
	b.ResetTimer()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			var m msg64
			for i := p; i < n; i += producers {
				ch <- m
			}
		}(p)
	}
	for c := 0; c < consumers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var d msg64
			for i := c; i < n; i += consumers {
				d = <-ch
			}
			_ = d
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	reportRate(b, n)
}

// BenchmarkBatch: as TwoGoroutines, 32 messages per batch operation (one
// shared-counter update per batch for SPSC; one CAS per batch for MPMC).
// The channel has no batch operation, so it sends the 32 one by one.
func BenchmarkBatch(b *testing.B) {
	const batch = 32
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			r := benchRing(b, k.kind, 1024)
			r.SetWaitStrategy(WaitSpin)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(benchMsg)
			n := b.N
			var wg sync.WaitGroup
			wg.Add(2)
			b.ResetTimer()
			go func() {
				defer wg.Done()
				msgs := make([][]byte, batch)
				for i := range msgs {
					msgs[i] = make([]byte, benchMsg)
				}
				for sent := 0; sent < n; {
					k, err := r.PushBatch(ctx, msgs[:min(batch, n-sent)])
					if err != nil {
						b.Error(err)
						return
					}
					sent += k
				}
			}()
			go func() {
				defer wg.Done()
				bufs := make([][]byte, batch)
				for i := range bufs {
					bufs[i] = make([]byte, benchMsg)
				}
				for got := 0; got < n; {
					for i := range bufs {
						bufs[i] = bufs[i][:cap(bufs[i])]
					}
					k, err := r.PopBatch(ctx, bufs[:min(batch, n-got)])
					if err != nil {
						b.Error(err)
						return
					}
					got += k
				}
			}()
			wg.Wait()
			b.StopTimer()
			reportRate(b, n)
		})
	}
	b.Run("chan", func(b *testing.B) { streamChan(b, 1, 1) })
}

// BenchmarkPadding streams 64-byte messages between two goroutines through
// rings laid out with a 64-byte and a 128-byte padding unit, in the same
// run: the measurement behind the 128-byte default on x86.
func BenchmarkPadding(b *testing.B) {
	for _, k := range kinds {
		for _, pad := range []int{64, 128} {
			b.Run(fmt.Sprintf("%s/pad%d", k.name, pad), func(b *testing.B) {
				ak := KindSPSC
				if k.kind == kindMPMC {
					ak = KindMPMC
				}
				cfg := Config{Slots: 1024, SlotSize: benchMsg}
				size, _ := Size(ak, cfg, pad)
				mem := make([]byte, size)
				var r Ring
				var err error
				if k.kind == kindSPSC {
					r, err = NewSPSC(mem, cfg, pad)
				} else {
					r, err = NewMPMC(mem, cfg, pad)
				}
				if err != nil {
					b.Fatal(err)
				}
				r.SetWaitStrategy(WaitSpin)
				streamRing(b, r, 1, 1)
			})
		}
	}
}

// BenchmarkSpinHint streams between two spinning goroutines with and
// without the pause instruction in the spin loop.
func BenchmarkSpinHint(b *testing.B) {
	for _, k := range kinds {
		for _, pause := range []bool{true, false} {
			name := "pause"
			if !pause {
				name = "nopause"
			}
			b.Run(k.name+"/"+name, func(b *testing.B) {
				old := usePause
				usePause = pause
				defer func() { usePause = old }()
				r := benchRing(b, k.kind, 1024)
				r.SetWaitStrategy(WaitSpin)
				streamRing(b, r, 1, 1)
			})
		}
	}
}

// BenchmarkBroadcast: one producer goroutine pushes b.N 64-byte messages,
// each once, into a 1024-slot broadcast ring that 1, 2 or 4 subscriber
// goroutines read, tethered (each reads every message, the slowest holds
// the producer back) or lossy (the producer never waits; a subscriber that
// falls a ring behind is lapped and loses messages). The ring is over heap
// memory or in an arena file (tethered only). "SPSC" streams the same
// messages through an SPSC ring to one consumer: the baseline of the
// 1-subscriber case. msgs/s is per subscriber (messages delivered to one
// subscriber, averaged over them, per second of the run), ns/msg the run's
// time per message pushed, and lost/msg the lossy subscribers' share of
// the messages they missed.
//
// The subscribers (and the producer) busy-spin or wait adaptively; with
// more goroutines than GOMAXPROCS, spinning goroutines hold their Ps
// until the scheduler preempts them (every 10 ms), so the spin rows with
// 2 or 4 subscribers on a 2-core machine measure that, not the ring.
func BenchmarkBroadcast(b *testing.B) {
	for _, ws := range []WaitStrategy{WaitSpin, WaitAdaptive} {
		b.Run(fmt.Sprintf("SPSC/%s", ws), func(b *testing.B) {
			r := benchRing(b, kindSPSC, 1024)
			r.SetWaitStrategy(ws)
			streamRing(b, r, 1, 1)
		})
	}
	cases := []struct {
		mem   string
		lossy bool
	}{{"heap", false}, {"heap", true}, {"arena", false}}
	for _, c := range cases {
		mode := "tethered"
		if c.lossy {
			mode = "lossy"
		}
		for _, subs := range []int{1, 2, 4} {
			for _, ws := range []WaitStrategy{WaitSpin, WaitAdaptive} {
				b.Run(fmt.Sprintf("%s/%s-%d/%s", c.mem, mode, subs, ws), func(b *testing.B) {
					cfg := Config{Slots: 1024, SlotSize: benchMsg, Subscribers: subs}
					var p *Broadcast
					var subscribe func(SubscribeOptions) (*Subscriber, error)
					if c.mem == "arena" {
						p, subscribe = arenaBroadcast(b, cfg)
					} else {
						var mem []byte
						p, mem = newHeapBroadcast(b, cfg)
						subscribe = func(o SubscribeOptions) (*Subscriber, error) { return AttachSubscriber(mem, o) }
					}
					ss := make([]*Subscriber, subs)
					for i := range ss {
						s, err := subscribe(SubscribeOptions{From: Oldest, Lossy: c.lossy})
						if err != nil {
							b.Fatal(err)
						}
						b.Cleanup(func() { s.Close() })
						s.SetWaitStrategy(ws)
						ss[i] = s
					}
					p.SetWaitStrategy(ws)
					streamBroadcast(b, p, ss)
				})
			}
		}
	}
}

// arenaBroadcast creates a broadcast ring in an arena file in b.TempDir
// and returns its producer and a function that subscribes to it through
// the same arena handle.
func arenaBroadcast(b *testing.B, cfg Config) (*Broadcast, func(SubscribeOptions) (*Subscriber, error)) {
	b.Helper()
	size, err := Size(KindBroadcast, cfg, 128)
	if err != nil {
		b.Fatal(err)
	}
	a, err := arena.Create(filepath.Join(b.TempDir(), "arena"), int64(size)+1<<20, arena.WithPrefault())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	p, err := CreateBroadcast(a, "bcast", cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p, func(o SubscribeOptions) (*Subscriber, error) { return Subscribe(a, "bcast", o) }
}

// streamBroadcast pushes b.N messages through p, then closes it; each of
// subs reads until io.EOF. A tethered subscriber must get all of them; a
// lossy one's delivered plus missed must add up to b.N.
func streamBroadcast(b *testing.B, p *Broadcast, subs []*Subscriber) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(benchMsg)
	n := b.N
	delivered := make([]uint64, len(subs))
	missed := make([]uint64, len(subs))
	var wg sync.WaitGroup
	b.ResetTimer()
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, benchMsg)
			var lap *LappedError // outside the loop: errors.As makes it escape
			for {
				_, err := s.Pop(ctx, dst)
				switch {
				case err == nil:
					delivered[i]++
				case err == io.EOF:
					return
				case errors.As(err, &lap):
					missed[i] += lap.Missed
				default:
					b.Error(err)
					return
				}
			}
		}()
	}
	msg := make([]byte, benchMsg)
	for i := 0; i < n; i++ {
		if err := p.Push(ctx, msg); err != nil {
			b.Error(err)
			break
		}
	}
	if err := p.Close(); err != nil {
		b.Error(err)
	}
	wg.Wait()
	b.StopTimer()
	var got, lost uint64
	for i, s := range subs {
		if d := delivered[i] + missed[i]; d != uint64(n) || !s.Lossy() && missed[i] != 0 {
			b.Errorf("subscriber %d (lossy %v): delivered %d + missed %d, pushed %d", i, s.Lossy(), delivered[i], missed[i], n)
		}
		got += delivered[i]
		lost += missed[i]
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(got)/float64(len(subs))/sec, "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
	if subs[0].Lossy() {
		b.ReportMetric(float64(lost)/float64(len(subs))/float64(n), "lost/msg")
	}
}
