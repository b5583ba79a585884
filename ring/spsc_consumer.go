package ring

// The consumer side of the SPSC ring (spsc.go has the invariants, the slot
// format and the producer side): TryPop, batches and peek/release, with
// the consumer's cache of Tail and the Closed-mirror poll.

import (
	"context"
	"io"
	"sync/atomic"
	"unsafe"
)

// TryPop copies the next message into dst and returns its length. It
// returns ErrEmpty, io.EOF once the stream is ended and drained,
// io.ErrShortBuffer if dst is too short (the message stays in the ring),
// ErrOutstanding or ErrCorrupt; it never blocks.
func (r *SPSC) TryPop(dst []byte) (int, error) { return r.pop(dst) } // counts its empty polls itself (notReady)

// Pop is TryPop that waits while the ring is empty, using the handle's
// wait strategy, until ctx is done. It returns io.EOF once the stream is
// ended and drained.
func (r *SPSC) Pop(ctx context.Context, dst []byte) (int, error) {
	n, err := r.TryPop(dst)
	return r.popWait(ctx, dst, n, err)
}

func (r *SPSC) pop(dst []byte) (int, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, r.shutErr()
	}
	c := &r.c
	// The prologue's and available1's common cases inline, their rare
	// ones in the calls (one call per poll fewer on the path a spinning
	// consumer runs; docs/benchmarks.md counts the instructions).
	if cur := atomic.LoadUint64(&r.cons.Pos); cur != c.head|c.epoch || int64(cur) < 0 || c.peek { // acquire: as in consPrologue
		if err := r.consPrologue(); err != nil {
			return 0, err
		}
	}
	if c.tailCache <= c.head && !r.seqReady() {
		if err := r.notReady(); err != nil {
			return 0, err
		}
	}
	off := r.slotOff(c.head)
	// One load of the peer-written length, checked before use (msgAt).
	n := uint64(*(*uint32)(unsafe.Pointer(&r.mem[off])))
	if n > r.g.slotSize {
		_, _, err := r.msgAt(c.head)
		return 0, err
	}
	if n > uint64(len(dst)) {
		return 0, io.ErrShortBuffer
	}
	data := off + spscSlotHeader
	copy(dst, r.mem[data:data+n])
	if err := r.release(c.head+1, 1, n); err != nil {
		return 0, err
	}
	return int(n), nil
}

// consPrologue starts every consumer operation with one load of the
// shared consumer word (our own line), so that a consumer handle that took
// over since our last operation is followed, never re-delivered.
func (r *SPSC) consPrologue() error {
	// Acquire: pairs with a consumer handle's release CAS of cons.Pos. A
	// word with bit 63 set is never a valid position (and would match the
	// unsynced sentinel): resyncCons refuses it.
	if cur := atomic.LoadUint64(&r.cons.Pos); cur != r.c.head|r.c.epoch || int64(cur) < 0 {
		if err := r.resyncCons(cur); err != nil {
			return err
		}
	}
	if r.c.peek {
		return ErrOutstanding
	}
	return nil
}

// available1 reports whether the message at the head can be read: nil,
// ErrEmpty, io.EOF or ErrCorrupt.
func (r *SPSC) available1() error {
	c := &r.c
	if c.tailCache > c.head { // the cache says a message is there
		return nil
	}
	// The next slot's Seq says whether its message is written, through the
	// line we are about to read anyway; the Tail line stays with the
	// producer.
	if r.seqReady() {
		return nil
	}
	return r.notReady()
}

// notReady is available1 once the cache and the head slot's Seq said no
// message: empty, unless closed (or the producer word says more). It
// counts the empty event of the Try call it answers (TryPop, TryPopBatch
// and TryPeek count through here, not through countedN).
func (r *SPSC) notReady() error {
	c := &r.c
	// The Closed mirror is read instead of the producer's hot word
	// (core.quietEmpty).
	if c.emptyPolls++; r.quietEmpty(c.emptyPolls) {
		r.countEmpty()
		return ErrEmpty
	}
	a, closed, err := r.refreshTail()
	switch {
	case err != nil:
		return err
	case a > 0:
		return nil
	case closed:
		return io.EOF
	}
	r.countEmpty()
	return ErrEmpty
}

// seqReady reports whether the slot at the consumer's head holds the
// message of that position.
func (r *SPSC) seqReady() bool { return r.seqWritten(r.c.head) }

// seqWritten reports whether the slot of pos holds the message of pos:
// its Seq is the low 32 bits of pos+1 (a slot's previous lap wrote
// pos+1-Slots, never equal: Slots <= 2^30).
func (r *SPSC) seqWritten(pos uint64) bool {
	h := (*spscSlot)(unsafe.Pointer(&r.mem[r.slotOff(pos)]))
	return atomic.LoadUint32(&h.Seq) == uint32(pos+1) // acquire: pairs with storeRelease32 after Len and data
}

// seqRun extends a run of from messages at the head, known to be
// readable, by the following slots whose Seq says their message is
// written, up to want messages in all (never more than Slots), and
// returns the run's length.
func (r *SPSC) seqRun(from, want uint64) uint64 {
	want = min(want, r.g.slots)
	n := from
	for n < want && r.seqWritten(r.c.head+n) {
		n++
	}
	return n
}

// refreshTail reloads Tail, validates it against the head, and caches it
// only if valid: how many messages may be read, and whether the stream
// ended (meaningful when 0).
func (r *SPSC) refreshTail() (uint64, bool, error) {
	t, a, eof, err := r.loadTail()
	if err == nil {
		r.c.tailCache = t
	}
	return a, eof, err
}

// loadTail reads the producer word and says what it means for the
// consumer at its head, changing no private state: the published tail t,
// how many messages may be read (t - head, or 1 when the head ran ahead of
// t and the next message shows through its Seq: see headAhead), and
// whether the stream ended and is drained.
func (r *SPSC) loadTail() (t, avail uint64, eof bool, err error) {
	c := &r.c
	// Acquire: pairs with the producer's CAS of prod.Pos, so the slot
	// contents written before it are visible.
	raw := atomic.LoadUint64(&r.prod.Pos)
	closed := raw&closedBit != 0
	if closed {
		r.repairClosedMirror()
	}
	t = raw & spscPosMask
	if t < c.head {
		avail, err = r.headAhead(t)
		return t, avail, false, err
	}
	if t-c.head > r.g.slots {
		if atomic.LoadUint64(&r.cons.Pos)&spscEpochMask != c.epoch {
			return 0, 0, false, ErrFenced // replaced since our prologue
		}
		return 0, 0, false, corruptf("producer position %d vs consumer position %d", t, c.head)
	}
	return t, t - c.head, closed && t == c.head, nil
}

// msgAt returns the validated length and data offset of the message at pos.
func (r *SPSC) msgAt(pos uint64) (uint64, uint64, error) {
	off := r.slotOff(pos)
	// One load of the peer-written length, checked before use.
	n := uint64(*(*uint32)(unsafe.Pointer(&r.mem[off])))
	if n > r.g.slotSize {
		return 0, 0, corruptf("slot %d: length %d exceeds slot size %d", pos&r.g.mask, n, r.g.slotSize)
	}
	return n, off + spscSlotHeader, nil
}

// release hands positions below next back to the producer.
func (r *SPSC) release(next, n, nbytes uint64) error {
	c := &r.c
	// CAS (LOCK CMPXCHG, sequentially consistent): releases our reads of
	// the slots to the producer's acquire load, orders this store before
	// notify's load of NotFullWaiters, and fails rather than moving the
	// position backwards if another consumer handle ran concurrently
	// (a contract violation we report instead of hiding).
	// The word carries our epoch: after a takeover the CAS fails and the
	// messages stay the new consumer's (ErrFenced).
	if !atomic.CompareAndSwapUint64(&r.cons.Pos, c.head|c.epoch, next|c.epoch) {
		if atomic.LoadUint64(&r.cons.Pos)&spscEpochMask != c.epoch {
			return ErrFenced // c.head and c.epoch stay: every later operation is fenced too
		}
		c.head = unsynced
		return corruptf("consumer position changed under the consumer (two consumers?)")
	}
	c.head = next
	r.cnt.addOut(n, nbytes)
	if c.pend.tick() {
		r.slowOut()
	}
	r.notFull.notify(int(n), r.peer)
	return nil
}

// TryPopBatch pops up to len(bufs) messages with one update of the shared
// consumer position. Message i is copied into bufs[i][:cap(bufs[i])] and
// bufs[i] is resliced to its length. It returns how many were popped; the
// error is non-nil only when none were (ErrEmpty, io.EOF,
// io.ErrShortBuffer, ErrCorrupt). A message longer than the cap of its
// buffer ends the batch before it.
func (r *SPSC) TryPopBatch(bufs [][]byte) (int, error) { return r.popBatch(bufs) } // counted in notReady

// PopBatch waits until at least one message is available, then pops up to
// len(bufs) like TryPopBatch.
func (r *SPSC) PopBatch(ctx context.Context, bufs [][]byte) (int, error) {
	n, err := r.TryPopBatch(bufs)
	return r.popBatchWait(ctx, bufs, n, err)
}

func (r *SPSC) popBatch(bufs [][]byte) (int, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, r.shutErr()
	}
	c := &r.c
	if len(bufs) == 0 {
		return 0, nil
	}
	if err := r.consPrologue(); err != nil {
		return 0, err
	}
	a := uint64(0)
	if c.tailCache > c.head {
		a = c.tailCache - c.head
	}
	if a < uint64(len(bufs)) {
		if a == 0 {
			// Nothing cached: poll as TryPop does (the head slot's Seq,
			// then the quiet Closed mirror), so that an empty poll stays
			// off the producer's line and a message that shows through
			// its Seq is taken, as the waiter's ready expects.
			if err := r.available1(); err != nil {
				return 0, err
			}
		}
		// More are wanted than the cache says: count the messages that
		// show through their slots' Seq beyond it (the lines the copy
		// reads next anyway), instead of loading Tail, the word the
		// producer writes with every publish (docs/benchmarks.md: a
		// batch consumer that kept up loaded it on every call and ran at
		// half the single-pop rate). The messages so taken are those k
		// single pops would take through their Seq; with an empty cache,
		// available1 said at least one is there.
		if c.tailCache > c.head {
			a = c.tailCache - c.head
		}
		a = max(a, r.seqRun(a, uint64(len(bufs))), 1)
	}
	k := min(a, uint64(len(bufs)))
	var nbytes uint64
	for i := uint64(0); i < k; i++ {
		n, data, err := r.msgAt(c.head + i)
		if err == nil && n > uint64(cap(bufs[i])) {
			err = io.ErrShortBuffer
		}
		if err != nil {
			if i == 0 {
				return 0, err
			}
			k = i
			break
		}
		bufs[i] = bufs[i][:n]
		copy(bufs[i], r.mem[data:data+n])
		nbytes += n
	}
	if err := r.release(c.head+k, k, nbytes); err != nil {
		return 0, err
	}
	return int(k), nil
}

// TryPeek returns the next message in place, without copying or consuming
// it; Release consumes it. At most one peeked message is outstanding:
// until it is released, other consumer operations return ErrOutstanding.
func (r *SPSC) TryPeek() (Message, error) { return r.peek() } // counted in notReady

// Peek is TryPeek that waits while the ring is empty.
func (r *SPSC) Peek(ctx context.Context) (Message, error) {
	m, err := r.TryPeek()
	return r.peekWait(ctx, m, err)
}

func (r *SPSC) peek() (Message, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return Message{}, r.shutErr()
	}
	c := &r.c
	// The prologue's, available1's and msgAt's common cases inline, as in
	// pop (one call per peek instead of four).
	if cur := atomic.LoadUint64(&r.cons.Pos); cur != c.head|c.epoch || int64(cur) < 0 || c.peek { // acquire: as in consPrologue
		if err := r.consPrologue(); err != nil {
			return Message{}, err
		}
	}
	if c.tailCache <= c.head && !r.seqReady() {
		if err := r.notReady(); err != nil {
			return Message{}, err
		}
	}
	off := r.slotOff(c.head)
	// One load of the peer-written length, checked before use (msgAt).
	n := uint64(*(*uint32)(unsafe.Pointer(&r.mem[off])))
	if n > r.g.slotSize {
		_, _, err := r.msgAt(c.head)
		return Message{}, err
	}
	data := off + spscSlotHeader
	c.peek = true
	return Message{Data: r.mem[data : data+n : data+n], pos: c.head, ring: &r.core}, nil
}

// Release consumes a message returned by TryPeek or Peek; its Data must
// not be used afterwards.
func (r *SPSC) Release(m Message) error {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return r.shutErr()
	}
	c := &r.c
	if m.ring != &r.core || !c.peek || m.pos != c.head {
		return ErrNotReserved
	}
	c.peek = false
	return r.release(c.head+1, 1, uint64(len(m.Data)))
}

// Discard drops up to n of the oldest messages (n < 0: every message
// published when it is called) as TryPopBatch would take them, without
// copying them, and returns how many it dropped. They count as consumed
// (Stats.MsgsOut, BytesOut). With nothing to drop it returns 0 and nil, or
// io.EOF once the stream is ended and drained; ErrOutstanding while a
// peeked message is held. It is a consumer operation: like the others, a
// handle's first one takes the consumer side over.
func (r *SPSC) Discard(n int) (int, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, r.shutErr()
	}
	if n == 0 {
		return 0, nil
	}
	if err := r.consPrologue(); err != nil {
		return 0, err
	}
	c := &r.c
	t, a, eof, err := r.loadTail()
	if err != nil {
		return 0, err
	}
	if a == 0 {
		if eof {
			return 0, io.EOF
		}
		return 0, nil
	}
	if t > c.head {
		c.tailCache = t
	}
	k := a
	if n > 0 && uint64(n) < k {
		k = uint64(n)
	}
	var nbytes uint64
	for i := uint64(0); i < k; i++ {
		ln, _, err := r.msgAt(c.head + i) // lengths are validated as a pop would
		if err != nil {
			if i == 0 {
				return 0, err
			}
			k = i
			break
		}
		nbytes += ln
	}
	if err := r.release(c.head+k, k, nbytes); err != nil {
		return 0, err
	}
	return int(k), nil
}
