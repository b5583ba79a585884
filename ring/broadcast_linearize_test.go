package ring

// Linearizability of the broadcast ring under concurrency, checked with
// porcupine (fuzz/linearize.go does the same for the queue kinds): one
// producer goroutine and several subscriber goroutines over heap memory
// record every operation with its call and return times, and the history
// must be linearizable to bcastLinModel, a sequential broadcast:
//
//   - the producer's pushes are the positions 0, 1, 2, ... in order; a
//     push succeeds only while no live tethered subscriber is Slots
//     behind, and answers ErrFull only while one is;
//   - a tethered subscriber reads an exact run of positions from its
//     join on (no gap, no repeat, never lapped);
//   - a lossy subscriber reads an in-order subsequence: a message only
//     while the producer has not come round to rewrite it (count <= v +
//     Slots), and the gaps are exactly the Missed of its laps, each
//     taking it to count + 1 - Slots (subscriber.go's formula, with the
//     tail read at the lap);
//   - ErrEmpty only with nothing new, io.EOF only at the end of a closed
//     stream; a subscriber joins at count (Newest) or max(count - Slots,
//     0) (Oldest).
//
// One relaxation (pending publish): a push takes effect when its slot's
// Seq is stored, where subscribers can take the message, but the producer
// publishes its tail after that, and a subscriber that reads the tail
// (to join, or to find where a lap lands) may find it one message behind.
// So a lap may land at count - Slots as well, and a join at count - 1
// (Newest) or count - 1 - Slots (Oldest) as well: the oldest message
// still whole, and the one a concurrent reader may already have taken.
// And one more allowance: ErrFull while a tethered subscriber's join
// overlaps the push (blIn.JoinOverlaps).
//
// The producer pushes one message per operation (TryPush, Push,
// TryReserve/Commit, Reserve/Commit): a batch writes several slots before
// its one publish, and a lap that sees one of them is not a step of a
// sequential broadcast with atomic batches.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Operation kinds of a broadcast history.
type blKind uint8

const (
	blPush  blKind = 1 + iota // producer: push Value
	blPop                     // subscriber Sub: one message (TryPop, Pop, Peek/Release)
	blJoin                    // subscriber Sub joins (From, Lossy); Out.Value is its cursor
	blLeave                   // subscriber Sub closes
	blClose                   // the producer ends the stream
)

// Results.
type blResult uint8

const (
	blOK blResult = 1 + iota
	blFull
	blClosed
	blEmpty
	blEOF
	blLapped // Out.Value is Missed
)

// blMaxSubs bounds the subscribers of one history (the state's arrays).
const blMaxSubs = 8

type blIn struct {
	Kind  blKind
	Sub   int
	Value uint64 // blPush: the position pushed
	From  JoinAt
	Lossy bool
	// JoinOverlaps: a tethered subscriber's join overlaps this push. A
	// producer that loads the new subscriber's cursor between its two
	// stores (the join tail's first read, then the second: subscriber.go)
	// may find the ring full at the first, so ErrFull is allowed then.
	JoinOverlaps bool
}

type blOut struct {
	Res   blResult
	Value uint64 // blPop OK: the position read; blLapped: Missed; blJoin: the cursor
}

// blState is the sequential broadcast: messages published, closed, and
// each subscriber's cursor. A value type: porcupine compares with ==.
type blState struct {
	count  uint64
	closed bool
	cursor [blMaxSubs]uint64
	state  [blMaxSubs]uint8 // 0 not joined, blTethered or blLossy, | blLeft
}

const (
	blTethered = 1
	blLossy    = 2
	blLeft     = 4
)

// bcastLinModel is the porcupine model of a broadcast ring of the given
// number of slots.
func bcastLinModel(slots uint64) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return blState{} },
		Step: func(st, in, out any) (bool, any) {
			return blStep(st.(blState), in.(blIn), out.(blOut), slots)
		},
		Hash: func(st any) uint64 {
			s := st.(blState)
			h := fnv.New64a()
			fmt.Fprint(h, s.count, s.closed, s.cursor, s.state)
			return h.Sum64()
		},
		DescribeOperation: func(in, out any) string {
			i, o := in.(blIn), out.(blOut)
			switch i.Kind {
			case blPush:
				return fmt.Sprintf("push(%d) -> %v", i.Value, o.Res)
			case blPop:
				return fmt.Sprintf("s%d pop() -> %v %d", i.Sub, o.Res, o.Value)
			case blJoin:
				return fmt.Sprintf("s%d join(%v, lossy %v) -> cursor %d", i.Sub, i.From, i.Lossy, o.Value)
			case blLeave:
				return fmt.Sprintf("s%d leave()", i.Sub)
			}
			return "close()"
		},
		DescribeState: func(st any) string {
			s := st.(blState)
			var b strings.Builder
			fmt.Fprintf(&b, "count %d closed %v", s.count, s.closed)
			for i, f := range s.state {
				if f != 0 {
					fmt.Fprintf(&b, " s%d@%d/%d", i, s.cursor[i], f)
				}
			}
			return b.String()
		},
	}
}

func (r blResult) String() string {
	return [...]string{"?", "ok", "full", "closed", "empty", "eof", "lapped"}[min(int(r), 6)]
}

// blStep is the sequential specification. It never changes s in place
// (s is a copy).
func blStep(s blState, in blIn, out blOut, slots uint64) (bool, blState) {
	live := func(i int) bool { return s.state[i] != 0 && s.state[i]&blLeft == 0 }
	behind := false // a live tethered subscriber is a ring behind
	for i := range s.state {
		if live(i) && s.state[i]&blTethered != 0 && s.count-s.cursor[i] >= slots {
			behind = true
		}
	}
	switch in.Kind {
	case blPush:
		switch out.Res {
		case blOK:
			if s.closed || behind || in.Value != s.count {
				return false, s
			}
			s.count++
			return true, s
		case blFull:
			return !s.closed && (behind || in.JoinOverlaps), s
		case blClosed:
			return s.closed, s
		}
	case blPop:
		i := in.Sub
		if !live(i) {
			return false, s
		}
		lossy := s.state[i]&blLossy != 0
		c := s.cursor[i]
		switch out.Res {
		case blOK:
			// A lossy subscriber reads v only before the producer came
			// round to it: v+Slots not yet published.
			if out.Value != c || c >= s.count || lossy && s.count > c+slots {
				return false, s
			}
			s.cursor[i]++
			return true, s
		case blEmpty:
			return !s.closed && c == s.count, s
		case blEOF:
			return s.closed && c == s.count, s
		case blLapped:
			// Where it lands: at the oldest message still in the ring (a
			// ring behind the tail, or one after that with a publish
			// pending), or, lapped again before reading anything, further
			// on (lapSlack), never past the tail.
			next := c + out.Value
			// The producer must have come round to c: c+Slots published,
			// or (pending publish) being written.
			if !lossy || out.Value == 0 || s.count < c+slots || next+slots < s.count || next > s.count {
				return false, s
			}
			s.cursor[i] = next
			return true, s
		}
	case blJoin:
		i := in.Sub
		if s.state[i] != 0 {
			return false, s
		}
		// At the tail, or (pending publish) one behind it.
		want, pending := s.count, s.count-min(s.count, 1)
		if in.From == Oldest {
			want -= min(want, slots)
			pending -= min(pending, slots)
		}
		if out.Value != want && out.Value != pending {
			return false, s
		}
		s.state[i], s.cursor[i] = blTethered, out.Value
		if in.Lossy {
			s.state[i] = blLossy
		}
		return true, s
	case blLeave:
		if !live(in.Sub) {
			return false, s
		}
		s.state[in.Sub] |= blLeft
		return true, s
	case blClose:
		s.closed = true
		return true, s
	}
	return false, s
}

// blClient records one goroutine's operations.
type blClient struct {
	id   int
	base time.Time
	ops  []porcupine.Operation
}

func (c *blClient) now() int64 { return int64(time.Since(c.base)) }

func (c *blClient) add(in blIn, out blOut, call, ret int64) {
	c.ops = append(c.ops, porcupine.Operation{ClientId: c.id, Input: in, Output: out, Call: call, Return: ret})
}

// blSub is how one subscriber of a history behaves.
type blSub struct {
	opt    SubscribeOptions
	joinAt uint64 // joins once the producer has pushed this many (0: before it starts)
	peek   bool   // reads with TryPeek/Release (and Peek) instead of TryPop (and Pop)
	slow   bool   // pauses now and then: gets lapped if lossy
	leave  int    // closes after this many messages (0: reads to the end)
}

// recordBroadcast runs one producer and the subscribers subs over a ring
// of cfg (SlotSize a multiple of 8, for zeroCopyIn), n messages, and
// returns the history.
func recordBroadcast(t *testing.T, cfg Config, n int, subs []blSub, seed uint64) []porcupine.Operation {
	t.Helper()
	b, mem := newHeapBroadcast(t, cfg)
	base := time.Now()
	prod := &blClient{id: 0, base: base}
	var pushed atomic.Uint64
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := make([]*blClient, len(subs))
	handles := make([]*Subscriber, len(subs))
	join := func(i int) error {
		c := clients[i]
		call := c.now()
		s, err := AttachSubscriber(mem, subs[i].opt)
		ret := c.now()
		if err != nil {
			return err
		}
		handles[i] = s
		// The cursor is the subscriber's own, read by its goroutine.
		c.add(blIn{Kind: blJoin, Sub: i, From: subs[i].opt.From, Lossy: subs[i].opt.Lossy}, blOut{Value: s.s.cursor}, call, ret)
		return nil
	}
	for i := range subs {
		clients[i] = &blClient{id: i + 1, base: base}
		if subs[i].joinAt == 0 {
			if err := join(i); err != nil {
				t.Fatal(err)
			}
		}
	}
	errs := make(chan error, len(subs)+1)
	var wg sync.WaitGroup
	// joined: the subscribers that join while the producer runs have
	// joined (or given up) before it closes the stream. An attach reads
	// the header's Closed word, which Close stores, with a plain copy
	// (readHeader): concurrent, the race detector reports that race
	// (TestAttachConcurrentWithClose, broadcast_bugs_test.go).
	var joined sync.WaitGroup
	for i := range subs {
		wg.Add(1)
		done := func() {}
		if subs[i].joinAt > 0 {
			joined.Add(1)
			done = sync.OnceFunc(joined.Done)
		}
		go func() {
			defer wg.Done()
			defer done()
			join := func(i int) error {
				defer done()
				return join(i)
			}
			if err := blSubscribe(ctx, clients[i], i, subs[i], &pushed, join, func() *Subscriber { return handles[i] }, seed); err != nil {
				errs <- fmt.Errorf("subscriber %d: %w", i, err)
				cancel()
			}
		}()
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	buf := make([]byte, cfg.SlotSize)
	if err := blProduce(ctx, prod, b, n, rng, buf, &pushed, joined.Wait); err != nil {
		errs <- fmt.Errorf("producer: %w", err)
		cancel()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	ops := prod.ops
	for _, c := range clients {
		ops = append(ops, c.ops...)
	}
	return ops
}

func blProduce(ctx context.Context, c *blClient, b *Broadcast, n int, rng *rand.Rand, buf []byte, pushed *atomic.Uint64, beforeClose func()) error {
	for v := uint64(0); v < uint64(n); v++ {
		msg := seqMsg(buf, v, 12+rng.IntN(len(buf)-11))
		zeroCopy := rng.IntN(5) == 0
		call := c.now()
		var err error
		if zeroCopy {
			var res Reservation
			if res, err = b.TryReserve(len(msg)); err == nil {
				zeroCopyIn(res.Buf, msg)
				err = b.Commit(res, len(msg))
			}
		} else {
			err = b.TryPush(msg)
		}
		ret := c.now()
		in := blIn{Kind: blPush, Value: v}
		switch err {
		case nil:
			c.add(in, blOut{Res: blOK}, call, ret)
			pushed.Store(v + 1)
			continue
		case ErrFull:
			c.add(in, blOut{Res: blFull}, call, ret)
		default:
			return fmt.Errorf("push %d: %w", v, err)
		}
		call = c.now()
		if zeroCopy {
			var res Reservation
			if res, err = b.Reserve(ctx, len(msg)); err == nil {
				zeroCopyIn(res.Buf, msg)
				err = b.Commit(res, len(msg))
			}
		} else {
			err = b.Push(ctx, msg)
		}
		ret = c.now()
		if err != nil {
			return fmt.Errorf("blocking push %d: %w", v, err)
		}
		c.add(in, blOut{Res: blOK}, call, ret)
		pushed.Store(v + 1)
	}
	beforeClose()
	call := c.now()
	err := b.Close()
	c.add(blIn{Kind: blClose}, blOut{Res: blOK}, call, c.now())
	return err
}

// blSubscribe is one subscriber's goroutine: join when its time comes,
// then read until io.EOF (or leave), alternating a Try call with, after
// ErrEmpty, a blocking one.
func blSubscribe(ctx context.Context, c *blClient, i int, sc blSub, pushed *atomic.Uint64,
	join func(int) error, handle func() *Subscriber, seed uint64) error {
	if sc.joinAt > 0 {
		for pushed.Load() < sc.joinAt {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			runtime.Gosched()
		}
		if err := join(i); err != nil {
			return err
		}
	}
	s := handle()
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	buf := make([]byte, s.SlotSize())
	blocking, got := false, 0
	for {
		if sc.leave > 0 && got >= sc.leave {
			call := c.now()
			err := s.Close()
			c.add(blIn{Kind: blLeave, Sub: i}, blOut{Res: blOK}, call, c.now())
			return err
		}
		call := c.now()
		var n int
		var err error
		var data []byte
		switch {
		case sc.peek:
			var m Message
			if blocking {
				m, err = s.Peek(ctx)
			} else {
				m, err = s.TryPeek()
			}
			if err == nil {
				data = buf[:len(m.Data)]
				sharedCopyOut(data, m.Data) // a lossy reader's copy races the producer by design
				err = s.Release(m)
			}
		case blocking:
			n, err = s.Pop(ctx, buf)
			data = buf[:n]
		default:
			n, err = s.TryPop(buf)
			data = buf[:n]
		}
		ret := c.now()
		in := blIn{Kind: blPop, Sub: i}
		var lap *LappedError
		switch {
		case err == nil:
			v, terr := checkSeqMsg(data)
			if terr != nil {
				return fmt.Errorf("message after %d: %w", got, terr)
			}
			c.add(in, blOut{Res: blOK, Value: v}, call, ret)
			got++
		case errors.As(err, &lap):
			c.add(in, blOut{Res: blLapped, Value: lap.Missed}, call, ret)
		case err == ErrEmpty:
			c.add(in, blOut{Res: blEmpty}, call, ret)
		case err == io.EOF:
			c.add(in, blOut{Res: blEOF}, call, ret)
			return s.Close()
		default:
			return err
		}
		blocking = err == ErrEmpty
		if sc.slow && rng.IntN(8) == 0 {
			time.Sleep(time.Duration(20+rng.IntN(200)) * time.Microsecond)
		}
	}
}

// zeroCopyIn writes msg into a reservation's Buf as the ring's own copies
// do (seqlock.go): a lossy subscriber may be reading the message the slot
// held, a race the seqlock settles, and which the race detector would
// report for plain stores.
func zeroCopyIn(buf, msg []byte) { sharedCopyIn(buf[:len(msg)], msg) }

// annotate fills in JoinOverlaps.
func annotate(ops []porcupine.Operation) []porcupine.Operation {
	for k, o := range ops {
		in := o.Input.(blIn)
		if in.Kind != blPush {
			continue
		}
		for _, j := range ops {
			ji := j.Input.(blIn)
			if ji.Kind == blJoin && !ji.Lossy && j.Call <= o.Return && o.Call <= j.Return {
				in.JoinOverlaps = true
			}
		}
		ops[k].Input = in
	}
	return ops
}

// checkBroadcastHistory checks ops with porcupine; on failure it writes
// the visualization to a file that outlives the test and names it.
func checkBroadcastHistory(slots uint64, ops []porcupine.Operation, timeout time.Duration) (porcupine.CheckResult, string) {
	model := bcastLinModel(slots)
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res == porcupine.Ok {
		return res, ""
	}
	where := "(no visualization)"
	if f, err := os.CreateTemp("", "shmring-broadcast-linearize-*.html"); err == nil {
		f.Close()
		if err := porcupine.VisualizePath(model, info, f.Name()); err == nil {
			where = "visualization: " + f.Name()
		}
	}
	return res, where
}

// blScenario is the subscribers of a history: two tethered from the
// start (one reading through Peek/Release and leaving early), a slow
// lossy one from the start, a lossy one joining Oldest and a tethered one
// joining Newest while the producer runs.
func blScenario(n int) []blSub {
	return []blSub{
		{opt: SubscribeOptions{From: Oldest}},
		{opt: SubscribeOptions{From: Oldest}, peek: true, leave: n / 3},
		{opt: SubscribeOptions{From: Oldest, Lossy: true}, slow: true},
		{opt: SubscribeOptions{From: Oldest, Lossy: true}, joinAt: uint64(n / 4), peek: true, slow: true},
		{opt: SubscribeOptions{From: Newest}, joinAt: uint64(n / 2)},
	}
}

// TestBroadcastLinearizable records concurrent histories and checks each
// with porcupine.
func TestBroadcastLinearizable(t *testing.T) {
	seed := testSeed(t)
	rounds, n := 6, 400
	if testing.Short() {
		rounds, n = 3, 200
	}
	for round := 0; round < rounds; round++ {
		slots := []int{2, 4, 8}[round%3]
		cfg := Config{Slots: slots, SlotSize: 64, Subscribers: 6}
		ops := annotate(recordBroadcast(t, cfg, n, blScenario(n), seed+uint64(round)))
		start := time.Now()
		res, where := checkBroadcastHistory(uint64(slots), ops, time.Minute)
		var laps, fulls int
		for _, o := range ops {
			switch o.Output.(blOut).Res {
			case blLapped:
				laps++
			case blFull:
				fulls++
			}
		}
		t.Logf("round %d: %d slots, %d operations (%d full, %d laps), checked in %v: %s",
			round, slots, len(ops), fulls, laps, time.Since(start).Round(time.Millisecond), res)
		if res != porcupine.Ok {
			t.Fatalf("round %d (%d slots): history is %s; %s\n%s", round, slots, res, where, formatBroadcastHistory(ops))
		}
	}
}

func formatBroadcastHistory(ops []porcupine.Operation) string {
	s := slices.Clone(ops)
	slices.SortFunc(s, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
	m := bcastLinModel(1)
	var b strings.Builder
	for _, o := range s {
		fmt.Fprintf(&b, "  c%d %s [%d,%d]\n", o.ClientId, m.DescribeOperation(o.Input, o.Output), o.Call, o.Return)
	}
	return b.String()
}

// blHistory builds sequential histories by hand: each operation is
// called after the previous one returned.
type blHistory struct {
	ops []porcupine.Operation
	t   int64
}

func (h *blHistory) add(client int, in blIn, out blOut) *blHistory {
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: h.t, Return: h.t + 1})
	h.t += 2
	return h
}

func (h *blHistory) join(sub int, from JoinAt, lossy bool, cursor uint64) *blHistory {
	return h.add(sub+1, blIn{Kind: blJoin, Sub: sub, From: from, Lossy: lossy}, blOut{Value: cursor})
}

func (h *blHistory) push(v uint64, res blResult) *blHistory {
	return h.add(0, blIn{Kind: blPush, Value: v}, blOut{Res: res})
}

func (h *blHistory) pushes(from, to uint64) *blHistory {
	for v := from; v < to; v++ {
		h.push(v, blOK)
	}
	return h
}

func (h *blHistory) pop(sub int, res blResult, v uint64) *blHistory {
	return h.add(sub+1, blIn{Kind: blPop, Sub: sub}, blOut{Res: res, Value: v})
}

func (h *blHistory) close() *blHistory { return h.add(0, blIn{Kind: blClose}, blOut{Res: blOK}) }

// TestBroadcastLinearizeRejects makes sure the checker can fail: a good
// hand-made history passes, and each planted fault in it, or in a
// recorded history, is rejected.
func TestBroadcastLinearizeRejects(t *testing.T) {
	const slots = 4
	// s0 tethered, s1 lossy, both from 0.
	base := func() *blHistory {
		return (&blHistory{}).join(0, Oldest, false, 0).join(1, Oldest, true, 0)
	}
	good := base().pushes(0, 4).push(4, blFull).pop(0, blOK, 0).push(4, blOK).pushes(5, 5).
		pop(1, blLapped, 2).pop(1, blOK, 2).pop(0, blOK, 1).push(5, blOK).close().
		pop(0, blOK, 2).pop(0, blOK, 3).pop(0, blOK, 4).pop(0, blOK, 5).pop(0, blEOF, 0).
		pop(1, blOK, 3).pop(1, blOK, 4).pop(1, blOK, 5).pop(1, blEOF, 0)
	if res, where := checkBroadcastHistory(slots, good.ops, 10*time.Second); res != porcupine.Ok {
		t.Fatalf("the good history is %s (%s):\n%s", res, where, formatBroadcastHistory(good.ops))
	}
	// s1 lossy from 0, alone: the producer never waits.
	lossy := func() *blHistory { return (&blHistory{}).join(1, Oldest, true, 0) }
	bad := map[string]*blHistory{
		"tethered-gap":        base().pushes(0, 3).pop(0, blOK, 0).pop(0, blOK, 2),
		"tethered-repeat":     base().pushes(0, 3).pop(0, blOK, 0).pop(0, blOK, 0),
		"tethered-lapped":     base().pushes(0, 4).pop(0, blLapped, 1),
		"tethered-overrun":    base().pushes(0, 5),
		"full-with-room":      base().pushes(0, 2).push(2, blFull),
		"lossy-missed-off":    lossy().pushes(0, 6).pop(1, blLapped, 1), // 3 (or 2, pending publish)
		"lossy-early-lap":     lossy().pushes(0, 1).pop(1, blLapped, 1),
		"lossy-overwritten":   lossy().pushes(0, 6).pop(1, blOK, 0),
		"lossy-after-lap":     lossy().pushes(0, 6).pop(1, blLapped, 3).pop(1, blOK, 2),
		"lossy-out-of-order":  base().pushes(0, 3).pop(1, blOK, 1),
		"pop-before-push":     base().pop(0, blOK, 0).push(0, blOK),
		"empty-with-messages": base().pushes(0, 1).pop(0, blEmpty, 0),
		"eof-before-drain":    base().pushes(0, 2).close().pop(0, blOK, 0).pop(0, blEOF, 0),
		"eof-not-closed":      base().pushes(0, 1).pop(0, blOK, 0).pop(0, blEOF, 0),
		"push-after-close":    base().pushes(0, 1).close().push(1, blOK),
		"join-newest-behind":  base().pushes(0, 3).join(2, Newest, false, 1),
		"join-oldest-wrong":   base().pushes(0, 2).pop(0, blOK, 0).pop(0, blOK, 1).pushes(2, 6).join(2, Oldest, true, 3),
	}
	for name, h := range bad {
		if res, _ := checkBroadcastHistory(slots, h.ops, 10*time.Second); res != porcupine.Illegal {
			t.Errorf("planted fault %q: checker says %s, want Illegal:\n%s", name, res, formatBroadcastHistory(h.ops))
		}
	}

	// Faults planted in a recorded history: one subscriber's message
	// changed, two swapped, a lap's Missed changed, a message answered
	// before it was pushed.
	seed := testSeed(t)
	n := 120
	rec := annotate(recordBroadcast(t, Config{Slots: slots, SlotSize: 64, Subscribers: 6}, n, blScenario(n), seed))
	if res, where := checkBroadcastHistory(slots, rec, time.Minute); res != porcupine.Ok {
		t.Fatalf("recorded history is %s; %s", res, where)
	}
	find := func(f func(porcupine.Operation) bool) int {
		return slices.IndexFunc(rec, f)
	}
	popOK := func(sub int, from uint64) func(porcupine.Operation) bool {
		return func(o porcupine.Operation) bool {
			in, out := o.Input.(blIn), o.Output.(blOut)
			return in.Kind == blPop && in.Sub == sub && out.Res == blOK && out.Value >= from
		}
	}
	mutate := func(name string, i int, f func(*porcupine.Operation)) {
		t.Helper()
		if i < 0 {
			t.Fatalf("planted fault %q: no operation to plant it in", name)
		}
		h := slices.Clone(rec)
		f(&h[i])
		if res, _ := checkBroadcastHistory(slots, h, time.Minute); res != porcupine.Illegal {
			t.Errorf("planted fault %q in a recorded history (operation %d): checker says %s, want Illegal", name, i, res)
		}
	}
	mutate("tethered-skip", find(popOK(0, 5)), func(o *porcupine.Operation) {
		out := o.Output.(blOut)
		out.Value++
		o.Output = out
	})
	i := find(popOK(0, 10))
	mutate("tethered-repeat", i, func(o *porcupine.Operation) {
		out := o.Output.(blOut)
		out.Value--
		o.Output = out
	})
	mutate("tethered-before-push", i, func(o *porcupine.Operation) {
		// Answered before the producer was even called for it.
		v := o.Output.(blOut).Value
		p := find(func(p porcupine.Operation) bool {
			in := p.Input.(blIn)
			return in.Kind == blPush && in.Value == v
		})
		o.Call, o.Return = rec[p].Call-2, rec[p].Call-1
	})
	lap := find(func(o porcupine.Operation) bool { return o.Output.(blOut).Res == blLapped })
	if lap >= 0 {
		mutate("lossy-missed", lap, func(o *porcupine.Operation) {
			out := o.Output.(blOut)
			out.Value += 2 // past both places a lap may land
			o.Output = out
		})
	} else {
		// No lap in this run: plant an impossible one in the slow lossy
		// subscriber.
		mutate("lossy-missed", find(popOK(2, 1)), func(o *porcupine.Operation) {
			o.Output = blOut{Res: blLapped, Value: uint64(10 * n)}
		})
	}
}
