package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// childRole is the internal/xproc role of a child; its one argument is
// its childSpec, as JSON.
const childRole = "soak-child"

// progressRegion holds, per stream, a uint64 on its own progressStride
// bytes: how many messages the stream's producer has pushed (every message
// below it is in the ring or consumed). Consumers derive their floors from
// it.
const (
	progressRegion = "progress"
	progressStride = 128
)

// childSpec is what a child does.
type childSpec struct {
	Role     string // "producer" or "consumer"
	Index    int
	Arena    string
	Rings    []ringSpec
	StopAt   int64 // Unix nanoseconds: producers stop producing
	Deadline int64 // Unix nanoseconds: every wait ends, and the child with it
	Seed     uint64
	SlotSize int
	Inject   string // a fault to inject, for testing the checks
}

// ringSpec is one ring a child works on.
type ringSpec struct {
	Name     string
	Kind     string   // "spsc", "mpmc" or "records"
	Slots    int      // the ring's capacity in messages (a record ring's: in its smallest records)
	SlotSize int      // a record ring's largest record (the others': childSpec.SlotSize)
	Consumer int      // a record ring's one consumer
	Stream   uint32   // producer: the stream it writes
	Streams  []uint32 // consumer: the streams it may receive
}

// childReport is a child's final report.
type childReport struct {
	Role  string
	Index int
	Rings []ringReport
}

// ringReport is a child's account of one ring.
type ringReport struct {
	Ring     string
	Strategy string
	Stream   uint32 // producer
	Msgs     uint64 // sent (producer) or received intact and in order (consumer)
	Bytes    uint64 // their bytes (a consumer counts every message it popped)
	Popped   uint64 // consumer: every message popped
	// Consumer only: messages whose number did not increase on their
	// stream, and messages that failed their checks.
	OutOfOrder, Corrupt uint64
}

// roles are the command's child roles (xproc.Dispatch).
var roles = map[string]xproc.Role{childRole: xproc.SpecRole(func(spec childSpec) error {
	if err := runChild(spec, os.Stdout); err != nil {
		return fmt.Errorf("%s %d: %w", spec.Role, spec.Index, err)
	}
	return nil
})}

func runChild(spec childSpec, stdout io.Writer) error {
	a, err := arena.Open(spec.Arena)
	if err != nil {
		return err
	}
	defer a.Close()
	reg, err := a.Lookup(progressRegion)
	if err != nil {
		return err
	}
	prog := reg.Bytes()
	progress := func(stream uint32) *uint64 {
		off := int(stream) * progressStride
		if off+8 > len(prog) {
			return nil
		}
		return (*uint64)(unsafe.Pointer(&prog[off])) // 8-aligned: the region is pad-aligned
	}
	for _, rs := range spec.Rings {
		if spec.Role == "producer" && progress(rs.Stream) == nil {
			return fmt.Errorf("stream %d has no progress word", rs.Stream)
		}
		for _, s := range rs.Streams {
			if progress(s) == nil {
				return fmt.Errorf("stream %d has no progress word", s)
			}
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, spec.Deadline))
	defer cancel()
	out := newFrameWriter(stdout)
	reports := make([]ringReport, len(spec.Rings))
	errs := make([]error, len(spec.Rings))
	var wg sync.WaitGroup
	for i, rs := range spec.Rings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(spec.Seed, uint64(i)))
			r, err := openRing(a, rs)
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Detach() // publishes the handle's counters
			w := ring.WaitStrategy(rng.IntN(4))
			r.SetWaitStrategy(w)
			fb := &frameBuf{out: out}
			inject := "" // faults go into the first ring of the first producer or consumer only
			if spec.Index == 0 && i == 0 {
				inject = spec.Inject
			}
			if spec.Role == "producer" {
				reports[i], errs[i] = produce(ctx, r, rs, &spec, inject, rng, progress(rs.Stream))
			} else {
				reports[i], errs[i] = consume(ctx, r, rs, &spec, inject, rng, fb, progress)
			}
			reports[i].Ring, reports[i].Strategy = rs.Name, w.String()
			if err := fb.flush(); err != nil && errs[i] == nil {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rep, err := json.Marshal(childReport{Role: spec.Role, Index: spec.Index, Rings: reports})
	if err != nil {
		return err
	}
	fb := &frameBuf{out: out}
	fb.blob(tagReport, rep)
	return fb.flush()
}

func openRing(a *arena.Arena, rs ringSpec) (ring.Ring, error) {
	switch rs.Kind {
	case "spsc":
		return ring.OpenSPSC(a, rs.Name)
	case "records":
		return ring.OpenRecords(a, rs.Name)
	}
	return ring.OpenMPMC(a, rs.Name)
}

// slotSize is the largest message of ring rs.
func (spec *childSpec) slotSize(rs ringSpec) int {
	if rs.SlotSize > 0 {
		return rs.SlotSize
	}
	return spec.SlotSize
}

// Record rings: a producer holds up to maxReservations reservations at
// once (committed in any order), a consumer up to maxPipeline peeks.
const (
	maxReservations = 4
	maxPipeline     = 8
)

// pause sleeps 0-200µs now and then, so that waiters on the other side go
// through every phase of their wait strategy.
func pause(rng *rand.Rand) {
	if rng.IntN(4096) == 0 {
		time.Sleep(time.Duration(rng.IntN(200_001)))
	}
}

// produce pushes numbered messages of stream on r until spec.StopAt,
// mixing Push, TryPush, Reserve/Commit and PushBatch, and publishes its
// count in progress after every operation. On a record ring its messages
// take RecordSize lengths, and it holds several reservations at once.
func produce(ctx context.Context, r ring.Ring, rs ringSpec, spec *childSpec, inject string, rng *rand.Rand, progress *uint64) (ringReport, error) {
	rep := ringReport{Stream: rs.Stream}
	slotSize := spec.slotSize(rs)
	size := func() int { return fuzz.MessageSize(rng, slotSize) }
	if rs.Kind == "records" {
		size = func() int { return fuzz.RecordSize(rng, slotSize) }
	}
	buf := make([]byte, slotSize)
	store := make([][]byte, 16)
	for i := range store {
		store[i] = make([]byte, slotSize)
	}
	batch := make([][]byte, 0, len(store))
	var seq uint64
	injected := false
	for time.Now().UnixNano() < spec.StopAt {
		switch op := rng.IntN(100); {
		case op < 65:
			n := size()
			m := fuzz.EncodeMessage(buf, rs.Stream, seq, n)
			if !injected && seq >= 100 {
				switch inject {
				case "corrupt":
					m[n-5] ^= 0x40 // after the checksum was computed
					injected = true
				case "dup": // the same message twice
					if err := r.Push(ctx, m); err != nil {
						return rep, fmt.Errorf("push: %w", err)
					}
					injected = true
				}
			}
			var err error
			if op < 55 {
				err = r.Push(ctx, m)
			} else if err = r.TryPush(m); errors.Is(err, ring.ErrFull) {
				err = r.Push(ctx, m)
			}
			if err != nil {
				return rep, fmt.Errorf("push: %w", err)
			}
			seq++
			rep.Bytes += uint64(n)
		case op < 80 && rs.Kind == "records":
			k, nbytes, err := reserveMany(ctx, r, rng, rs.Stream, seq, size)
			seq += k
			rep.Bytes += nbytes
			if err != nil {
				return rep, err
			}
		case op < 80:
			n := size()
			res, err := r.Reserve(ctx, n)
			if err != nil {
				return rep, fmt.Errorf("reserve: %w", err)
			}
			fuzz.EncodeMessage(res.Buf, rs.Stream, seq, n)
			if err := r.Commit(res, n); err != nil {
				return rep, fmt.Errorf("commit: %w", err)
			}
			seq++
			rep.Bytes += uint64(n)
		default:
			batch = batch[:0]
			for i := range 1 + rng.IntN(len(store)) {
				n := size()
				batch = append(batch, fuzz.EncodeMessage(store[i], rs.Stream, seq+uint64(i), n))
			}
			done, err := r.PushBatch(ctx, batch)
			for _, m := range batch[:done] {
				rep.Bytes += uint64(len(m))
			}
			seq += uint64(done)
			if err != nil {
				return rep, fmt.Errorf("push batch: %w", err)
			}
		}
		// Release store: every message below seq is pushed (in the ring
		// or consumed) before a consumer reads the count.
		atomic.StoreUint64(progress, seq)
		pause(rng)
	}
	rep.Msgs = seq
	return rep, nil
}

// reserveMany reserves up to maxReservations records of a record ring at
// once, numbers seq, seq+1, ..., and commits them in a random order; it
// returns how many it committed and their bytes. Only the first waits for
// room: the consumer stops at our first uncommitted record, so room for
// another may never come while we hold it.
func reserveMany(ctx context.Context, r ring.Ring, rng *rand.Rand, stream uint32, seq uint64, size func() int) (uint64, uint64, error) {
	var res [maxReservations]ring.Reservation
	var lens [maxReservations]int
	k := 0
	for want := 1 + rng.IntN(maxReservations); k < want; k++ {
		n := size()
		var err error
		if k == 0 {
			res[k], err = r.Reserve(ctx, n)
		} else if res[k], err = r.TryReserve(n); errors.Is(err, ring.ErrFull) {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("reserve (%d held): %w", k, err)
		}
		fuzz.EncodeMessage(res[k].Buf, stream, seq+uint64(k), n)
		lens[k] = n
	}
	var nbytes uint64
	for _, i := range rng.Perm(k) {
		if err := r.Commit(res[i], lens[i]); err != nil {
			return 0, 0, fmt.Errorf("commit %d of %d reservations: %w", seq+uint64(i), k, err)
		}
		nbytes += uint64(lens[i])
	}
	return uint64(k), nbytes, nil
}

// streamState is a consumer's view of one stream.
type streamState struct {
	last       uint64
	seen       bool
	start, end uint64 // the numbers received since the last report: [start, end)
}

// consume pops from r until io.EOF, mixing Pop, PopBatch, Peek/Release
// and TryPop, checks every message, and reports what it received to the
// parent as ranges per stream, with floors derived from the producers'
// progress for rings that other consumers share.
func consume(ctx context.Context, r ring.Ring, rs ringSpec, spec *childSpec, inject string, rng *rand.Rand, fb *frameBuf, progress func(uint32) *uint64) (ringReport, error) {
	var rep ringReport
	streams := map[uint32]*streamState{}
	for _, s := range rs.Streams {
		streams[s] = &streamState{}
	}
	problems := 0
	problem := func(format string, args ...any) {
		if problems++; problems <= 10 {
			fb.blob(tagProblem, fmt.Appendf(nil, "%s: "+format, append([]any{rs.Name}, args...)...))
		}
	}
	check := func(m []byte) {
		rep.Popped++
		rep.Bytes += uint64(len(m))
		stream, seq, err := fuzz.DecodeMessage(m)
		if err != nil {
			rep.Corrupt++
			problem("%v", err)
			return
		}
		st := streams[stream]
		if st == nil {
			rep.Corrupt++
			problem("message %d of stream %d, which this ring does not carry", seq, stream)
			return
		}
		if st.seen && seq <= st.last {
			rep.OutOfOrder++
			problem("stream %d: message %d after %d", stream, seq, st.last)
			return
		}
		if inject == "drop" && seq >= 100 {
			inject = ""
			st.seen, st.last = true, seq // pretend it never came
			return
		}
		st.seen, st.last = true, seq
		rep.Msgs++
		if seq != st.end {
			if st.end > st.start {
				fb.rng(stream, st.start, st.end-st.start)
			}
			st.start = seq
		}
		st.end = seq + 1
	}
	// report sends the ranges received so far and, on a shared ring, a
	// floor per stream: at most Slots messages of a stream are unclaimed
	// at any time and they are its newest, so once its producer has
	// pushed p messages, every number below p-Slots has been claimed by
	// some consumer, and none of them will come to us.
	report := func() error {
		for s, st := range streams {
			if st.end > st.start {
				fb.rng(s, st.start, st.end-st.start)
				st.start = st.end
			}
			if rs.Kind == "mpmc" {
				// Acquire: pairs with the producer's store after its pushes.
				if p := atomic.LoadUint64(progress(s)); p > uint64(rs.Slots) {
					fb.floor(s, p-uint64(rs.Slots))
				}
			}
		}
		return fb.flush()
	}
	slotSize := spec.slotSize(rs)
	buf := make([]byte, slotSize)
	store := make([][]byte, 16)
	for i := range store {
		store[i] = make([]byte, slotSize)
	}
	bufs := make([][]byte, len(store))
	var peeks [maxPipeline]ring.Message
	since, last := 0, time.Now()
	for {
		var err error
		switch op := rng.IntN(100); {
		case op < 50:
			var n int
			if n, err = r.Pop(ctx, buf); err == nil {
				check(buf[:n])
			}
		case op < 65:
			k := 1 + rng.IntN(len(store))
			for i := range k {
				bufs[i] = store[i]
			}
			var n int
			n, err = r.PopBatch(ctx, bufs[:k])
			for _, m := range bufs[:n] {
				check(m)
			}
		case op < 72 && rs.Kind == "records":
			// Pipelined: up to maxPipeline peeks held at once (waiting
			// only for the first), released in order.
			k := 0
			for want := 2 + rng.IntN(maxPipeline-1); k < want; k++ {
				var m ring.Message
				if k == 0 {
					m, err = r.Peek(ctx)
				} else if m, err = r.TryPeek(); errors.Is(err, ring.ErrEmpty) || err == io.EOF {
					err = nil // the next call sees the end
					break
				}
				if err != nil {
					break
				}
				check(m.Data)
				peeks[k] = m
			}
			for i := 0; i < k && err == nil; i++ {
				err = r.Release(peeks[i])
			}
		case op < 80:
			var m ring.Message
			if m, err = r.Peek(ctx); err == nil {
				check(m.Data)
				err = r.Release(m)
			}
		default:
			var n int
			if n, err = r.TryPop(buf); errors.Is(err, ring.ErrEmpty) {
				n, err = r.Pop(ctx, buf)
			}
			if err == nil {
				check(buf[:n])
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", rs.Name, err)
		}
		if since++; since >= 4096 || since%64 == 0 && time.Since(last) > 5*time.Millisecond {
			if err := report(); err != nil {
				return rep, err
			}
			since, last = 0, time.Now()
		}
		pause(rng)
	}
	return rep, report()
}
