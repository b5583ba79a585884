package ring

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shmring/shmring/arena"
)

// BenchmarkRecords streams records of one size from a producer goroutine
// to a consumer goroutine through a record ring and, in the same run,
// through the fixed-slot SPSC ring with slots of that size and the same
// number of messages in flight: sub-benchmarks records/<op>/<size> and
// spsc/<op>/<size>. op is push-pop (Push copies in, Pop copies out) or
// reserve-peek (the zero-copy paths: the producer fills the reservation
// with one copy, the consumer reads every byte of the peeked message
// once). Both rings live in an arena in /dev/shm, so the record ring's
// data area is mapped twice, as in production. Nothing here asserts a
// time; docs/benchmarks.md records a run.
func BenchmarkRecords(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 1 << 20} {
		inFlight := max(8, min(1024, (8<<20)/size))
		for _, op := range []string{"push-pop", "reserve-peek"} {
			name := fmt.Sprintf("%s/%s", op, benchSizeName(size))
			b.Run("records/"+name, func(b *testing.B) {
				r := benchRecordsRing(b, size, inFlight)
				streamFrames(b, r, size, op == "reserve-peek")
			})
			b.Run("spsc/"+name, func(b *testing.B) {
				r := benchSPSCRing(b, size, inFlight)
				streamFrames(b, r, size, op == "reserve-peek")
			})
		}
	}
}

func benchSizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// benchArena creates an arena in /dev/shm (or the temp dir) for one
// sub-benchmark's ring, removed when it ends.
func benchArena(b *testing.B, spec Spec) *arena.Arena {
	b.Helper()
	dir := "/dev/shm"
	if _, err := os.Stat(dir); err != nil {
		dir = b.TempDir()
	}
	p := filepath.Join(dir, fmt.Sprintf("shmring-recbench-%d-%d", os.Getpid(), recArenaSeq.Add(1)))
	size, err := ArenaSize([]Spec{spec})
	if err != nil {
		b.Fatal(err)
	}
	a, err := arena.Create(p, size, arena.WithPrefault())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close(); os.Remove(p) })
	return a
}

// benchRecordsRing is a record ring whose capacity, the smallest power
// of two that holds inFlight records of size bytes, keeps as many in
// flight as the SPSC ring of benchSPSCRing.
func benchRecordsRing(b *testing.B, size, inFlight int) Ring {
	b.Helper()
	need := inFlight * int(span(uint64(size)))
	capacity := MinRecordCapacity
	for capacity < need || capacity/2-recordHeaderSize < size {
		capacity *= 2
	}
	cfg := Config{Capacity: capacity, SlotSize: size}
	a := benchArena(b, Spec{Kind: KindRecords, Config: cfg})
	r, err := CreateRecords(a, "rec", cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// benchSPSCRing is an SPSC ring of inFlight slots (rounded up to a power
// of two) of size bytes.
func benchSPSCRing(b *testing.B, size, inFlight int) Ring {
	b.Helper()
	slots := 2
	for slots < inFlight {
		slots *= 2
	}
	cfg := Config{Slots: slots, SlotSize: size}
	a := benchArena(b, Spec{Kind: KindSPSC, Config: cfg})
	r, err := CreateSPSC(a, "spsc", cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// streamFrames moves b.N messages of size bytes from one goroutine to
// another through r, copying (Push/Pop) or in place (Reserve/Commit,
// Peek/Release), and reports the bytes, allocations and msgs/s.
func streamFrames(b *testing.B, r Ring, size int, zeroCopy bool) {
	ctx := context.Background()
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i*7 + 1)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	n := b.N
	var wg sync.WaitGroup
	var sink byte
	b.ResetTimer()
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if !zeroCopy {
				if err := r.Push(ctx, src); err != nil {
					b.Error(err)
					return
				}
				continue
			}
			res, err := r.Reserve(ctx, size)
			if err != nil {
				b.Error(err)
				return
			}
			copy(res.Buf, src)
			if err := r.Commit(res, size); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		dst := make([]byte, size)
		var x byte
		for i := 0; i < n; i++ {
			if !zeroCopy {
				if _, err := r.Pop(ctx, dst); err != nil {
					b.Error(err)
					return
				}
				x ^= dst[size-1]
				continue
			}
			m, err := r.Peek(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			x ^= xorBytes(m.Data)
			if err := r.Release(m); err != nil {
				b.Error(err)
				return
			}
		}
		sink = x
	}()
	wg.Wait()
	b.StopTimer()
	_ = sink
	reportRate(b, n)
}

// xorBytes folds p into one byte, eight bytes at a time, so that the
// consumer reads every byte of a peeked message.
func xorBytes(p []byte) byte {
	var acc uint64
	i := 0
	for ; i+8 <= len(p); i += 8 {
		acc ^= binary.LittleEndian.Uint64(p[i:])
	}
	for ; i < len(p); i++ {
		acc ^= uint64(p[i])
	}
	return byte(acc ^ acc>>8 ^ acc>>16 ^ acc>>24 ^ acc>>32 ^ acc>>40 ^ acc>>48 ^ acc>>56)
}
