package fuzz_test

// Stress harnesses over the public API: one producer and one consumer
// (SPSC), four of each (MPMC), every operation kind mixed at random, and
// every message checked for integrity, exactly-once delivery and
// per-producer order (messages from fuzz.EncodeMessage: stream = producer,
// seq, length, CRC-32C). ring's TestHarnessCatchesBrokenRing builds this
// package with -tags shmring_broken and requires TestStressMPMC to fail.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/seed"
	"github.com/shmring/shmring/ring"
)

// stressCount is the number of messages of each stress test, 1,000,000 as
// the contract asks, fewer with -short.
func stressCount() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

func TestStressSPSC(t *testing.T) {
	base := seed.Test(t)
	total := stressCount()
	const slotSize = 96
	r, mem := newHeapRing(t, ring.KindSPSC, ring.Config{Slots: 256, SlotSize: slotSize})
	cons := attachHeapRing(t, ring.KindSPSC, mem) // a second handle, as another process would have
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() { // producer: mixes single pushes, batches and reservations
		defer wg.Done()
		rng := rand.New(rand.NewPCG(base, 1))
		buf := make([]byte, slotSize)
		batch := make([][]byte, 0, 16)
		store := make([][]byte, 16)
		for i := range store {
			store[i] = make([]byte, slotSize)
		}
		r.SetWaitStrategy(ring.WaitStrategy(rng.IntN(4)))
		for seq := 0; seq < total; {
			size := fuzz.MinMessage + rng.IntN(slotSize-fuzz.MinMessage+1)
			switch rng.IntN(3) {
			case 0:
				if err := r.Push(ctx, fuzz.EncodeMessage(buf, 0, uint64(seq), size)); err != nil {
					errc <- err
					return
				}
				seq++
			case 1:
				batch = batch[:0]
				for j := 0; j < 1+rng.IntN(16) && seq+j < total; j++ {
					batch = append(batch, fuzz.EncodeMessage(store[j], 0, uint64(seq+j), fuzz.MinMessage+rng.IntN(slotSize-fuzz.MinMessage+1)))
				}
				n, err := r.PushBatch(ctx, batch)
				if err != nil {
					errc <- err
					return
				}
				seq += n
			case 2:
				res, err := r.Reserve(ctx, size)
				if err != nil {
					errc <- err
					return
				}
				fuzz.EncodeMessage(res.Buf, 0, uint64(seq), size)
				if err := r.Commit(res, size); err != nil {
					errc <- err
					return
				}
				seq++
			}
		}
		errc <- r.CloseWrite()
	}()
	go func() { // consumer: mixes Pop, batches and peeks
		defer wg.Done()
		rng := rand.New(rand.NewPCG(base, 2))
		cons.SetWaitStrategy(ring.WaitStrategy(rng.IntN(4)))
		dst := make([]byte, slotSize)
		bufs := make([][]byte, 8)
		next := uint64(0)
		check := func(m []byte) error {
			_, seq, err := fuzz.DecodeMessage(m)
			if err != nil {
				return fmt.Errorf("message %d: %w", next, err)
			}
			if seq != next {
				return fmt.Errorf("got seq %d, want %d", seq, next)
			}
			next++
			return nil
		}
		for {
			var err error
			switch rng.IntN(3) {
			case 0:
				var n int
				if n, err = cons.Pop(ctx, dst); err == nil {
					err = check(dst[:n])
				}
			case 1:
				for i := range bufs {
					bufs[i] = make([]byte, 0, slotSize)
				}
				var n int
				if n, err = cons.PopBatch(ctx, bufs); err == nil {
					for _, b := range bufs[:n] {
						if err = check(b); err != nil {
							break
						}
					}
				}
			case 2:
				var m ring.Message
				if m, err = cons.Peek(ctx); err == nil {
					if err = check(m.Data); err == nil {
						err = cons.Release(m)
					}
				}
			}
			if err == io.EOF {
				if next != uint64(total) {
					err = fmt.Errorf("EOF after %d of %d messages", next, total)
				} else {
					err = nil
				}
				errc <- err
				return
			}
			if err != nil {
				errc <- err
				cancel() // stop the producer too
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := r.Stats()
	if st.MsgsIn != uint64(total) || st.MsgsOut != uint64(total) {
		t.Fatalf("stats %+v", st)
	}
}

func TestStressMPMC(t *testing.T) {
	base := seed.Test(t)
	const producers, consumers, slotSize = 4, 4, 64
	total := stressCount()
	per := total / producers
	r, mem := newHeapRing(t, ring.KindMPMC, ring.Config{Slots: 128, SlotSize: slotSize})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Half the goroutines share the creating handle, half attach their own.
	handle := func(i int) ring.Ring {
		if i%2 == 0 {
			return r
		}
		return attachHeapRing(t, ring.KindMPMC, mem)
	}
	var pwg, cwg sync.WaitGroup
	errc := make(chan error, producers+consumers)
	for p := 0; p < producers; p++ {
		pwg.Add(1)
		h := handle(p)
		go func(p int) {
			defer pwg.Done()
			rng := rand.New(rand.NewPCG(base, uint64(p)))
			buf := make([]byte, slotSize)
			store := make([][]byte, 8)
			for i := range store {
				store[i] = make([]byte, slotSize)
			}
			for seq := 0; seq < per; {
				size := fuzz.MinMessage + rng.IntN(slotSize-fuzz.MinMessage+1)
				if rng.IntN(4) == 0 {
					batch := store[:0:0]
					for j := 0; j < 1+rng.IntN(8) && seq+j < per; j++ {
						batch = append(batch, fuzz.EncodeMessage(store[j], uint32(p), uint64(seq+j), size))
					}
					n, err := h.PushBatch(ctx, batch)
					if err != nil {
						errc <- err
						return
					}
					seq += n
					continue
				}
				if err := h.Push(ctx, fuzz.EncodeMessage(buf, uint32(p), uint64(seq), size)); err != nil {
					errc <- err
					return
				}
				seq++
			}
		}(p)
	}
	got := make([][][]uint64, consumers) // per consumer, per producer: seqs seen
	for c := 0; c < consumers; c++ {
		cwg.Add(1)
		h := handle(c + 1)
		go func(c int) {
			defer cwg.Done()
			last := make([]int64, producers)
			for i := range last {
				last[i] = -1
			}
			counts := make([][]uint64, producers)
			dst := make([]byte, slotSize)
			bufs := make([][]byte, 4)
			for {
				var msgs [][]byte
				if c%2 == 0 {
					n, err := h.Pop(ctx, dst)
					if err == io.EOF {
						break
					}
					if err != nil {
						errc <- err
						return
					}
					msgs = [][]byte{dst[:n]}
				} else {
					for i := range bufs {
						bufs[i] = make([]byte, 0, slotSize)
					}
					n, err := h.PopBatch(ctx, bufs)
					if err == io.EOF {
						break
					}
					if err != nil {
						errc <- err
						return
					}
					msgs = bufs[:n]
				}
				for _, m := range msgs {
					p, seq, err := fuzz.DecodeMessage(m)
					if err != nil || p >= producers {
						errc <- fmt.Errorf("consumer %d: bad message (%v, producer %d)", c, err, p)
						return
					}
					if int64(seq) <= last[p] {
						errc <- fmt.Errorf("consumer %d: producer %d seq %d after %d: FIFO broken", c, p, seq, last[p])
						return
					}
					last[p] = int64(seq)
					counts[p] = append(counts[p], seq)
				}
			}
			got[c] = counts
		}(c)
	}
	pwg.Wait()
	r.CloseWrite()
	cwg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	// Exactly once: merge every consumer's log; each (producer, seq) must
	// appear exactly once.
	for p := 0; p < producers; p++ {
		seen := make([]bool, per)
		n := 0
		for c := 0; c < consumers; c++ {
			if got[c] == nil {
				continue
			}
			for _, seq := range got[c][p] {
				if seq >= uint64(per) || seen[seq] {
					t.Fatalf("producer %d seq %d delivered twice or out of range", p, seq)
				}
				seen[seq] = true
				n++
			}
		}
		if n != per {
			t.Errorf("producer %d: %d delivered, want %d", p, n, per)
		}
	}
	st := r.Stats()
	if st.MsgsIn != uint64(producers*per) || st.MsgsOut != st.MsgsIn {
		t.Fatalf("stats %+v", st)
	}
}
