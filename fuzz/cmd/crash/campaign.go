package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// Supervisor timing.
const (
	// grace is how far past the kill phase the campaign may run (settle,
	// stop, drain, verify); children are killed at its end.
	grace = 60 * time.Second
	// stallLimit: a kill after which the ring makes no progress for this
	// long fails the campaign.
	stallLimit = time.Second
	// stopWait and drainWait bound the wait for producers to stop and for
	// consumers to drain the closed rings to io.EOF.
	stopWait  = 5 * time.Second
	drainWait = 10 * time.Second
	// collectEvery is how often the supervisor drains the journals and
	// checks stalls: the resolution of the stall measure.
	collectEvery = time.Millisecond
	// lateRestart is how long the successor of a tethered broadcast
	// subscriber killed with a late restart waits before it starts: past
	// the stall limit, so that only the release of the dead tether keeps
	// the producer within it.
	lateRestart = stallLimit + 250*time.Millisecond
)

// ringHandle is the supervisor's own handle on a ring: a ring.Ring, or a
// *ring.Broadcast that never produces.
type ringHandle interface {
	Stats() ring.Stats
	CloseWrite() error
	Recover() ring.Recovery
	Detach() error
}

// crashRing is a ring of the campaign as the supervisor sees it.
type crashRing struct {
	idx  int
	name string
	kind string // "spsc", "mpmc", "broadcast" or "records"
	// slots is a ringful of messages: the most the ring can hold (a
	// record ring's: Capacity over the smallest record's span, and a
	// batch), the stall measure's unit; slotSize the largest message.
	slots, slotSize      int
	handle               ringHandle // the supervisor's own, for Stats, CloseWrite and Recover
	producers, consumers []*slot
	drained              bool
	stats                ring.Stats
	recovery             ring.Recovery
	// backlog is, for a broadcast ring at the end, the most a live
	// tethered subscriber had yet to read.
	backlog uint64
	// probe is the supervisor's lossy subscriber on a broadcast ring
	// (killPublish); view its read-only view of the ring (takeoverHoles).
	probe *ring.Subscriber
	view  *ring.View
}

func (r *crashRing) spsc() bool  { return r.kind == "spsc" }
func (r *crashRing) bcast() bool { return r.kind == "broadcast" }
func (r *crashRing) recs() bool  { return r.kind == "records" }

// recordSpan is the bytes a record of n payload bytes takes in a record
// ring: a 16-byte header and the payload, rounded up to 16 (docs/ring.md).
func recordSpan(n int) int { return (16 + n + 15) &^ 15 }

// slot is one child's place: its record in the ledger and the sequence of
// processes (incarnations) that fill it.
type slot struct {
	role string // "producer" or "consumer"
	idx  int    // producer slot (= stream) or consumer slot
	ring *crashRing

	lossy bool // a lossy broadcast subscriber

	mu     sync.Mutex
	child  *xproc.Child  // the running incarnation, nil between two
	dead   chan struct{} // closed by the killer once it has killed child and child is dead
	inc    uint32        // the current or last incarnation
	kill   *killRecord   // set by the killer just before it kills child
	forced bool          // the supervisor kills every incarnation from now on (end of the campaign)
	deaths []death
	exited chan struct{} // closed when the slot's manager returned
	clean  bool          // the last incarnation finished by itself with status 0
	// Broadcast: late delays the next incarnation by lateRestart; linger
	// makes it linger after Subscribe (the killer waits for it there).
	late, linger bool
	// Broadcast: the producer's incarnations, the subscriber's
	// generations (their journal runs appended by the collector).
	bprods []bcastProducer
	gens   []*bcastGen
	// Broadcast producer: what the incarnations before the current one
	// committed, and the current one's first number (received).
	pushed, start uint64
}

// bcastGen is a broadcast subscriber generation as the supervisor
// collects it: the verifier's record, and where its journal entries
// start.
type bcastGen struct {
	bcastGeneration
	startHead uint64
}

// kindRole names a slot's kind of child: "spsc producer", "broadcast
// lossy", ...
func (s *slot) kindRole() string {
	switch {
	case !s.ring.bcast() || s.role == "producer":
		return s.ring.kind + " " + s.role
	case s.lossy:
		return "broadcast lossy"
	}
	return "broadcast tethered"
}

func (s *slot) String() string {
	if s.ring.bcast() && s.role == "consumer" {
		return fmt.Sprintf("%s subscriber %d", s.kindRole(), s.idx)
	}
	return fmt.Sprintf("%s %d", s.kindRole(), s.idx)
}

// death is what an incarnation that did not finish cleanly left in its
// record, read after it was reaped.
type death struct {
	inc    uint32
	killed bool // by the supervisor
	state  childState
	// Producer; reserved: a record-ring producer's Reserved.
	committed, attempt, reserved uint64
	// Consumer: see consumerDeath (claim is what the call in flight may
	// have taken and not journaled; peeked a record-ring consumer's
	// journaled, unreleased peeks).
	claim, held, last uint64
	peeked            []uint64
	lastOf            map[uint32]uint64 // a record-ring consumer's, per stream: its last journaled number + 1
}

// campaign is one run's state.
type campaign struct {
	o         options
	out       io.Writer
	a         *arena.Arena
	path      string
	l         *ledger
	rings     []*crashRing
	producers []*slot
	consumers []*slot
	start     time.Time
	deadline  time.Time // children die, and every wait ends, by then

	stopProducers, stopConsumers atomic.Bool

	mu       sync.Mutex
	problems []string
	failures map[*slot]*failures // incarnations that failed by themselves
	kills    []*killRecord
	pending  []*killRecord // kills whose stall is still being measured
	pauses   []supPause    // the collector's, over pauseGap

	// The collector's own (its goroutine, then the verdict's).
	tally *fuzz.Tally
	read  []uint64  // per consumer slot: journal entries consumed
	open  []openRun // per consumer slot: the run being merged
	gen   []int     // per broadcast subscriber slot: the generation being collected

	probeBuf []byte // the killer's, for probeUnpublished
}

func newCampaign(o options, out io.Writer) *campaign {
	return &campaign{o: o, out: out, tally: fuzz.NewTally(0), failures: map[*slot]*failures{}}
}

func (c *campaign) problem(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// failures are a slot's incarnations that failed by themselves (on a
// stalled ring, one after another as each call reaches its deadline).
type failures struct {
	n           int
	first, last string
}

func (c *campaign) failed(s *slot, d death, err error) {
	msg := fmt.Sprintf("incarnation %d, in state %v: %s", d.inc, d.state, childError(err))
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.failures[s]
	if f == nil {
		f = &failures{first: msg}
		c.failures[s] = f
	}
	f.n++
	f.last = msg
}

// run runs the campaign: children, kills, the end, the verdict.
func (c *campaign) run(ctx context.Context) error {
	o := c.o
	c.read = make([]uint64, len(c.consumers))
	c.open = make([]openRun, len(c.consumers))
	c.gen = make([]int, len(c.consumers))
	c.probeBuf = make([]byte, o.SlotSize)
	c.start = time.Now()
	killEnd := c.start.Add(o.duration)
	c.deadline = killEnd.Add(grace)
	ctx, cancel := context.WithDeadline(ctx, c.deadline)
	defer cancel()
	fmt.Fprintf(c.out, "crash: seed %d, arena %s, %s, %d slots of %d bytes, killing for %v about every %v\n",
		o.Seed, c.path, c.summary(), o.Slots, o.SlotSize, o.duration, o.interval.Round(time.Millisecond))

	stopCollect, collected := make(chan struct{}), make(chan struct{})
	go c.collectLoop(stopCollect, collected)
	all := append(append([]*slot(nil), c.producers...), c.consumers...)
	for _, s := range all {
		s.exited = make(chan struct{})
		go c.manage(ctx, s)
	}
	c.killLoop(ctx, killEnd)
	c.settle(ctx)
	c.finish(ctx)
	close(stopCollect)
	<-collected
	c.collect() // what the last incarnations journaled
	for _, r := range c.rings {
		if r.probe != nil {
			r.probe.Close()
			r.view.Close()
		}
		r.recovery = r.handle.Recover()
		r.stats = r.handle.Stats()
		if b, ok := r.handle.(*ring.Broadcast); ok {
			for _, sub := range b.Subscribers() {
				if sub.Alive && !sub.Lossy {
					r.backlog = max(r.backlog, sub.Lag)
				}
			}
		}
		r.handle.Detach()
	}
	return c.verdict(time.Since(c.start))
}

func (c *campaign) summary() string {
	var parts []string
	nspsc := 0
	for _, r := range c.rings {
		switch r.kind {
		case "spsc":
			nspsc++
		case "mpmc":
			parts = append(parts, fmt.Sprintf("1 MPMC ring (%d producers, %d consumers)", len(r.producers), len(r.consumers)))
		case "records":
			rc := r.handle.(*ring.Records)
			parts = append(parts, fmt.Sprintf("1 record ring (%d producers, 1 consumer; %d KiB, records up to %d KiB, mirrored %v)",
				len(r.producers), rc.Capacity()>>10, rc.SlotSize()>>10, rc.Mirrored()))
		default:
			parts = append(parts, fmt.Sprintf("1 broadcast ring (1 producer, %d tethered + %d lossy subscribers)", c.o.tethered, c.o.lossy))
		}
	}
	if nspsc > 0 {
		parts = append([]string{fmt.Sprintf("%d SPSC rings", nspsc)}, parts...)
	}
	return strings.Join(parts, " + ")
}

// manage keeps slot s filled: it starts an incarnation, waits for it to
// end, reads what it left in its record, and starts the next, until the
// campaign stops that side or an incarnation finishes by itself.
func (c *campaign) manage(ctx context.Context, s *slot) {
	defer close(s.exited)
	for ctx.Err() == nil && !c.stopping(s) {
		s.mu.Lock()
		late := s.late
		s.late = false
		s.mu.Unlock()
		if late {
			select {
			case <-ctx.Done():
			case <-time.After(lateRestart):
			}
		}
		c.prepare(s)
		ch, err := c.startChild(ctx, s)
		if err != nil {
			c.problem("%v: start: %v", s, err)
			if s.ring.bcast() {
				c.ended(s, false, false) // an incarnation that never ran
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		dead := make(chan struct{})
		s.mu.Lock()
		s.child, s.dead = ch, dead
		forced := s.forced
		s.mu.Unlock()
		if forced {
			ch.Kill()
		}
		// Killed by the killer, the child is gone once it is dead, which
		// is often long before it is reaped (killNow).
		select {
		case <-ch.Done():
		case <-dead:
		}
		err = ch.Err() // nil if not reaped yet: killed, it is ours anyway
		s.mu.Lock()
		s.child = nil
		kr := s.kill
		s.kill = nil
		ours := kr != nil || s.forced
		s.mu.Unlock()
		if s.ring.bcast() {
			c.ended(s, ours, err == nil)
		}
		if !ours && err == nil { // producers at Stop, consumers at io.EOF
			if s.role == "producer" {
				// Its calls all returned: a gap would read as lost numbers
				// (the final Attempt is the stream's end).
				rec := c.l.producer(s.idx)
				if cm, at := atomic.LoadUint64(&rec.Committed), atomic.LoadUint64(&rec.Attempt); cm != at {
					c.problem("%v: incarnation %d stopped with Committed %d below Attempt %d", s, s.inc, cm, at)
				}
			}
			s.mu.Lock()
			s.clean = true
			s.mu.Unlock()
			return
		}
		d := c.snapshot(s, ours)
		if kr != nil {
			c.mu.Lock()
			kr.landed = d.state
			c.mu.Unlock()
		}
		if !ours {
			c.failed(s, d, err)
		}
	}
}

func (c *campaign) stopping(s *slot) bool {
	if s.role == "producer" {
		return c.stopProducers.Load()
	}
	return c.stopConsumers.Load()
}

// prepare readies slot s's record for its next incarnation. The previous
// one is reaped and the next not started: the supervisor is the record's
// only writer.
func (c *campaign) prepare(s *slot) {
	s.mu.Lock()
	s.inc++
	inc := s.inc
	s.mu.Unlock()
	if s.role == "producer" {
		rec := c.l.producer(s.idx)
		// The dead call's numbers are given up: the next one starts after them.
		start := atomic.LoadUint64(&rec.Attempt)
		s.mu.Lock()
		s.pushed += atomic.LoadUint64(&rec.Committed) - s.start
		s.start = start
		atomic.StoreUint64(&rec.Committed, start) // under s.mu: received reads both
		s.mu.Unlock()
		atomic.StoreUint64(&rec.Base, 0)
		atomic.StoreUint64(&rec.Reserved, 0)
		atomic.StoreUint32(&rec.Inc, inc)
		atomic.StoreUint64(&rec.State, uint64(stStarting))
		if s.ring.bcast() {
			// No producer runs: the position is what its predecessors
			// published, the next one's Base less it is what it
			// adopted, and the slots from it on say which of those are
			// holes.
			pub := s.ring.handle.Stats().MsgsIn
			p := bcastProducer{Start: start, Published: pub, Holes: takeoverHoles(s.ring.view, pub)}
			s.mu.Lock()
			s.bprods = append(s.bprods, p)
			s.mu.Unlock()
		}
		return
	}
	rec := c.l.consumer(s.idx)
	atomic.StoreUint64(&rec.Claim, 0)
	atomic.StoreUint64(&rec.ClaimHead, atomic.LoadUint64(&rec.Head))
	atomic.StoreUint64(&rec.Held, 0)
	atomic.StoreUint64(&rec.HeldFrom, 0)
	atomic.StoreUint64(&rec.Join, 0)
	atomic.StoreUint64(&rec.Mismatch, 0)
	atomic.StoreUint32(&rec.Inc, inc)
	atomic.StoreUint64(&rec.State, uint64(stStarting))
	if s.ring.bcast() {
		g := &bcastGen{startHead: atomic.LoadUint64(&rec.Head)}
		g.Slot, g.Inc, g.Lossy = s.idx, inc, s.lossy
		// Lossy generations join at Oldest or Newest, drawn from the seed.
		g.Oldest = s.lossy && (c.o.Seed^uint64(s.idx)*0x9e3779b97f4a7c15^uint64(inc)*0xbf58476d1ce4e5b9)>>17&1 == 1
		s.mu.Lock()
		s.gens = append(s.gens, g) // before the child starts: the collector reads its entries as this generation's
		s.mu.Unlock()
	}
}

// takeoverHoles returns the positions that the next takeover of the
// producer side of broadcast ring v, whose published position is from,
// will publish without a message: it walks the slots from there as
// ring/broadcast_takeover.go does (a slot completed for its position is
// adopted, one marked for it is a hole, anything else ends the walk). No
// producer runs, so the slots stay as read until that takeover; one that
// dies before it leaves them to the next, which reads the same.
func takeoverHoles(v *ring.View, from uint64) []uint64 {
	const writing = 1 << 63 // a broadcast slot's Seq while it is written (docs/ring.md)
	var holes []uint64
	for _, h := range v.Slots(from, v.Config().Slots) {
		switch h.Seq {
		case h.Pos + 1:
		case (h.Pos + 1) | writing:
			holes = append(holes, h.Pos)
		default:
			return holes
		}
	}
	return holes
}

// ended records what broadcast slot s's reaped incarnation left: a
// producer's end of its numbers and its base, a subscriber's join and
// whether it read to io.EOF. The next incarnation is not prepared yet.
func (c *campaign) ended(s *slot, killed, clean bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.role == "producer" {
		rec := c.l.producer(s.idx)
		p := &s.bprods[len(s.bprods)-1]
		p.Base = atomic.LoadUint64(&rec.Base)
		p.Committed = atomic.LoadUint64(&rec.Committed)
		p.Attempt = atomic.LoadUint64(&rec.Attempt)
		p.Killed = killed
		return
	}
	rec := c.l.consumer(s.idx)
	g := s.gens[len(s.gens)-1]
	g.Join = atomic.LoadUint64(&rec.Join)
	g.Mismatch = atomic.LoadUint64(&rec.Mismatch)
	g.Clean = clean && !killed
}

// snapshot reads what slot s's reaped incarnation left in its record.
func (c *campaign) snapshot(s *slot, killed bool) death {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := death{inc: s.inc, killed: killed}
	if s.role == "producer" {
		rec := c.l.producer(s.idx)
		d.state = stateOf(atomic.LoadUint64(&rec.State))
		d.committed = atomic.LoadUint64(&rec.Committed)
		d.attempt = atomic.LoadUint64(&rec.Attempt)
		d.reserved = min(max(atomic.LoadUint64(&rec.Reserved), d.committed), d.attempt)
	} else {
		rec := c.l.consumer(s.idx)
		d.state = stateOf(atomic.LoadUint64(&rec.State))
		h := atomic.LoadUint64(&rec.Head)
		// What the call in flight may have taken and not journaled.
		if claim, since := atomic.LoadUint64(&rec.Claim), h-atomic.LoadUint64(&rec.ClaimHead); claim > since {
			d.claim = claim - since
		}
		d.held = atomic.LoadUint64(&rec.Held)
		if h > 0 {
			d.last = atomic.LoadUint64(&c.l.journal(s.idx)[(h-1)%journalCap]) + 1
		}
		if s.ring.recs() && d.claim > 0 {
			d.lastOf = c.lastJournaled(s, h)
		}
		// A record-ring consumer's peeks, journaled and not released:
		// entries [HeldFrom-1, h), at most a pipeline's worth (the
		// journal still holds them: the child is dead, the collector
		// has not overwritten what it never wrote).
		if from := atomic.LoadUint64(&rec.HeldFrom); from != 0 && from-1 <= h && h-(from-1) <= maxPipeline {
			seen := map[uint64]bool{}
			for i := from - 1; i < h; i++ {
				if e := atomic.LoadUint64(&c.l.journal(s.idx)[i%journalCap]); !seen[e] {
					seen[e] = true
					d.peeked = append(d.peeked, e)
				}
			}
		} else if from != 0 {
			c.problem("%v: incarnation %d died with HeldFrom %d and %d journal entries", s, d.inc, from, h)
		}
	}
	s.deaths = append(s.deaths, d)
	return d
}

// lastJournaled reads back dead consumer slot s's journal from entry h
// (its head) and returns, per stream of its ring, the last number it
// journaled + 1, for those found in the journalCap entries the journal
// keeps. The child is dead: nothing overwrites them.
func (c *campaign) lastJournaled(s *slot, h uint64) map[uint32]uint64 {
	want := map[uint32]bool{}
	for _, p := range s.ring.producers {
		want[uint32(p.idx)] = true
	}
	out := map[uint32]uint64{}
	j := c.l.journal(s.idx)
	for i := h; i > 0 && h-i < journalCap && len(out) < len(want); i-- {
		st, seq := splitEntry(atomic.LoadUint64(&j[(i-1)%journalCap]))
		if _, ok := out[st]; !ok && want[st] {
			out[st] = seq + 1
		}
	}
	return out
}

func (c *campaign) startChild(ctx context.Context, s *slot) (*xproc.Child, error) {
	spec := childSpec{Role: s.role, Slot: s.idx, Ring: s.ring.idx, RingName: s.ring.name, Kind: s.ring.kind, Arena: c.path,
		Ledger: c.l.g, Inc: s.inc, SlotSize: s.ring.slotSize, Lossy: s.lossy}
	if s.ring.bcast() && s.role == "consumer" {
		s.mu.Lock()
		spec.Oldest = s.gens[len(s.gens)-1].Oldest
		spec.Linger, s.linger = s.linger, false
		s.mu.Unlock()
	}
	spec.Seed = c.o.Seed ^ uint64(s.idx+1)*0x9e3779b97f4a7c15
	if s.role == "consumer" {
		spec.Seed = ^spec.Seed
		for _, p := range s.ring.producers {
			spec.Streams = append(spec.Streams, uint32(p.idx))
		}
	}
	// Faults go to the first producer (corrupt, torn) or consumer (drop,
	// dup, reorder).
	if s.idx == 0 && (c.o.Inject == "corrupt" || c.o.Inject == "torn") == (s.role == "producer") {
		spec.Inject = c.o.Inject
	}
	args, err := xproc.SpecArgs(spec)
	if err != nil {
		return nil, err
	}
	return xproc.Start(ctx, xproc.Options{Role: childRole, Args: args, Deadline: c.deadline})
}

// openRun is a run of consecutive journal entries being merged into one
// tally range.
type openRun struct {
	stream     uint32
	start, end uint64
}

func (o *openRun) flush(t *fuzz.Tally) {
	t.Add(o.stream, o.start, o.end)
	o.start = o.end
}

// collect drains every consumer's journal into the tally, and every
// broadcast subscriber's into its generations.
func (c *campaign) collect() {
	for _, s := range c.consumers {
		if s.ring.bcast() {
			c.collectGens(s)
			continue
		}
		rec := c.l.consumer(s.idx)
		j := c.l.journal(s.idx)
		h := atomic.LoadUint64(&rec.Head) // acquire: the entries below it are written
		r := c.read[s.idx]
		if h-r > journalCap {
			c.problem("%v: journal overrun: head %d, read %d", s, h, r)
			r = h - journalCap
		}
		o := &c.open[s.idx]
		for ; r < h; r++ {
			st, seq := splitEntry(atomic.LoadUint64(&j[r%journalCap]))
			if st == o.stream && seq == o.end && o.end > o.start {
				o.end++
				continue
			}
			o.flush(c.tally)
			o.stream, o.start, o.end = st, seq, seq+1
		}
		o.flush(c.tally)
		c.read[s.idx] = r
		atomic.StoreUint64(&rec.Read, r) // release: we are done with the entries below r
	}
}

// collectGens drains broadcast subscriber s's journal into its
// generations' runs, in journal order.
func (c *campaign) collectGens(s *slot) {
	rec := c.l.consumer(s.idx)
	j := c.l.journal(s.idx)
	h := atomic.LoadUint64(&rec.Head) // acquire: the entries below it are written
	// After Head: a generation whose entries are below h was appended
	// before its child started.
	s.mu.Lock()
	gens := s.gens
	s.mu.Unlock()
	r := c.read[s.idx]
	if h-r > journalCap {
		c.problem("%v: journal overrun: head %d, read %d", s, h, r)
		r = h - journalCap
	}
	gi := c.gen[s.idx]
	for ; r < h; r++ {
		for gi+1 < len(gens) && gens[gi+1].startHead <= r {
			gi++
		}
		if gi >= len(gens) {
			c.problem("%v: journal entry %d of no generation", s, r)
			continue
		}
		g := gens[gi]
		switch st, v := splitEntry(atomic.LoadUint64(&j[r%journalCap])); st {
		case lapStream:
			g.lap(v)
		case lapEndStream:
			g.lapEnd(v)
		default:
			g.add(v)
		}
	}
	c.gen[s.idx] = gi
	c.read[s.idx] = r
	atomic.StoreUint64(&rec.Read, r) // release: we are done with the entries below r
}

func (c *campaign) collectLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(collectEvery)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			now := time.Now()
			if gap := now.Sub(last); gap >= pauseGap {
				c.mu.Lock()
				c.pauses = append(c.pauses, supPause{at: last, d: gap})
				c.mu.Unlock()
			}
			c.collect()
			c.checkStalls(now)
			last = time.Now()
		}
	}
}

// pauseGap is the gap between two rounds of the collector that counts as
// a pause of the supervisor (it looked at nothing meanwhile).
const pauseGap = 50 * time.Millisecond

// supPause is a gap in the collector's rounds.
type supPause struct {
	at time.Time // the end of the round before it
	d  time.Duration
}

// received is how many messages ring r's consumers have journaled: the
// ring's progress. A broadcast ring's is how many its producer committed:
// every subscriber has up to a ringful to read at any time, and it is the
// producer that a dead tethered subscriber holds back.
func (c *campaign) received(r *crashRing) uint64 {
	if r.bcast() {
		// Not Committed alone: a restart moves it on past the dead call.
		p := r.producers[0]
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.pushed + atomic.LoadUint64(&c.l.producer(p.idx).Committed) - p.start
	}
	var n uint64
	for _, s := range r.consumers {
		n += atomic.LoadUint64(&c.l.consumer(s.idx).Head)
	}
	return n
}

// checkStalls ends the stall measure of every kill after which the ring's
// consumers have journaled more than a ringful of messages: at most Slots
// of them can have been in the ring at the kill, so at least one went
// through the ring after it.
func (c *campaign) checkStalls(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := c.pending[:0]
	for _, k := range c.pending {
		if k.restart == 0 {
			k.restart = c.restarted(k)
		}
		if c.received(k.slot.ring) > k.base+uint64(k.slot.ring.slots) {
			k.stall, k.measured = now.Sub(k.at), true
			continue
		}
		if k.state == "" && now.Sub(k.at) > slowStall {
			k.state = c.ringNow(k.slot.ring)
		}
		keep = append(keep, k)
	}
	c.pending = keep
}

// slowStall is how long a stall lasts before the supervisor notes the
// ring's state, for the report.
const slowStall = 300 * time.Millisecond

// ringNow describes ring r and its children now: their states, the
// ring's counters, a broadcast ring's subscribers.
func (c *campaign) ringNow(r *crashRing) string {
	var b strings.Builder
	for _, s := range append(append([]*slot(nil), r.producers...), r.consumers...) {
		word := &c.l.consumer(s.idx).State
		if s.role == "producer" {
			word = &c.l.producer(s.idx).State
		}
		s.mu.Lock()
		ch, inc := s.child, s.inc
		s.mu.Unlock()
		st := "not running"
		if ch != nil {
			st = fmt.Sprintf("incarnation %d (pid %d) %v", inc, ch.Pid(), stateOf(atomic.LoadUint64(word)))
		}
		fmt.Fprintf(&b, "%v %s; ", s, st)
	}
	st := r.handle.Stats()
	fmt.Fprintf(&b, "ring: Len %d, MsgsIn %d, NotEmptyWaiters %d, NotFullWaiters %d, Peers %d, DeadPeers %d",
		st.Len, st.MsgsIn, st.NotEmptyWaiters, st.NotFullWaiters, st.Peers, st.DeadPeers)
	if bc, ok := r.handle.(*ring.Broadcast); ok {
		for _, sub := range bc.Subscribers() {
			fmt.Fprintf(&b, "; entry %d pid %d alive %v lossy %v cursor %d lag %d", sub.Index, sub.PID, sub.Alive, sub.Lossy, sub.Cursor, sub.Lag)
		}
	}
	return b.String()
}

// restarted is how long after kill k the killed slot's next incarnation
// attached to its ring, or 0 if none has yet.
func (c *campaign) restarted(k *killRecord) time.Duration {
	s := k.slot
	var inc uint32
	var started int64
	if s.role == "producer" {
		rec := c.l.producer(s.idx)
		inc, started = atomic.LoadUint32(&rec.Inc), atomic.LoadInt64(&rec.Started)
	} else {
		rec := c.l.consumer(s.idx)
		inc, started = atomic.LoadUint32(&rec.Inc), atomic.LoadInt64(&rec.Started)
	}
	if inc == k.inc || started < k.at.UnixNano() { // not yet: Started may still be the dead one's
		return 0
	}
	return time.Duration(started - k.at.UnixNano())
}

// pendingOn reports whether a kill on ring r is still being measured.
func (c *campaign) pendingOn(r *crashRing) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.pending {
		if k.slot.ring == r {
			return true
		}
	}
	return false
}

// frozen reports whether a kill on ring r has waited for progress longer
// than the killer waits for it (quietWait): the ring stopped moving.
func (c *campaign) frozen(r *crashRing) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.pending {
		if k.slot.ring == r && time.Since(k.at) > quietWait {
			return true
		}
	}
	return false
}

// settle waits, after the last kill, until every stall is measured or
// has lasted past the limit.
func (c *campaign) settle(ctx context.Context) {
	for ctx.Err() == nil {
		c.mu.Lock()
		waiting := false
		for _, k := range c.pending {
			if time.Since(k.at) <= stallLimit+200*time.Millisecond {
				waiting = true
			}
		}
		n := len(c.pending)
		c.mu.Unlock()
		if n == 0 || !waiting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish stops the producers, closes the rings, lets the consumers drain
// them to io.EOF, and kills what does not end in time.
func (c *campaign) finish(ctx context.Context) {
	now := time.Now()
	c.mu.Lock()
	for _, k := range c.pending { // stalled for good
		k.stall = now.Sub(k.at)
	}
	c.mu.Unlock()
	for _, r := range c.rings {
		atomic.StoreInt64(&c.l.ring(r.idx).HoldProducers, 0)
		atomic.StoreInt64(&c.l.ring(r.idx).HoldConsumers, 0)
	}
	c.stopProducers.Store(true)
	atomic.StoreUint32(&c.l.hdr.Stop, 1)
	// Each ring is closed as soon as its own producers have stopped, so
	// that its consumers do not wait (and reach their call deadline) on a
	// ring nobody produces to while a stalled ring's producers are waited
	// for.
	var wg sync.WaitGroup
	for _, r := range c.rings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range c.waitSlots(ctx, r.producers, stopWait) {
				c.problem("%v did not stop within %v: its ring is stalled", s, stopWait)
				c.forceKill(s)
			}
			if err := r.handle.CloseWrite(); err != nil {
				c.problem("%s: close: %v", r.name, err)
			}
		}()
	}
	wg.Wait()
	late := c.waitSlots(ctx, c.consumers, drainWait)
	c.stopConsumers.Store(true)
	for _, s := range late {
		c.forceKill(s)
	}
	for _, r := range c.rings {
		r.drained = true
		for _, s := range r.consumers {
			s.mu.Lock()
			r.drained = r.drained && s.clean
			s.mu.Unlock()
		}
	}
}

// waitSlots waits up to d for the slots' managers to return and lists
// those that did not.
func (c *campaign) waitSlots(ctx context.Context, slots []*slot, d time.Duration) []*slot {
	t := time.NewTimer(d)
	defer t.Stop()
	over := false
	var late []*slot
	for _, s := range slots {
		if !over {
			select {
			case <-s.exited:
				continue
			case <-t.C:
				over = true
			case <-ctx.Done():
				over = true
			}
		}
		select {
		case <-s.exited:
		default:
			late = append(late, s)
		}
	}
	return late
}

// forceKill kills slot s's incarnation, and any it starts from now on, and
// waits for its manager to return.
func (c *campaign) forceKill(s *slot) {
	s.mu.Lock()
	s.forced = true
	ch := s.child
	s.mu.Unlock()
	if ch != nil {
		ch.Kill()
	}
	<-s.exited
}

// childError is the gist of a failed child's error: the line its role
// printed ("xproc: role crash-child: ..."), else the first lines.
func childError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "xproc: role "); i >= 0 {
		line, _, _ := strings.Cut(msg[i:], "\n")
		return line
	}
	lines := strings.SplitN(msg, "\n", 4)
	return strings.Join(lines[:min(3, len(lines))], " | ")
}
