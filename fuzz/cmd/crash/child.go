package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// childRole is the internal/xproc role of a child; its one argument is its
// childSpec as JSON.
const childRole = "crash-child"

// Child timing.
const (
	// opTimeout bounds every ring call a child makes: a call still
	// blocked after it means the ring is stalled, and the child exits
	// with the error (the supervisor reports it and restarts the child).
	opTimeout = 3 * time.Second
	// opRenew is how often a child makes a new deadline context, so a
	// call always has at least opTimeout-opRenew.
	opRenew = 250 * time.Millisecond
	// peerDeadRetry is the pause before a call that returned
	// ring.ErrPeerDead is retried: the other side's restart is on its way.
	peerDeadRetry = 2 * time.Millisecond
	maxBatch      = 32
)

// childSpec is what a child does.
type childSpec struct {
	Role     string // "producer" or "consumer"
	Slot     int    // producer slot (= its stream) or consumer slot
	Ring     int    // index of its ring's record in the ledger
	RingName string
	Streams  []uint32 // consumer: the streams its ring carries
	Arena    string
	Ledger   ledgerGeometry
	Seed     uint64
	Inc      uint32
	SlotSize int
	Inject   string // a fault to plant, for testing the checks
}

// roles are the command's child roles (xproc.Dispatch).
var roles = map[string]xproc.Role{childRole: xproc.SpecRole(func(spec childSpec) error {
	if err := runChild(spec); err != nil {
		return fmt.Errorf("%s %d (incarnation %d): %w", spec.Role, spec.Slot, spec.Inc, err)
	}
	return nil
})}

func runChild(spec childSpec) error {
	a, err := arena.Open(spec.Arena)
	if err != nil {
		return err
	}
	defer a.Close()
	reg, err := a.Lookup(ledgerRegion)
	if err != nil {
		return err
	}
	l, err := openLedger(reg.Bytes(), spec.Ledger)
	if err != nil {
		return err
	}
	r, err := ring.Open(a, spec.RingName)
	if err != nil {
		return err
	}
	defer r.Detach() // not Close: an SPSC producer's Close would end the stream
	rng := rand.New(rand.NewPCG(spec.Seed, uint64(spec.Inc)))
	// Mostly strategies that sleep in the futex, where kills are aimed.
	w := ring.WaitBlock
	switch x := rng.IntN(20); {
	case x < 7:
		w = ring.WaitAdaptive
	case x < 11:
		w = ring.WaitYield
	case x < 12:
		w = ring.WaitSpin
	}
	r.SetWaitStrategy(w)
	ops := newOpDeadlines()
	defer ops.stop()
	if spec.Role == "producer" {
		p := &producer{spec: &spec, l: l, r: r, rng: rng, ops: ops, rec: l.producer(spec.Slot), hold: &l.ring(spec.Ring).HoldProducers}
		atomic.StoreUint32(&p.rec.Strategy, uint32(w))
		atomic.StoreInt64(&p.rec.Started, time.Now().UnixNano())
		p.st = stateWriter{word: &p.rec.State}
		return p.run()
	}
	c := &consumer{spec: &spec, l: l, r: r, rng: rng, ops: ops, rec: l.consumer(spec.Slot), hold: &l.ring(spec.Ring).HoldConsumers,
		journal: l.journal(spec.Slot), streams: map[uint32]bool{}, last: map[uint32]uint64{}}
	atomic.StoreUint32(&c.rec.Strategy, uint32(w))
	atomic.StoreInt64(&c.rec.Started, time.Now().UnixNano())
	c.st = stateWriter{word: &c.rec.State}
	for _, s := range spec.Streams {
		c.streams[s] = true
	}
	return c.run()
}

// opDeadlines hands out a context whose deadline is at least
// opTimeout-opRenew away, renewed by a goroutine so that the hot loop does
// not read the clock.
type opDeadlines struct {
	cur    atomic.Pointer[context.Context]
	done   chan struct{} // closed by stop
	exited chan struct{} // closed when the renewing goroutine returns
	// old are the contexts handed out before, cancelled (to free their
	// timers) once their deadline has passed: no call uses them then.
	old []expiring
}

type expiring struct {
	at     time.Time
	cancel context.CancelFunc
}

func newOpDeadlines() *opDeadlines {
	o := &opDeadlines{done: make(chan struct{}), exited: make(chan struct{})}
	o.renew()
	go func() {
		defer close(o.exited)
		t := time.NewTicker(opRenew)
		defer t.Stop()
		for {
			select {
			case <-o.done:
				return
			case <-t.C:
				o.renew()
			}
		}
	}()
	return o
}

func (o *opDeadlines) renew() {
	now := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(opTimeout))
	o.cur.Store(&ctx)
	o.old = append(o.old, expiring{now.Add(opTimeout), cancel})
	// A second after the deadline: a call then reports the deadline, not
	// a cancellation.
	for len(o.old) > 0 && o.old[0].at.Before(now.Add(-time.Second)) {
		o.old[0].cancel()
		o.old = o.old[1:]
	}
}

func (o *opDeadlines) ctx() context.Context { return *o.cur.Load() }

func (o *opDeadlines) stop() {
	close(o.done)
	<-o.exited
	for _, e := range o.old {
		e.cancel()
	}
}

// holdOn pauses while the supervisor holds this side of the ring (a
// bounded wait: the hold carries its own expiry).
func holdOn(word *int64, st *stateWriter) {
	until := atomic.LoadInt64(word) // supervisor's request
	if until == 0 {
		return
	}
	st.set(stHeld)
	for until != 0 && time.Now().UnixNano() < until {
		time.Sleep(100 * time.Microsecond)
		until = atomic.LoadInt64(word)
	}
	st.set(stIdle)
}

// pause sleeps 1-3 ms now and then (the other side drains or fills the
// ring meanwhile), and dawdle 20-200 µs now and then while holding a
// reservation or a peeked message, so that kills land in those states.
func pause(rng *rand.Rand) {
	if rng.IntN(2048) == 0 {
		time.Sleep(time.Millisecond + time.Duration(rng.IntN(2_000_000)))
	}
}

func dawdle(rng *rand.Rand) {
	if rng.IntN(32) == 0 {
		time.Sleep(20*time.Microsecond + time.Duration(rng.IntN(180_000)))
	}
}

// ringState describes the ring when a call ran out of time, for the
// report of a stall.
func ringState(r ring.Ring, err error) string {
	if !errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	st := r.Stats()
	return fmt.Sprintf(" (ring: Len %d, MsgsIn %d, MsgsOut %d, NotEmptyWaiters %d, NotFullWaiters %d, Peers %d, DeadPeers %d, closed %v)",
		st.Len, st.MsgsIn, st.MsgsOut, st.NotEmptyWaiters, st.NotFullWaiters, st.Peers, st.DeadPeers, st.Closed)
}

// retryPeerDead repeats call while it fails with ring.ErrPeerDead (the
// other side was killed and its restart is on the way), until the call's
// context ends.
func retryPeerDead(ctx context.Context, call func() error) error {
	for {
		err := call()
		if !errors.Is(err, ring.ErrPeerDead) || ctx.Err() != nil {
			return err
		}
		time.Sleep(peerDeadRetry)
	}
}

type producer struct {
	spec *childSpec
	l    *ledger
	r    ring.Ring
	rng  *rand.Rand
	ops  *opDeadlines
	rec  *producerRecord
	hold *int64
	st   stateWriter
}

// run pushes stream Slot from the record's Attempt on, until the ledger
// says stop, mixing TryPush then Push, TryReserve then Reserve with
// Commit, and PushBatch; see ledger.go for the records it keeps.
func (p *producer) run() error {
	stream := uint32(p.spec.Slot)
	seq := atomic.LoadUint64(&p.rec.Attempt) // the supervisor set Committed to it
	store := make([][]byte, maxBatch)
	for i := range store {
		store[i] = make([]byte, p.spec.SlotSize)
	}
	batch := make([][]byte, 0, maxBatch)
	// Every incarnation plants its fault once: one that a kill right
	// after it would hide (inside that kill's allowance) is planted again.
	inject := p.spec.Inject == "corrupt"
	for !p.l.stopped() {
		p.st.set(stIdle)
		holdOn(p.hold, &p.st)
		pause(p.rng)
		ctx := p.ops.ctx()
		var err error
		k := uint64(1)
		switch op := p.rng.IntN(100); {
		case op < 50:
			n := fuzz.MessageSize(p.rng, p.spec.SlotSize)
			m := fuzz.EncodeMessage(store[0], stream, seq, n)
			if inject && seq >= 100 {
				m[n-5] ^= 0x40 // after the checksum: a corrupt message
				inject = false
			}
			atomic.StoreUint64(&p.rec.Attempt, seq+1) // before the call: it may push seq
			p.st.set(stPush)
			if err = p.r.TryPush(m); errors.Is(err, ring.ErrFull) {
				p.st.set(stWait)
				err = retryPeerDead(ctx, func() error { return p.r.Push(ctx, m) })
			}
		case op < 75:
			n := fuzz.MessageSize(p.rng, p.spec.SlotSize)
			atomic.StoreUint64(&p.rec.Attempt, seq+1)
			p.st.set(stPush)
			var res ring.Reservation
			if res, err = p.r.TryReserve(n); errors.Is(err, ring.ErrFull) {
				p.st.set(stWait)
				err = retryPeerDead(ctx, func() (err error) { res, err = p.r.Reserve(ctx, n); return err })
			}
			if err == nil {
				p.st.set(stReserve)
				fuzz.EncodeMessage(res.Buf, stream, seq, n)
				dawdle(p.rng)
				err = p.r.Commit(res, n)
			}
		default:
			k = uint64(1 + p.rng.IntN(maxBatch))
			batch = batch[:0]
			for i := range k {
				batch = append(batch, fuzz.EncodeMessage(store[i], stream, seq+i, fuzz.MessageSize(p.rng, p.spec.SlotSize)))
			}
			atomic.StoreUint64(&p.rec.Attempt, seq+k)
			p.st.set(stBatch)
			var done uint64
			err = retryPeerDead(ctx, func() error {
				n, err := p.r.PushBatch(ctx, batch[done:])
				done += uint64(n)
				return err
			})
			if err != nil {
				// Committed: what the batch did push; the rest was
				// never offered, and the child exits with the error.
				atomic.StoreUint64(&p.rec.Committed, seq+done)
				return fmt.Errorf("push batch: %d of %d pushed: %w%s", done, k, err, ringState(p.r, err))
			}
		}
		if err != nil {
			return fmt.Errorf("push %d: %w%s", seq, err, ringState(p.r, err))
		}
		seq += k
		atomic.StoreUint64(&p.rec.Committed, seq) // after the call returned nil
	}
	p.st.set(stDone)
	return nil
}

type consumer struct {
	spec    *childSpec
	l       *ledger
	r       ring.Ring
	rng     *rand.Rand
	ops     *opDeadlines
	rec     *consumerRecord
	hold    *int64
	st      stateWriter
	journal []uint64
	head    uint64 // entries written, private copy of rec.Head
	read    uint64 // the supervisor's rec.Read, as last loaded
	streams map[uint32]bool
	last    map[uint32]uint64 // this incarnation's last number per stream
	logged  int
	inject  string
}

// run pops until io.EOF, mixing TryPop then Pop, PopBatch, and TryPeek
// then Peek with Release, checks every message and journals it; see
// ledger.go for the records it keeps.
func (c *consumer) run() error {
	c.head = atomic.LoadUint64(&c.rec.Head)
	c.read = atomic.LoadUint64(&c.rec.Read)
	c.inject = c.spec.Inject // once per incarnation, as the producer's
	buf := make([]byte, c.spec.SlotSize)
	store := make([][]byte, maxBatch)
	for i := range store {
		store[i] = make([]byte, c.spec.SlotSize)
	}
	bufs := make([][]byte, maxBatch)
	for {
		c.st.set(stIdle)
		holdOn(c.hold, &c.st)
		pause(c.rng)
		ctx := c.ops.ctx()
		var err error
		var call string
		switch op := c.rng.IntN(100); {
		case op < 50:
			call = "pop"
			c.claim(1) // before the call: it may take one message
			c.st.set(stPop)
			var n int
			if n, err = c.r.TryPop(buf); errors.Is(err, ring.ErrEmpty) {
				c.st.set(stWait)
				err = retryPeerDead(ctx, func() (err error) { n, err = c.r.Pop(ctx, buf); return err })
			}
			if err == nil {
				err = c.receive(ctx, buf[:n], false)
			}
		case op < 75:
			k := 1 + c.rng.IntN(maxBatch)
			for i := range k {
				bufs[i] = store[i]
			}
			call = "pop batch"
			c.claim(k)
			c.st.set(stBatch)
			var n int
			err = retryPeerDead(ctx, func() (err error) { n, err = c.r.PopBatch(ctx, bufs[:k]); return err })
			for _, m := range bufs[:n] {
				if err == nil {
					err = c.receive(ctx, m, false)
				}
			}
		default:
			call = "peek"
			c.claim(1)
			c.st.set(stPop)
			var m ring.Message
			if m, err = c.r.TryPeek(); errors.Is(err, ring.ErrEmpty) {
				c.st.set(stWait)
				err = retryPeerDead(ctx, func() (err error) { m, err = c.r.Peek(ctx); return err })
			}
			if err == nil {
				c.st.set(stPeek)
				if err = c.receive(ctx, m.Data, true); err == nil {
					dawdle(c.rng)
					err = c.r.Release(m)
				}
				atomic.StoreUint64(&c.rec.Held, 0) // after Release returned
			}
		}
		atomic.StoreUint64(&c.rec.Claim, 0) // what the call returned is journaled
		if err == io.EOF {
			c.st.set(stDone)
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w%s", call, err, ringState(c.r, err))
		}
	}
}

// claim records that the next call may take up to k messages.
func (c *consumer) claim(k int) {
	atomic.StoreUint64(&c.rec.ClaimHead, c.head) // before Claim: a death with Claim set finds it
	atomic.StoreUint64(&c.rec.Claim, uint64(k))
}

// receive checks message m and journals it; a peeked one (held) is named
// in the record's Held before it is journaled.
func (c *consumer) receive(ctx context.Context, m []byte, held bool) error {
	stream, seq, err := fuzz.DecodeMessage(m)
	if err == nil && !c.streams[stream] {
		err = fmt.Errorf("message %d of stream %d, which this ring does not carry", seq, stream)
	}
	if err == nil && seq > seqMask {
		err = fmt.Errorf("message %d of stream %d: number beyond %d bits", seq, stream, seqBits)
	}
	if err != nil {
		atomic.AddUint64(&c.rec.Corrupt, 1)
		if c.logged++; c.logged <= 10 {
			fmt.Fprintf(os.Stderr, "crash: consumer %d: %s: corrupt: %v\n", c.spec.Slot, c.spec.RingName, err)
		}
		return nil
	}
	if last, ok := c.last[stream]; ok && seq <= last {
		atomic.AddUint64(&c.rec.OutOfOrder, 1)
	} else {
		c.last[stream] = seq
	}
	e := journalEntry(stream, seq)
	if seq >= 100 {
		switch c.inject {
		case "drop": // a message received and never recorded: lost
			c.inject = ""
			return nil
		case "dup": // recorded twice: duplicated
			c.inject = ""
			if err := c.append(ctx, e); err != nil {
				return err
			}
		}
	}
	if held {
		atomic.StoreUint64(&c.rec.Held, e+1) // before the entry: a redelivery of it is allowed once it is journaled
	}
	return c.append(ctx, e)
}

// append journals entry e, waiting (bounded by ctx) while the journal is
// JournalCap entries ahead of the supervisor.
func (c *consumer) append(ctx context.Context, e uint64) error {
	for c.head-c.read >= journalCap {
		c.read = atomic.LoadUint64(&c.rec.Read) // acquire: the supervisor is done with the entries below it
		if c.head-c.read < journalCap {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("journal full (the supervisor stopped reading): %w", ctx.Err())
		}
		time.Sleep(100 * time.Microsecond)
	}
	atomic.StoreUint64(&c.journal[c.head%journalCap], e)
	c.head++
	atomic.StoreUint64(&c.rec.Head, c.head) // release: publishes the entry
	return nil
}
