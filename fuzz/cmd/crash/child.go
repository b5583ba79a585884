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
	// maxReservations is the most reservations a record-ring producer
	// holds at once, maxPipeline the most peeks a record-ring consumer
	// holds at once.
	maxReservations = 4
	maxPipeline     = 8
	// plantFrom is the lowest number a planted fault (-inject) takes;
	// plantEvery how far apart a broadcast producer plants its faults
	// (producer.run).
	plantFrom  = 100
	plantEvery = 256
)

// childSpec is what a child does.
type childSpec struct {
	Role     string // "producer" or "consumer" (on a broadcast ring: a subscriber)
	Slot     int    // producer slot (= its stream) or consumer slot
	Ring     int    // index of its ring's record in the ledger
	RingName string
	Kind     string   // of the ring: "spsc", "mpmc", "broadcast" or "records"
	Streams  []uint32 // consumer: the streams its ring carries
	Arena    string
	Ledger   ledgerGeometry
	Seed     uint64
	Inc      uint32
	SlotSize int    // the ring's largest message
	Inject   string // a fault to plant, for testing the checks
	// A broadcast subscriber: lossy or tethered, where it joins, and
	// whether it lingers after Subscribe returned (the supervisor means
	// to kill it there).
	Lossy, Oldest, Linger bool
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
	ops := newOpDeadlines()
	defer ops.stop()
	if spec.Role == "producer" {
		p := &producer{spec: &spec, l: l, rng: rng, ops: ops, rec: l.producer(spec.Slot), hold: &l.ring(spec.Ring).HoldProducers,
			recs: spec.Kind == "records"}
		if spec.Kind == "broadcast" {
			b, err := ring.OpenBroadcast(a, spec.RingName, ring.WithWaitStrategy(w))
			if err != nil {
				return err
			}
			defer b.Detach() // not Close, which would end the stream
			p.r, p.bcast = b, true
		} else {
			r, err := ring.Open(a, spec.RingName, ring.WithWaitStrategy(w))
			if err != nil {
				return err
			}
			defer r.Detach() // not Close: an SPSC producer's Close would end the stream
			p.r = r
		}
		atomic.StoreUint32(&p.rec.Strategy, uint32(w))
		atomic.StoreInt64(&p.rec.Started, time.Now().UnixNano())
		p.st = stateWriter{word: &p.rec.State}
		return p.run()
	}
	c := &consumer{spec: &spec, l: l, rng: rng, ops: ops, rec: l.consumer(spec.Slot), hold: &l.ring(spec.Ring).HoldConsumers,
		journal: l.journal(spec.Slot), streams: map[uint32]bool{}, last: map[uint32]uint64{}}
	c.st = stateWriter{word: &c.rec.State}
	for _, s := range spec.Streams {
		c.streams[s] = true
	}
	if spec.Kind == "broadcast" {
		return c.subscribe(a, w)
	}
	r, err := ring.Open(a, spec.RingName, ring.WithWaitStrategy(w))
	if err != nil {
		return err
	}
	defer r.Detach()
	c.r, c.ringState = r, func(err error) string { return ringState(r, err) }
	atomic.StoreUint32(&c.rec.Strategy, uint32(w))
	atomic.StoreInt64(&c.rec.Started, time.Now().UnixNano())
	return c.run()
}

// subscribe runs a broadcast subscriber: it joins (Newest if tethered,
// as the spec says if lossy: contract_broadcast.go), records its join
// position, and consumes like any consumer.
func (c *consumer) subscribe(a *arena.Arena, w ring.WaitStrategy) error {
	opt := ring.SubscribeOptions{From: ring.Newest, Lossy: c.spec.Lossy}
	if c.spec.Lossy && c.spec.Oldest {
		opt.From = ring.Oldest
	}
	s, err := ring.Subscribe(a, c.spec.RingName, opt, ring.WithWaitStrategy(w))
	if err != nil {
		return err
	}
	defer s.Close()
	c.st.set(stJoined)
	atomic.StoreUint32(&c.rec.Strategy, uint32(w))
	atomic.StoreInt64(&c.rec.Started, time.Now().UnixNano())
	st := s.Stats()
	c.sub, c.missed0 = s, st.Missed
	// Before any entry: the supervisor reads a generation's entries from
	// this position on.
	atomic.StoreUint64(&c.rec.Join, st.Cursor+1)
	if c.spec.Linger {
		time.Sleep(20*time.Millisecond + time.Duration(c.rng.IntN(20_000_000)))
	}
	c.r, c.ringState = s, func(err error) string { return subscriberState(s, err) }
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
func ringState(r interface{ Stats() ring.Stats }, err error) string {
	if !errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	st := r.Stats()
	return fmt.Sprintf(" (ring: Len %d, MsgsIn %d, MsgsOut %d, NotEmptyWaiters %d, NotFullWaiters %d, Peers %d, DeadPeers %d, closed %v)",
		st.Len, st.MsgsIn, st.MsgsOut, st.NotEmptyWaiters, st.NotFullWaiters, st.Peers, st.DeadPeers, st.Closed)
}

// subscriberState is ringState for a broadcast subscriber.
func subscriberState(s *ring.Subscriber, err error) string {
	if !errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	st := s.Stats()
	return fmt.Sprintf(" (subscriber: entry %d, cursor %d, lag %d, lapped %d, missed %d, sleeps %d, wakes %d)",
		st.Index, st.Cursor, st.Lag, st.Lapped, st.Missed, st.Sleeps, st.Wakes)
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

// pushRing is the producer side a producer child uses: a ring.Ring's
// or a *ring.Broadcast.
type pushRing interface {
	TryPush(msg []byte) error
	Push(ctx context.Context, msg []byte) error
	TryReserve(n int) (ring.Reservation, error)
	Reserve(ctx context.Context, n int) (ring.Reservation, error)
	Commit(res ring.Reservation, n int) error
	PushBatch(ctx context.Context, msgs [][]byte) (int, error)
	Stats() ring.Stats
}

type producer struct {
	spec  *childSpec
	l     *ledger
	r     pushRing
	bcast bool // a broadcast producer: its first call is a Reserve, and it records Base
	recs  bool // a record-ring producer: RecordSize lengths, several reservations at once
	rng   *rand.Rand
	ops   *opDeadlines
	rec   *producerRecord
	hold  *int64
	st    stateWriter
}

// tear makes m (message seq of stream, planted as a fault) torn: its
// second half becomes the second half of message seq+1 of the same
// length, as a read that raced a rewrite would see it.
func tear(m []byte, stream uint32, seq uint64) {
	other := fuzz.EncodeMessage(make([]byte, len(m)), stream, seq+1, len(m))
	copy(m[len(m)/2:], other[len(m)/2:])
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
	// A broadcast producer plants one every plantEvery numbers instead: a
	// subscriber reads only from its join on, and nothing makes any read
	// a given message. A run that planted once, at number 123, passed
	// with nobody having read it: the only subscriber attached then was
	// the supervisor's probe (under load the subscriber processes joined
	// after the producer had pushed hundreds of messages, at Newest or a
	// ring back), and the producer was never killed, so it never planted
	// again. A tethered subscriber killed before it reads one, and a lossy
	// one lapped past it, miss it legitimately too.
	inject := p.spec.Inject
	if inject != "corrupt" && inject != "torn" {
		inject = ""
	}
	plantAt := uint64(plantFrom)
	// A broadcast producer's first call takes the side over with a
	// Reserve, and the ring's position then is where its own messages
	// start (Base: contract_broadcast.go, (f)).
	based := !p.bcast
	// Batches, which write every slot before they publish, are where a
	// kill finds completed, unpublished messages; broadcast takes more.
	pushes, reserves := 50, 75
	if p.bcast {
		pushes, reserves = 35, 60
	}
	size := func() int { return fuzz.MessageSize(p.rng, p.spec.SlotSize) }
	if p.recs {
		size = func() int { return fuzz.RecordSize(p.rng, p.spec.SlotSize) }
	}
	for !p.l.stopped() {
		p.st.set(stIdle)
		holdOn(p.hold, &p.st)
		pause(p.rng)
		ctx := p.ops.ctx()
		var err error
		k := uint64(1)
		op := p.rng.IntN(100)
		if !based {
			op = pushes
		}
		switch {
		case op < pushes:
			n := size()
			m := fuzz.EncodeMessage(store[0], stream, seq, n)
			if inject != "" && seq >= plantAt {
				if inject == "torn" {
					tear(m, stream, seq)
				} else {
					m[n-5] ^= 0x40 // after the checksum: a corrupt message
				}
				if plantAt = seq + plantEvery; !p.bcast {
					inject = ""
				}
			}
			atomic.StoreUint64(&p.rec.Attempt, seq+1) // before the call: it may push seq
			p.st.set(stPush)
			if err = p.r.TryPush(m); errors.Is(err, ring.ErrFull) {
				p.st.set(stWait)
				err = retryPeerDead(ctx, func() error { return p.r.Push(ctx, m) })
			}
		case op < reserves && p.recs:
			k, err = p.reserveMany(ctx, stream, seq, size)
		case op < reserves:
			n := size()
			atomic.StoreUint64(&p.rec.Attempt, seq+1)
			p.st.set(stReserving)
			var res ring.Reservation
			if res, err = p.r.TryReserve(n); errors.Is(err, ring.ErrFull) {
				p.st.set(stWait)
				err = retryPeerDead(ctx, func() (err error) { res, err = p.r.Reserve(ctx, n); return err })
			}
			if err == nil {
				p.st.set(stReserve)
				if !based {
					// The takeover is done and nothing of ours is
					// published: the ring's position is our first
					// message's.
					atomic.StoreUint64(&p.rec.Base, p.r.Stats().MsgsIn+1)
					based = true
				}
				fuzz.EncodeMessage(res.Buf, stream, seq, n)
				dawdle(p.rng)
				err = p.r.Commit(res, n)
			}
		default:
			k = uint64(1 + p.rng.IntN(maxBatch))
			if p.recs {
				// A record ring's batch is copied inside its claim lock:
				// shorter ones, so that kills find the other calls too.
				k = uint64(1 + p.rng.IntN(maxBatch/4))
			}
			batch = batch[:0]
			for i := range k {
				batch = append(batch, fuzz.EncodeMessage(store[i], stream, seq+i, size()))
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
		if !based {
			return fmt.Errorf("push %d: the first call was no reservation", seq)
		}
		seq += k
		atomic.StoreUint64(&p.rec.Committed, seq) // after the call returned nil
	}
	p.st.set(stDone)
	return nil
}

// reserveMany holds up to maxReservations reservations of a record ring
// at once, numbers seq, seq+1, ... in claim order, and commits them in a
// random order; it returns how many it reserved (and committed, unless
// the error says otherwise). Only the first may wait for room: the
// consumer stops at our first uncommitted record, so room for a second
// one may never come while we hold it.
func (p *producer) reserveMany(ctx context.Context, stream uint32, seq uint64, size func() int) (uint64, error) {
	var res [maxReservations]ring.Reservation
	var lens [maxReservations]int
	k := 0
	for want := 1 + p.rng.IntN(maxReservations); k < want; k++ {
		n := size()
		atomic.StoreUint64(&p.rec.Attempt, seq+uint64(k)+1) // before the call: it may claim seq+k
		var err error
		if k == 0 {
			p.st.set(stReserving)
			if res[k], err = p.r.TryReserve(n); errors.Is(err, ring.ErrFull) {
				p.st.set(stWait)
				err = retryPeerDead(ctx, func() (err error) { res[k], err = p.r.Reserve(ctx, n); return err })
			}
		} else if res[k], err = p.r.TryReserve(n); errors.Is(err, ring.ErrFull) {
			// seq+k was never claimed (a full TryReserve claims nothing):
			// Attempt back to it, so that the record says no number at or
			// above it was offered. Else an incarnation that stops after
			// this call ends with Attempt one above its last number, which
			// the verifier then counts lost; the next call offers it again.
			atomic.StoreUint64(&p.rec.Attempt, seq+uint64(k))
			break
		}
		if err != nil {
			return 0, fmt.Errorf("reserve %d (%d bytes, %d reservations held): %w%s", seq+uint64(k), n, k, err, ringState(p.r, err))
		}
		atomic.StoreUint64(&p.rec.Reserved, seq+uint64(k)+1) // after it returned: claimed
		p.st.set(stReserve)
		fuzz.EncodeMessage(res[k].Buf, stream, seq+uint64(k), n)
		lens[k] = n
	}
	dawdle(p.rng)
	order := p.rng.Perm(k)
	for _, i := range order {
		if err := p.r.Commit(res[i], lens[i]); err != nil {
			return 0, fmt.Errorf("commit %d (of %d reserved, in the order %v): %w", seq+uint64(i), k, order, err)
		}
	}
	return uint64(k), nil
}

// popRing is the consumer side a consumer child uses: a ring.Ring's or
// a *ring.Subscriber.
type popRing interface {
	TryPop(dst []byte) (int, error)
	Pop(ctx context.Context, dst []byte) (int, error)
	PopBatch(ctx context.Context, bufs [][]byte) (int, error)
	TryPeek() (ring.Message, error)
	Peek(ctx context.Context) (ring.Message, error)
	Release(m ring.Message) error
}

type consumer struct {
	spec      *childSpec
	l         *ledger
	r         popRing
	ringState func(err error) string // for the error of a call that ran out of time
	// A broadcast subscriber's handle, the Missed its stats said at the
	// join, and the Missed its laps have reported since.
	sub             *ring.Subscriber
	missed0, missed uint64
	rng             *rand.Rand
	ops             *opDeadlines
	rec             *consumerRecord
	hold            *int64
	st              stateWriter
	journal         []uint64
	head            uint64 // entries written, private copy of rec.Head
	read            uint64 // the supervisor's rec.Read, as last loaded
	streams         map[uint32]bool
	last            map[uint32]uint64 // this incarnation's last number per stream
	logged          int
	inject          string
	// stash is a message a planted reordering holds back until the next
	// one is received (journalEntry + 1, or 0).
	stash uint64
}

// run pops until io.EOF, mixing TryPop then Pop, PopBatch, and TryPeek
// then Peek with Release, checks every message and journals it; see
// ledger.go for the records it keeps. A broadcast subscriber also
// journals its laps.
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
		case c.spec.Kind == "records" && op >= 88:
			call = "pipelined peeks"
			c.claim(0) // a peek is journaled before it leaves the ring
			err = c.peekMany(ctx)
		default:
			call = "peek"
			c.claim(1)
			c.st.set(stPop)
			var m ring.Message
			if m, err = c.r.TryPeek(); errors.Is(err, ring.ErrEmpty) {
				c.st.set(stWait)
				err = retryPeerDead(ctx, func() (err error) { m, err = c.r.Peek(ctx); return err })
			}
			if err == nil && c.spec.Lossy {
				// The producer may rewrite the slot while we hold it: what
				// we read counts only if Release finds no lap.
				c.st.set(stPeek)
				stream, seq, bad := c.check(m.Data)
				dawdle(c.rng)
				if err = c.r.Release(m); err == nil {
					err = c.accept(ctx, stream, seq, bad, false)
				}
			} else if err == nil {
				c.st.set(stPeek)
				if err = c.receive(ctx, m.Data, true); err == nil {
					dawdle(c.rng)
					err = c.r.Release(m)
				}
				atomic.StoreUint64(&c.rec.Held, 0) // after Release returned
			}
		}
		if lap := (*ring.LappedError)(nil); errors.As(err, &lap) {
			// In its place among the messages; a tethered subscriber's
			// lap is journaled too, for the verifier to fail.
			c.missed += lap.Missed
			if err = c.append(ctx, lapEntry(lap.Missed)); err == nil && c.sub != nil {
				// And the cursor it left, which places it: the
				// subscriber passes holes without a word, so a lap may
				// begin past where the journal has brought it.
				err = c.append(ctx, lapEndEntry(c.sub.Cursor()))
			}
		}
		atomic.StoreUint64(&c.rec.Claim, 0) // what the call returned is journaled
		if err == io.EOF {
			return c.done(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w%s", call, err, c.ringState(err))
		}
	}
}

// peekMany peeks up to maxPipeline records of a record ring at once
// (waiting only for the first), journals each, and releases them in
// order; HeldFrom names the journaled, unreleased ones (ledger.go).
func (c *consumer) peekMany(ctx context.Context) error {
	var ms [maxPipeline]ring.Message
	var at [maxPipeline]uint64 // the journal's head before each peek's entry
	k := 0
	c.st.set(stPop)
	var err error
	for want := 2 + c.rng.IntN(maxPipeline-1); k < want; {
		var m ring.Message
		m, err = c.r.TryPeek()
		if k > 0 && (errors.Is(err, ring.ErrEmpty) || err == io.EOF) {
			err = nil // release what we hold first; the next call sees the end
			break
		}
		if errors.Is(err, ring.ErrEmpty) {
			c.st.set(stWait)
			err = retryPeerDead(ctx, func() (err error) { m, err = c.r.Peek(ctx); return err })
		}
		if err != nil {
			break
		}
		if k == 0 {
			atomic.StoreUint64(&c.rec.HeldFrom, c.head+1) // before its entry: a redelivery of it is allowed once it is journaled
		}
		ms[k], at[k] = m, c.head
		k++
		c.st.set(stPeek)
		if err = c.receive(ctx, m.Data, true); err != nil {
			break
		}
	}
	for i := 0; i < k && err == nil; i++ {
		dawdle(c.rng)
		if err = c.r.Release(ms[i]); err != nil {
			break
		}
		next := uint64(0)
		if i+1 < k {
			next = at[i+1] + 1
		}
		atomic.StoreUint64(&c.rec.HeldFrom, next) // after Release returned
	}
	atomic.StoreUint64(&c.rec.Held, 0)
	return err
}

// done ends a consumer that read to io.EOF: a message a planted
// reordering held back is journaled, and a subscriber records how far
// its stats' Missed is from what its laps said.
func (c *consumer) done(ctx context.Context) error {
	if c.stash != 0 {
		stream, seq := splitEntry(c.stash - 1)
		c.stash = 0
		if err := c.accept(ctx, stream, seq, nil, false); err != nil {
			return err
		}
	}
	if c.sub != nil {
		atomic.StoreUint64(&c.rec.Mismatch, c.sub.Stats().Missed-c.missed0-c.missed)
	}
	c.st.set(stDone)
	return nil
}

// claim records that the next call may take up to k messages.
func (c *consumer) claim(k int) {
	atomic.StoreUint64(&c.rec.ClaimHead, c.head) // before Claim: a death with Claim set finds it
	atomic.StoreUint64(&c.rec.Claim, uint64(k))
}

// receive checks message m and journals it; a peeked one (held) is named
// in the record's Held before it is journaled.
func (c *consumer) receive(ctx context.Context, m []byte, held bool) error {
	stream, seq, err := c.check(m)
	return c.accept(ctx, stream, seq, err, held)
}

// check decodes message m and checks that this ring carries it.
func (c *consumer) check(m []byte) (stream uint32, seq uint64, err error) {
	stream, seq, err = fuzz.DecodeMessage(m)
	if err == nil && !c.streams[stream] {
		err = fmt.Errorf("message %d of stream %d, which this ring does not carry", seq, stream)
	}
	if err == nil && seq > seqMask {
		err = fmt.Errorf("message %d of stream %d: number beyond %d bits", seq, stream, seqBits)
	}
	return stream, seq, err
}

// accept journals message seq of stream, which check said is corrupt if
// err != nil; see receive.
func (c *consumer) accept(ctx context.Context, stream uint32, seq uint64, err error, held bool) error {
	if err == nil && c.inject == "reorder" && seq >= plantFrom && !held {
		// Held back until the next message is in: the two come out of
		// order, as if the ring had swapped them.
		c.inject, c.stash = "", journalEntry(stream, seq)+1
		return nil
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
	if seq >= plantFrom {
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
	if err := c.append(ctx, e); err != nil || c.stash == 0 {
		return err
	}
	if hs, _ := splitEntry(c.stash - 1); hs != stream {
		// Another stream's message: no reordering within the held
		// one's stream yet (a record ring carries several producers'
		// streams); keep holding it until its own stream moves on.
		return nil
	}
	stream, seq = splitEntry(c.stash - 1)
	c.stash = 0
	return c.accept(ctx, stream, seq, nil, false)
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
