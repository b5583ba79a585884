package ring

// The rare paths of the broadcast producer: its first operation, a
// takeover by another handle, and what a dead producer left unpublished.

import (
	"sync/atomic"
)

// resyncProd takes up the producer side from the shared word cur (just
// loaded, != our word): on the first producer operation, or once the
// stream is ended; after another handle took over, it says ErrFenced.
func (b *Broadcast) resyncProd(cur uint64) error {
	p := &b.p
	cur, err := syncProducerWord(&b.prod.Pos, cur, p.tail != unsynced, &p.epoch)
	if err != nil {
		return err
	}
	t := cur & spscPosMask
	// Adopt what a previous producer completed but did not publish (it
	// died between a slot's final Seq store and its publish CAS): a
	// subscriber may already have taken those messages through Seq, so
	// the tail moves past them before anything is written. A slot still
	// marked for its position (the previous producer died, or is paused,
	// between its mark and its completion) is published as a hole, not
	// rewritten: a paused producer that resumes completes it with the same
	// Seq value we would, and a rewrite under its feet would pass the
	// seqlock check torn. Subscribers pass a hole silently (subscriber.go,
	// notReady); a late completion turns it into the paused producer's
	// whole message.
	k, holes := uint64(0), uint64(0)
	for k < b.g.slots {
		seq := atomic.LoadUint64(&b.bcastSlot(t + k).Seq) // acquire: pairs with endWrite
		if seq != t+k+1 && seq != (t+k+1)|bcastWriting {
			break
		}
		if seq&bcastWriting != 0 {
			holes++
		}
		k++
	}
	if k > 0 {
		// Counted before they are published, so that a takeover killed
		// between the two leaves Stats.Skipped over the holes published
		// (the next takeover counts the same slots again), never under:
		// every hole a subscriber passes is within Skipped. Taken back if
		// the publish fails.
		if holes > 0 {
			atomic.AddUint64(&b.hdr.Skipped, holes) // Stats.Skipped: positions published without a message
		}
		// CAS: publishes the adopted slots, and fails if a CloseWrite (or
		// another producer) got there first.
		if !atomic.CompareAndSwapUint64(&b.prod.Pos, cur, cur+k) {
			if holes > 0 {
				atomic.AddUint64(&b.hdr.Skipped, -holes) // not published by us
			}
			now := atomic.LoadUint64(&b.prod.Pos)
			if now&closedBit != 0 {
				return ErrClosed
			}
			if now&spscEpochMask != p.epoch {
				return ErrFenced
			}
			return corruptf("producer position changed while adopting %d unpublished slots", k)
		}
		t += k
		b.notEmpty.notify(0, b.peer)
	}
	if p.dead == nil {
		p.dead = make([]uint64, b.g.peers-b.g.subBase)
	}
	// limit 0: the first write looks at the tethered cursors. A
	// reservation this handle held is void (another producer took over).
	p.tail, p.limit, p.resv = t, 0, false
	b.markRole(RoleProducer)
	return nil
}
