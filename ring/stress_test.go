package ring

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Stress messages carry (producer, seq) and a CRC of the rest, so the
// consumer checks integrity, exactly-once delivery and per-producer order.
//
//	0: producer uint32, 4: crc32 of [8:], 8: seq uint64, 16..: filler
const stressHeader = 16

func stressMsg(buf []byte, producer uint32, seq uint64, size int) []byte {
	m := buf[:size]
	binary.LittleEndian.PutUint32(m[0:], producer)
	binary.LittleEndian.PutUint64(m[8:], seq)
	for i := stressHeader; i < size; i++ {
		m[i] = byte(seq*31 + uint64(i))
	}
	binary.LittleEndian.PutUint32(m[4:], crc32.ChecksumIEEE(m[8:]))
	return m
}

func checkStressMsg(m []byte) (producer uint32, seq uint64, err error) {
	if len(m) < stressHeader {
		return 0, 0, fmt.Errorf("message of %d bytes", len(m))
	}
	if crc32.ChecksumIEEE(m[8:]) != binary.LittleEndian.Uint32(m[4:]) {
		return 0, 0, fmt.Errorf("checksum mismatch")
	}
	return binary.LittleEndian.Uint32(m[0:]), binary.LittleEndian.Uint64(m[8:]), nil
}

// stressCount is the number of messages of each stress test, 1,000,000 as
// the contract asks, fewer with -short.
func stressCount() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

func TestStressSPSC(t *testing.T) {
	seed := testSeed(t)
	total := stressCount()
	const slotSize = 96
	r, mem := newHeapRing(t, kindSPSC, Config{Slots: 256, SlotSize: slotSize})
	cons := attachHeap(t, kindSPSC, mem) // a second handle, as another process would have
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() { // producer: mixes single pushes, batches and reservations
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seed, 1))
		buf := make([]byte, slotSize)
		batch := make([][]byte, 0, 16)
		store := make([][]byte, 16)
		for i := range store {
			store[i] = make([]byte, slotSize)
		}
		r.SetWaitStrategy(WaitStrategy(rng.IntN(4)))
		for seq := 0; seq < total; {
			size := stressHeader + rng.IntN(slotSize-stressHeader+1)
			switch rng.IntN(3) {
			case 0:
				if err := r.Push(ctx, stressMsg(buf, 0, uint64(seq), size)); err != nil {
					errc <- err
					return
				}
				seq++
			case 1:
				batch = batch[:0]
				for j := 0; j < 1+rng.IntN(16) && seq+j < total; j++ {
					batch = append(batch, stressMsg(store[j], 0, uint64(seq+j), stressHeader+rng.IntN(slotSize-stressHeader+1)))
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
				stressMsg(res.Buf, 0, uint64(seq), size)
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
		rng := rand.New(rand.NewPCG(seed, 2))
		cons.SetWaitStrategy(WaitStrategy(rng.IntN(4)))
		dst := make([]byte, slotSize)
		bufs := make([][]byte, 8)
		next := uint64(0)
		check := func(m []byte) error {
			_, seq, err := checkStressMsg(m)
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
				var m Message
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
	seed := testSeed(t)
	const producers, consumers, slotSize = 4, 4, 64
	total := stressCount()
	per := total / producers
	r, mem := newHeapRing(t, kindMPMC, Config{Slots: 128, SlotSize: slotSize})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Half the goroutines share the creating handle, half attach their own.
	handle := func(i int) Ring {
		if i%2 == 0 {
			return r
		}
		return attachHeap(t, kindMPMC, mem)
	}
	var pwg, cwg sync.WaitGroup
	errc := make(chan error, producers+consumers)
	for p := 0; p < producers; p++ {
		pwg.Add(1)
		h := handle(p)
		go func(p int) {
			defer pwg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(p)))
			buf := make([]byte, slotSize)
			store := make([][]byte, 8)
			for i := range store {
				store[i] = make([]byte, slotSize)
			}
			for seq := 0; seq < per; {
				size := stressHeader + rng.IntN(slotSize-stressHeader+1)
				if rng.IntN(4) == 0 {
					batch := store[:0:0]
					for j := 0; j < 1+rng.IntN(8) && seq+j < per; j++ {
						batch = append(batch, stressMsg(store[j], uint32(p), uint64(seq+j), size))
					}
					n, err := h.PushBatch(ctx, batch)
					if err != nil {
						errc <- err
						return
					}
					seq += n
					continue
				}
				if err := h.Push(ctx, stressMsg(buf, uint32(p), uint64(seq), size)); err != nil {
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
					p, seq, err := checkStressMsg(m)
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
