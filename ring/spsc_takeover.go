package ring

// The rare paths of the SPSC ring: a handle's first operation on a side,
// a handle that finds another took over its side since its last
// operation, a producer that died between writing slots and publishing
// them, and a consumer that took messages through their Seq ahead of the
// producer's Tail publish. None of this runs in steady state: the hot
// path reaches it only when the one comparison in its prologue fails.

import (
	"sync/atomic"
)

// Takeover and fencing. Each side's position word carries an epoch (bits
// 56..62). A handle's first operation on a side takes it over: one CAS
// bumps the epoch (keeping the position), and the handle remembers the
// new value. Every publish (release) CAS compares the whole word, epoch
// included, so once another handle has taken over, the replaced handle's
// CAS fails: its operation, and every later one on that side, returns
// ErrFenced. The prologue's one load of the word (a line the side owns
// anyway) catches the change before the replaced handle writes a slot; a
// handle paused between its prologue and its publish (SIGSTOP) fails at
// the publish. Before each slot's Seq store (which a consumer may act on
// before the publish) a producer loads the word once more
// (stillProducer). What remains: a producer paused in the instructions
// between that load and its Seq store, and resumed while the consumer
// waits at that very slot before the new producer has filled it, has that
// one message taken through Seq (delivered although its call returns
// ErrFenced), and the new producer's message for that position is lost;
// and a paused producer may write the bytes of the slots it was filling,
// which the new producer may reuse. A fenced call's message may also have
// been adopted by the new producer (its Seq was stored before the
// takeover): ErrFenced from a producer call means its outcome is unknown,
// not "not published". The crash contract (docs/ring.md) says so. The
// epoch has 7 bits: a handle paused across exactly a multiple of 128
// takeovers would not be fenced.

// takeOver bumps the epoch of the side word w, which read cur, and
// returns the new word. It fails if the word changed meanwhile.
func takeOver(w *uint64, cur uint64) (uint64, bool) {
	next := cur&^spscEpochMask | (cur+spscEpochOne)&spscEpochMask
	// Seq-cst CAS: orders the takeover before anything this handle then
	// reads or writes on the side, and against the replaced handle's CAS.
	return next, atomic.CompareAndSwapUint64(w, cur, next)
}

// syncProducerWord is the start of a producer's resync (SPSC and
// broadcast) from the shared word w, which read cur: closed is ErrClosed;
// a handle that had the side (synced) and finds another epoch is fenced;
// one that had not takes the side over, bumping the epoch into *epoch.
// It returns the word to continue from (same epoch, another position:
// only a hostile or corrupt write does that; the caller follows it,
// checked, as a takeover would).
func syncProducerWord(w *uint64, cur uint64, synced bool, epoch *uint64) (uint64, error) {
	if cur&closedBit != 0 {
		return 0, ErrClosed
	}
	if synced {
		if cur&spscEpochMask != *epoch {
			return 0, ErrFenced
		}
		return cur, nil
	}
	next, ok := takeOver(w, cur)
	if !ok {
		return 0, corruptf("producer word changed while taking the producer side over (two producers?)")
	}
	*epoch = next & spscEpochMask
	return next, nil
}

// syncConsumerWord is the start of a consumer's resync (SPSC and record
// rings) from the shared word w, which read cur: bit 63 is corrupt; a
// handle that had the side (synced) and finds another epoch is fenced;
// one that had not takes the side over, bumping the epoch into *epoch.
// It returns the position to continue from (same epoch, another
// position: only a hostile or corrupt write does that; the caller checks
// it against the producer's, as a takeover would).
func syncConsumerWord(w *uint64, cur uint64, synced bool, epoch *uint64) (uint64, error) {
	if cur > posMask {
		return 0, corruptf("consumer position %#x has bit 63 set", cur)
	}
	if synced {
		if cur&spscEpochMask != *epoch {
			return 0, ErrFenced
		}
	} else {
		next, ok := takeOver(w, cur)
		if !ok {
			return 0, corruptf("consumer word changed while taking the consumer side over (two consumers?)")
		}
		cur = next
		*epoch = cur & spscEpochMask
	}
	return cur & spscPosMask, nil
}

// resyncProd takes up the producer side from the shared word cur (just
// loaded, != our word): on the first producer operation, or once the
// stream is ended; after another handle took over, it says ErrFenced.
func (r *SPSC) resyncProd(cur uint64) error {
	p := &r.p
	cur, err := syncProducerWord(&r.prod.Pos, cur, p.tail != unsynced, &p.epoch)
	if err != nil {
		return err
	}
	t := cur & spscPosMask
	h := atomic.LoadUint64(&r.cons.Pos) // acquire: pairs with the consumer's release CAS
	if h > posMask {
		return corruptf("consumer position %#x has bit 63 set", h)
	}
	h &= spscPosMask
	// The head may be ahead of the tail: a consumer may already have
	// taken a previous producer's unpublished messages through Seq.
	if t-h > r.g.slots && h-t > r.g.slots {
		return corruptf("positions: tail %d, head %d, %d slots", t, h, r.g.slots)
	}
	// Adopt what a previous producer wrote but did not publish (it died or
	// stopped between a slot's Seq store and its tail CAS): those messages
	// are complete (Seq is stored after the data) and a consumer may
	// already have taken them through Seq, so the tail moves past them
	// before we write anything. Without this a new producer would rewrite
	// a slot whose Seq already says "ready". Scanning starts at the tail
	// and may run as far as min(tail, head) + Slots.
	base := min(t, h)
	k := uint64(0)
	for t+k-base < r.g.slots && r.seqWritten(t+k) {
		k++
	}
	if k > 0 {
		// CAS: publishes the adopted slots as the writer's own CAS would
		// have, and fails if a CloseWrite (or another producer) got there.
		if !atomic.CompareAndSwapUint64(&r.prod.Pos, cur, cur+k) {
			now := atomic.LoadUint64(&r.prod.Pos)
			if now&closedBit != 0 {
				return ErrClosed
			}
			if now&spscEpochMask != p.epoch {
				return ErrFenced
			}
			return corruptf("producer position changed while adopting %d unpublished slots", k)
		}
		t += k
		r.notEmpty.notify(int(k), r.peer)
	}
	if t < h {
		return corruptf("positions: tail %d behind head %d after adoption", t, h)
	}
	// A reservation this handle held was for a position another producer
	// handle has since taken over: it is void (Commit says ErrNotReserved).
	p.tail, p.headCache, p.resv = t, h, false
	r.markRole(RoleProducer)
	return nil
}

// publishFailed handles a failed publish CAS: the producer word is no
// longer our tail. It returns nil if the slots were published anyway.
func (r *SPSC) publishFailed(next uint64) error {
	p := &r.p
	cur := atomic.LoadUint64(&r.prod.Pos) // acquire: nothing below depends on it but the CAS
	if cur&spscEpochMask != p.epoch {
		return ErrFenced // another handle took over: nothing of ours is published
	}
	if cur == p.tail|p.epoch|closedBit {
		// CloseWrite landed between our prologue and this publish (a
		// CloseWrite that raced a push, which the contract asks callers to
		// avoid). The slots already carry their Seq, so a consumer may
		// have seen them: publish them under the closed bit rather than
		// report a failure for messages that were delivered.
		if atomic.CompareAndSwapUint64(&r.prod.Pos, cur, next|p.epoch|closedBit) {
			return nil
		}
		cur = atomic.LoadUint64(&r.prod.Pos)
	}
	if cur&closedBit != 0 {
		return ErrClosed
	}
	err := corruptf("producer position changed under the producer: %d, expected %d", cur, p.tail)
	p.tail = unsynced // resync on the next operation
	return err
}

// resyncCons takes up the consumer side from the shared word cur (just
// loaded, != our word): on the first consumer operation; after another
// handle took over, it says ErrFenced.
func (r *SPSC) resyncCons(cur uint64) error {
	c := &r.c
	cur, err := syncConsumerWord(&r.cons.Pos, cur, c.head != unsynced, &c.epoch)
	if err != nil {
		return err
	}
	// Acquire: pairs with the producer's publish CAS; the tail cached
	// from it permits reading the slots below it.
	t := atomic.LoadUint64(&r.prod.Pos) & spscPosMask
	// Head may run ahead of Tail by an in-flight publish (consumption
	// through slot Seqs), never by more than Slots.
	if t-cur > r.g.slots && cur-t > r.g.slots {
		return corruptf("positions: tail %d, head %d, %d slots", t, cur, r.g.slots)
	}
	// A message this handle had peeked belongs to the position another
	// consumer handle has since moved past: it is void (Release says
	// ErrNotReserved).
	c.head, c.tailCache, c.peek = cur, t, false
	r.markRole(RoleConsumer)
	return nil
}

// headAhead is loadTail's answer when the consumer's head is ahead of
// the published tail t: it consumed through slot Seqs ahead of the
// producer's Tail publish, which is on its way. Empty for now, never EOF;
// the next message may still be taken through its Seq.
func (r *SPSC) headAhead(t uint64) (uint64, error) {
	if r.c.head-t > r.g.slots {
		if atomic.LoadUint64(&r.cons.Pos)&spscEpochMask != r.c.epoch {
			return 0, ErrFenced // replaced since our prologue
		}
		return 0, corruptf("consumer position %d ahead of producer position %d", r.c.head, t)
	}
	if r.seqReady() {
		return 1, nil
	}
	return 0, nil
}

// blocked implements kindOps: an SPSC ring has no claims to repair (a new
// handle that takes over a side adopts what the dead one left).
func (r *SPSC) blocked(bool) (repaired, stuck bool) { return false, false }

// repairClaims implements kindOps: see blocked.
func (r *SPSC) repairClaims(int) (skipped, redelivered int) { return 0, 0 }
