package ring

// Broadcast subscribers (broadcast.go has the ring's invariants).
//
// A subscriber owns one entry of the ring's subscriber part of the peer
// table: the entry proves it alive (peers.go), holds its cursor (the word
// at 64: the next position it will read) and its counters (delivered,
// bytes, empty events, sleeps and wakes where a consumer's are; lapped
// events at 48 and messages missed at 32, the words a producer's full
// events and message count take in other entries). Its role bits say
// subscriber, and tethered unless it is lossy.
//
// Reading position q (the private cursor): load Seq (acquire); if it is
// q+1, load Len, copy the data out, fence (load-load), and load Seq
// again: still q+1, the copy is message q, whole, and the cursor moves to
// q+1. Seq below q+1 (or q+1 with the writing bit) is "not yet": the
// subscriber answers ErrEmpty, or io.EOF if the producer word is closed
// at q. Seq above q+1 (with or without the writing bit), first or second
// look, means the producer has come round: lapped. The subscriber reads
// the producer word and moves to the oldest position the producer has
// not started to rewrite, max(tail, the slot's position + 1) - Slots, and
// reports the difference as Missed. Lapped again before it reads anything
// (a producer streaming faster than it handles the lap), it resumes
// further on each time (lapSlack), so that it gets off the producer's
// overwrite frontier instead of being lapped at every read.
//
// Joining. Subscribe stores the cursor, then the role (both sequentially
// consistent), then reads the tail again. A producer whose last look at
// the cursors came before the role store may still rewrite positions
// below the cursor cache it had, which is at most that tail: positions
// from the second read on are safe. Joining at Newest takes the cursor to
// that second tail. Joining at Oldest starts a ring back; a tethered
// subscriber whose first messages are rewritten before its tether holds
// (positions below the second tail) moves past them silently: they were
// not in the ring any more when it joined. A lossy one is lapped.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/shmring/shmring/arena"
)

// JoinAt says where a new subscriber starts reading.
type JoinAt int

const (
	// Newest: only messages pushed after Subscribe returns.
	Newest JoinAt = iota
	// Oldest: every message still in the ring, in order, then on.
	Oldest
)

func (j JoinAt) String() string {
	switch j {
	case Newest:
		return "newest"
	case Oldest:
		return "oldest"
	}
	return fmt.Sprintf("JoinAt(%d)", int(j))
}

// SubscribeOptions say how a subscriber joins a broadcast ring.
type SubscribeOptions struct {
	// From is where it starts: Newest (the zero value) or Oldest.
	From JoinAt
	// Lossy: the producer never waits for this subscriber, which may be
	// lapped (ErrLapped, with the exact count of messages lost). Tethered
	// (false): the producer waits while this subscriber is Slots messages
	// behind, so it loses nothing; while it lives, a slow tethered
	// subscriber slows the producer down.
	Lossy bool
}

// Subscriber is a handle on a broadcast ring that reads every message
// from its join on. At most one goroutine reads through it (TryPop, Pop,
// batches, Peek/Release) at a time; Lag, Stats and Close are safe from
// any goroutine (Close after the last read).
type Subscriber struct {
	core
	_ cacheLinePad
	s subscriberState
	_ cacheLinePad
}

type subscriberState struct {
	cursor uint64 // next position to read
	// joinTail is the tail Subscribe read after its role was stored:
	// positions from it on are held for a tethered subscriber.
	joinTail   uint64
	word       *uint64 // the shared cursor in our entry
	lossy      bool
	peek       bool // a peeked message is outstanding
	emptyPolls uint32
	pend       pending
	// lap is a lap a batch found after it had popped messages: the next
	// call reports it (n == 0), as the contract of ErrLapped says.
	lap error
	// lapStreak counts laps since the last message read.
	lapStreak uint32
}

// lapSlack is how far past the oldest position a subscriber lapped k
// times in a row (k >= 1) without reading anything resumes: 1/16 of the
// ring, then 1/8, 1/4, and 1/2 from the fourth lap in a row on; at least 1.
// The first lap resumes at the oldest message exactly.
func lapSlack(slots uint64, k uint32) uint64 {
	return max(1, slots>>(5-min(k, 4)))
}

// pendingLap returns (and clears) a lap a batch found.
func (st *subscriberState) pendingLap() error {
	err := st.lap
	st.lap = nil
	return err
}

// Subscribe joins the broadcast ring named name in a as a new subscriber.
// It fails with ErrSubscribers if Config.Subscribers live subscribers are
// attached already.
func Subscribe(a *arena.Arena, name string, opt SubscribeOptions, opts ...Option) (*Subscriber, error) {
	s, err := newSubscriber(opt)
	if err != nil {
		return nil, err
	}
	if s, err = opened(s, a, name, opts); err != nil {
		return nil, err
	}
	return s.joined(opt)
}

// AttachSubscriber joins a broadcast ring in caller memory (NewBroadcast)
// as a new subscriber.
func AttachSubscriber(mem []byte, opt SubscribeOptions, opts ...Option) (*Subscriber, error) {
	s, err := newSubscriber(opt)
	if err != nil {
		return nil, err
	}
	if s, err = attached(s, mem, opts); err != nil {
		return nil, err
	}
	return s.joined(opt)
}

func newSubscriber(opt SubscribeOptions) (*Subscriber, error) {
	if opt.From != Newest && opt.From != Oldest {
		return nil, fmt.Errorf("%w: SubscribeOptions.From %v", ErrInvalid, opt.From)
	}
	s := &Subscriber{s: subscriberState{lossy: opt.Lossy}}
	s.core.bind(kindBroadcast, s, nil, &s.s.pend)
	s.subscriber = true
	return s, nil
}

func (s *Subscriber) joined(opt SubscribeOptions) (*Subscriber, error) {
	if err := s.join(opt); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// join sets the new subscriber's cursor and role (see the file comment).
func (s *Subscriber) join(opt SubscribeOptions) error {
	st := &s.s
	st.word = subCursor(s.peer)
	// A subscriber's counters are its own: the entry's previous
	// subscriber's go (Stats.MsgsOut, their sum, counts what the entries'
	// current or last subscribers read).
	e := s.peer
	for _, w := range [...]*uint64{&e.MsgsIn, &e.FullEvents, &e.MsgsOut, &e.BytesOut, &e.EmptyEvents, &e.Sleeps, &e.Wakes} {
		atomic.StoreUint64(w, 0)
	}
	t0 := atomic.LoadUint64(&s.prod.Pos) & spscPosMask // acquire
	x := t0
	if opt.From == Oldest {
		x = t0 - min(t0, s.g.slots)
	}
	// Sequentially consistent, cursor before role: a producer that sees
	// the role sees this cursor (or a later one).
	atomic.StoreUint64(st.word, x)
	role := RoleConsumer | RoleSubscriber
	if !st.lossy {
		role |= RoleTethered
	}
	s.markRole(role) // sequentially consistent OR
	t1 := atomic.LoadUint64(&s.prod.Pos) & spscPosMask
	if t1 < t0 {
		return corruptf("producer position went back from %d to %d", t0, t1)
	}
	st.cursor, st.joinTail = x, t1
	if opt.From == Newest {
		// Forward to t1, waking a producer that slept on the provisional
		// cursor.
		st.cursor = t1
		s.publishCursor()
	}
	return nil
}

// TryPop copies the next message into dst and returns its length. It
// returns ErrEmpty, io.EOF (the stream was closed and this subscriber has
// read all of it), io.ErrShortBuffer (the message stays), a *LappedError
// (errors.Is ErrLapped: n == 0, and the next call continues from the
// oldest message still in the ring), ErrOutstanding or ErrCorrupt, and
// never blocks.
func (s *Subscriber) TryPop(dst []byte) (int, error) { return s.countedN(s.pop(dst)) }

// Pop is TryPop that waits while there is nothing new, using the handle's
// wait strategy, until ctx is done.
func (s *Subscriber) Pop(ctx context.Context, dst []byte) (int, error) {
	n, err := s.TryPop(dst)
	return s.popWait(ctx, dst, n, err)
}

func (s *Subscriber) pop(dst []byte) (int, error) {
	if s.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, s.shutErr()
	}
	if s.s.peek {
		return 0, ErrOutstanding
	}
	if s.s.lap != nil {
		return 0, s.s.pendingLap()
	}
	n, err := s.take(dst)
	if err != nil {
		return 0, err
	}
	s.publishCursor()
	s.cnt.addOut(1, uint64(n))
	if s.s.pend.tick() {
		s.slowOut()
	}
	return n, nil
}

// take reads the message at the cursor into dst and moves the private
// cursor past it; publishCursor makes the move shared.
func (s *Subscriber) take(dst []byte) (int, error) {
	st := &s.s
	last := ^uint64(0)
	for try := 0; ; try++ {
		q := st.cursor
		if q != last { // each position gets its own retries
			last, try = q, 0
		}
		h := s.bcastSlot(q)
		seq := atomic.LoadUint64(&h.Seq) // acquire: pairs with endWrite's release
		if seq != q+1 {
			again, err := s.notReady(q, seq, try)
			if again {
				continue
			}
			return 0, err
		}
		n := uint64(atomic.LoadUint32(&h.Len)) // after Seq: Len was stored before it
		if n > s.g.slotSize || n > uint64(len(dst)) {
			// Perhaps a length the producer is rewriting: look again.
			if atomic.LoadUint64(&h.Seq) != seq {
				if again, err := s.lapped(q); !again {
					return 0, err
				}
				continue
			}
			if n > s.g.slotSize {
				return 0, corruptf("slot %d: length %d > slot size %d", q&s.g.mask, n, s.g.slotSize)
			}
			return 0, io.ErrShortBuffer
		}
		sharedCopyOut(dst[:n], s.bcastData(q, n))
		loadLoadFence() // the copy before the second look
		if atomic.LoadUint64(&h.Seq) != seq {
			if again, err := s.lapped(q); !again {
				return 0, err
			}
			continue
		}
		st.cursor = q + 1
		st.emptyPolls, st.lapStreak = 0, 0
		return int(n), nil
	}
}

// notReady handles a slot whose Seq (read as seq) is not q+1: lapped,
// not yet written, or the end of the stream. again: look at the slot once
// more.
func (s *Subscriber) notReady(q, seq uint64, try int) (again bool, err error) {
	if seq&^bcastWriting > q+1 {
		return s.lapped(q)
	}
	st := &s.s
	st.emptyPolls++
	if try == 0 && seq != (q+1)|bcastWriting && s.quietEmpty(st.emptyPolls) {
		// Nothing at the slot and no close in the mirror: answer without
		// the producer's line. A second look (try > 0) always loads the
		// producer word, so a slot that stays "not yet" under a tail past
		// it ends in ErrCorrupt rather than in ErrEmpty forever; so does a
		// slot marked for q itself (being written, or a hole), so that a
		// hole is passed at once.
		return false, ErrEmpty
	}
	word := atomic.LoadUint64(&s.prod.Pos) // acquire: pairs with the publish CAS
	t := word & spscPosMask
	if t > q {
		// Published past q: its Seq was stored before the publish, so a
		// second look sees it (or a lap).
		if try < 2 {
			return true, nil
		}
		if seq == (q+1)|bcastWriting {
			// A hole: a slot still marked for its own position under a
			// tail past it. A producer that took over published it without
			// a message (its predecessor died or paused between mark and
			// completion: broadcast_takeover.go), or a fenced producer's
			// late mark covered the message there. Nothing to deliver and
			// nothing missed: move on.
			st.cursor = q + 1
			s.publishCursor()
			return true, nil
		}
		return false, corruptf("slot of position %d has sequence %#x under producer position %d", q, seq, t)
	}
	if q-t > s.g.slots {
		return false, corruptf("subscriber position %d is more than a ring ahead of producer position %d", q, t)
	}
	if word&closedBit != 0 {
		s.repairClosedMirror()
		return false, io.EOF
	}
	return false, ErrEmpty
}

// lapped moves a subscriber whose message q was (or is being) rewritten
// to the oldest position the producer has not come round to, and returns
// the LappedError that says how many it missed. A tethered subscriber
// still joining (q below its join tail) moves on silently (again).
func (s *Subscriber) lapped(q uint64) (again bool, err error) {
	st := &s.s
	seq := atomic.LoadUint64(&s.bcastSlot(q).Seq) &^ bcastWriting
	t := atomic.LoadUint64(&s.prod.Pos) & spscPosMask // acquire
	// The slot holds (or is getting) position seq-1, at least a ring past
	// q, and the producer never marks a slot more than a ring past its
	// published tail.
	if seq < q+s.g.slots+1 || seq > t+s.g.slots {
		return false, corruptf("subscriber at %d found slot sequence %#x under producer position %d", q, seq, t)
	}
	// The oldest position still in the ring: a ring behind the tail, or
	// behind the position being written if that is further on (a batch
	// not yet published). If the producer starts rewriting it before we
	// read it, the next read finds that out too, and then, lapped again
	// without reading anything, we would stay on the producer's overwrite
	// frontier for as long as it streams: each lap in a row skips further
	// past the oldest (lapSlack), never past the tail.
	next := max(t, seq) - s.g.slots
	if st.lapStreak > 0 && st.lossy { // a tethered subscriber is lapped only in its join window, never past its join tail
		next = min(next+lapSlack(s.g.slots, st.lapStreak), t)
	}
	st.lapStreak++
	st.cursor = next
	s.publishCursor()
	if !st.lossy && q < st.joinTail {
		return true, nil
	}
	missed := next - q
	// A locked add, as every lap count (they are rare): FullEvents and
	// MsgsIn of a subscriber entry are never plain-added (peerEntry.addIn).
	atomic.AddUint64(&s.peer.FullEvents, 1)  // lapped events
	atomic.AddUint64(&s.peer.MsgsIn, missed) // messages missed
	return false, &LappedError{Missed: missed}
}

// publishCursor stores the private cursor into the shared one.
func (s *Subscriber) publishCursor() {
	st := &s.s
	if st.lossy {
		// Release: read by Lag and Stats only.
		storeOwned64(st.word, st.cursor)
		return
	}
	// Sequentially consistent: releases our copies of the slots below the
	// cursor to the producer's acquire load (tether) before it rewrites
	// them, and orders the store before notify's load of NotFullWaiters.
	atomic.StoreUint64(st.word, st.cursor)
	s.notFull.notify(1, s.peer)
}

// TryPopBatch pops up to len(bufs) messages with one update of the shared
// cursor. Message i is copied into bufs[i][:cap(bufs[i])] and bufs[i] is
// resliced to its length. It returns how many were popped; the error is
// non-nil only when none were. A message longer than the cap of its
// buffer, a lap or the end of the stream ends the batch before it (the
// next call reports it).
func (s *Subscriber) TryPopBatch(bufs [][]byte) (int, error) { return s.countedN(s.popBatch(bufs)) }

// PopBatch waits until at least one message is available, then pops up to
// len(bufs) like TryPopBatch.
func (s *Subscriber) PopBatch(ctx context.Context, bufs [][]byte) (int, error) {
	n, err := s.TryPopBatch(bufs)
	return s.popBatchWait(ctx, bufs, n, err)
}

func (s *Subscriber) popBatch(bufs [][]byte) (int, error) {
	if s.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, s.shutErr()
	}
	if s.s.peek {
		return 0, ErrOutstanding
	}
	if s.s.lap != nil {
		return 0, s.s.pendingLap()
	}
	var k int
	var nbytes uint64
	for k < len(bufs) {
		n, err := s.take(bufs[k][:cap(bufs[k])])
		if err != nil {
			if k == 0 {
				return 0, err
			}
			if errors.Is(err, ErrLapped) { // counted and moved already: reported by the next call
				s.s.lap = err
			}
			break
		}
		bufs[k] = bufs[k][:n]
		nbytes += uint64(n)
		k++
	}
	s.publishCursor()
	s.cnt.addOut(uint64(k), nbytes)
	if s.s.pend.tick() {
		s.slowOut()
	}
	return k, nil
}

// TryPeek returns the next message in place (Data aliases the slot) until
// Release. For a lossy subscriber the producer may rewrite the slot while
// it is held: Release then reports ErrLapped, and what Data showed must
// be discarded. It returns what TryPop returns, but not
// io.ErrShortBuffer.
func (s *Subscriber) TryPeek() (Message, error) { return s.countedMsg(s.peek()) }

// Peek is TryPeek that waits while there is nothing new.
func (s *Subscriber) Peek(ctx context.Context) (Message, error) {
	m, err := s.TryPeek()
	return s.peekWait(ctx, m, err)
}

func (s *Subscriber) peek() (Message, error) {
	if s.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return Message{}, s.shutErr()
	}
	st := &s.s
	if st.peek {
		return Message{}, ErrOutstanding
	}
	if st.lap != nil {
		return Message{}, st.pendingLap()
	}
	last := ^uint64(0)
	for try := 0; ; try++ {
		q := st.cursor
		if q != last { // each position gets its own retries
			last, try = q, 0
		}
		h := s.bcastSlot(q)
		seq := atomic.LoadUint64(&h.Seq) // acquire: pairs with endWrite's release
		if seq != q+1 {
			again, err := s.notReady(q, seq, try)
			if again {
				continue
			}
			return Message{}, err
		}
		n := uint64(atomic.LoadUint32(&h.Len))
		if n > s.g.slotSize {
			if atomic.LoadUint64(&h.Seq) != seq {
				if again, err := s.lapped(q); !again {
					return Message{}, err
				}
				continue
			}
			return Message{}, corruptf("slot %d: length %d > slot size %d", q&s.g.mask, n, s.g.slotSize)
		}
		st.peek, st.emptyPolls = true, 0
		d := s.bcastData(q, n)
		return Message{Data: d[:n:n], pos: q, ring: &s.core}, nil
	}
}

// Release hands back a peeked message. If its slot was rewritten while
// held (a lossy subscriber; or a tethered one that joined at Oldest, for
// a message rewritten before its tether held), it returns a *LappedError
// (errors.Is ErrLapped): what Data showed must be discarded. For a lossy
// subscriber the peeked message counts among the missed.
func (s *Subscriber) Release(m Message) error {
	if s.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return s.shutErr()
	}
	st := &s.s
	if m.ring != &s.core || !st.peek || m.pos != st.cursor {
		return ErrNotReserved
	}
	st.peek = false
	loadLoadFence() // the caller's reads of Data before the look at Seq
	if atomic.LoadUint64(&s.bcastSlot(m.pos).Seq) != m.pos+1 {
		if again, err := s.lapped(m.pos); !again {
			return err
		}
		// A tethered subscriber's join window: the message was not its to
		// lose, but the caller read Data, which may be torn: say so, and
		// count it as a lap like any other reported one.
		missed := st.cursor - m.pos
		atomic.AddUint64(&s.peer.FullEvents, 1)  // lapped events
		atomic.AddUint64(&s.peer.MsgsIn, missed) // messages missed
		return &LappedError{Missed: missed}
	}
	st.cursor = m.pos + 1
	st.lapStreak = 0
	s.publishCursor()
	s.cnt.addOut(1, uint64(len(m.Data)))
	if st.pend.tick() {
		s.slowOut()
	}
	return nil
}

// Lag is the number of messages pushed that this subscriber has not read
// yet (as of its last published cursor). Safe from any goroutine.
func (s *Subscriber) Lag() uint64 {
	if s.shut.Load() != 0 {
		return 0
	}
	t := atomic.LoadUint64(&s.prod.Pos) & spscPosMask // acquire
	if c := atomic.LoadUint64(s.s.word); c < t {
		return t - c
	}
	return 0
}

// Cursor is the position of the next message the subscriber reads: after
// a Pop, the popped message's position + 1. It reads the subscriber's
// private state (no system call, no shared load) and, like the reads, is
// for the subscriber's goroutine; 0 once closed.
func (s *Subscriber) Cursor() uint64 {
	if s.shut.Load() != 0 {
		return 0
	}
	return s.s.cursor
}

// Len is Lag, as an int.
func (s *Subscriber) Len() int { return int(s.Lag()) }

// Lossy reports whether the subscriber is lossy.
func (s *Subscriber) Lossy() bool { return s.s.lossy }

// Close leaves the ring: a tethered subscriber stops holding the
// producer at once. It never ends the stream. Idempotent.
func (s *Subscriber) Close() error { return s.Detach() }

// ready implements kindOps for the subscriber: a message (or a lap) at
// the cursor, or the producer word past it or closed.
func (s *Subscriber) ready(push bool) bool {
	if push {
		return true
	}
	q := s.s.cursor
	seq := atomic.LoadUint64(&s.bcastSlot(q).Seq) // acquire
	if seq == q+1 || seq&^bcastWriting > q+1 {
		return true
	}
	w := atomic.LoadUint64(&s.prod.Pos) // acquire
	return w&closedBit != 0 || w&spscPosMask > q
}

// watch implements kindOps: the Seq of the slot at the cursor.
func (s *Subscriber) watch(push bool) (*uint64, *uint32) {
	if push {
		return nil, nil
	}
	return &s.bcastSlot(s.s.cursor).Seq, nil
}

func (s *Subscriber) blocked(bool) (bool, bool)        { return false, false }
func (s *Subscriber) repairClaims(int) (int, int)      { return 0, 0 }
func (s *Subscriber) push([]byte) error                { return errNotProducer }
func (s *Subscriber) pushBatch([][]byte) (int, error)  { return 0, errNotProducer }
func (s *Subscriber) reserve(int) (Reservation, error) { return Reservation{}, errNotProducer }

// SubscriberStats are one subscriber's counters, read from its entry.
// Every read publishes its counts before it returns: none of them lag.
type SubscriberStats struct {
	// Index is the subscriber's entry in the peer table; PID its process.
	Index, PID int
	// Alive: its liveness test passed (Peer.Alive).
	Alive bool
	Lossy bool
	// Cursor is the next position it will read; Lag the messages pushed
	// that it has not read.
	Cursor, Lag uint64
	// Delivered and Bytes count what it read; Lapped the times it was
	// lapped and Missed the messages it lost to laps.
	Delivered, Bytes, Lapped, Missed uint64
	EmptyEvents, Sleeps, Wakes       uint64
}

// Stats reads this subscriber's counters.
func (s *Subscriber) Stats() SubscriberStats {
	if s.shut.Load() != 0 {
		return SubscriberStats{}
	}
	return s.subscriberStats(s.peerIdx)
}

// Subscribers lists the ring's occupied subscriber entries, live and
// dead.
func (b *Broadcast) Subscribers() []SubscriberStats {
	if b.shut.Load() != 0 {
		return nil
	}
	var out []SubscriberStats
	for i := int(b.g.subBase); i < int(b.g.peers); i++ {
		if atomic.LoadUint32(&b.peerAt(i).PID) != 0 {
			out = append(out, b.subscriberStats(i))
		}
	}
	return out
}

func (c *core) subscriberStats(i int) SubscriberStats {
	e := c.peerAt(i)
	pid := atomic.LoadUint32(&e.PID)
	alive, _ := c.peerAlive(i, pid)
	t := atomic.LoadUint64(&c.prod.Pos) & spscPosMask
	cur := atomic.LoadUint64(subCursor(e))
	roles := Role(atomic.LoadUint32(&e.Roles))
	st := SubscriberStats{
		Index: i, PID: int(pid), Alive: alive && pid != 0,
		Lossy:       roles&RoleSubscriber != 0 && roles&RoleTethered == 0,
		Cursor:      cur,
		Delivered:   atomic.LoadUint64(&e.MsgsOut),
		Bytes:       atomic.LoadUint64(&e.BytesOut),
		Lapped:      atomic.LoadUint64(&e.FullEvents),
		Missed:      atomic.LoadUint64(&e.MsgsIn),
		EmptyEvents: atomic.LoadUint64(&e.EmptyEvents),
		Sleeps:      atomic.LoadUint64(&e.Sleeps),
		Wakes:       atomic.LoadUint64(&e.Wakes),
	}
	if cur < t {
		st.Lag = t - cur
	}
	return st
}
