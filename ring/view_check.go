package ring

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"
)

// Problem is one inconsistency View.Check found in a ring's shared memory.
type Problem struct {
	// Offset is the offset, from the start of the ring, of the word at
	// fault.
	Offset int64
	// Field names it (docs/ring.md's names: "prod.Pos", "peer[3].Roles",
	// "slot[5].Seq").
	Field string
	// Msg says what is wrong.
	Msg string
}

func (p Problem) String() string { return fmt.Sprintf("+%d %s: %s", p.Offset, p.Field, p.Msg) }

// checkTries bounds how many times Check rereads the positions to get a
// snapshot that traffic did not change under it. A ring that moves on
// every try is busy, and its position and slot checks are skipped (the
// header and peer checks still run).
const checkTries = 64

// clockSlack is how far in the future a timestamp may lie before Check
// calls it wrong (the clocks of the processes sharing a machine agree far
// better than this).
const clockSlack = time.Minute

// Check cross-checks what OpenView's validation cannot: the reserved bytes
// of the header, the positions against each other and the ring's size,
// the slot headers between them, the closed bit against its mirror, and
// every occupied peer entry (roles, subscriber entries in their part of
// the table, cursors within the stream, timestamps); for a record ring
// every record header between the positions, the claim lock, busy
// records of dead producers (what Recover would make skip records) and
// the records against the counters (checkRecords). It returns one
// Problem per finding, none for a healthy ring, whether it is idle or busy:
// a check that concurrent traffic could fail is made only on a snapshot
// that the traffic did not change (the position words read equal before
// and after it), and skipped on a ring that never holds still.
func (v *View) Check() []Problem {
	if v.gone() {
		return nil
	}
	var out []Problem
	c := &v.c
	report := func(p unsafe.Pointer, field, format string, args ...any) {
		off := int64(uintptr(p) - uintptr(unsafe.Pointer(&c.mem[0])))
		out = append(out, Problem{Offset: off, Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	// Reserved header bytes: [100,120) sit under the checksum, which
	// OpenView verified; [132,136) and [152,256) do not.
	h := c.hdr
	for _, r := range [...][2]int{{132, 136}, {152, ringHeaderSize}} {
		for off := r[0]; off < r[1]; off += 4 {
			if w := atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.mem[off]))); w != 0 { // 4-aligned, inside the header
				report(unsafe.Pointer(&c.mem[off]), "header.reserved", "reserved word is %#x, want 0", w)
				break
			}
		}
	}
	// The mirror is set after the bit (Close), so a mirror read first that
	// is set with the bit read after it clear is impossible.
	mirror := atomic.LoadUint32(&h.Closed)
	if mirror > 1 {
		report(unsafe.Pointer(&h.Closed), "Closed", "closed mirror is %d, want 0 or 1", mirror)
	}
	if mirror == 1 && atomic.LoadUint64(&c.prod.Pos)&closedBit == 0 {
		report(unsafe.Pointer(&h.Closed), "Closed", "closed mirror set while the producer word's closed bit is clear")
	}
	if c.kind != kindMPMC {
		if n := atomic.LoadUint64(&h.Redelivered); n != 0 {
			report(unsafe.Pointer(&h.Redelivered), "Redelivered", "%d redeliveries on a %s ring, which has none", n, c.kind)
		}
		if n := atomic.LoadUint64(&h.Skipped); n != 0 && c.kind == kindSPSC {
			report(unsafe.Pointer(&h.Skipped), "Skipped", "%d skips on an SPSC ring, which has none", n)
		}
	}

	out = append(out, v.checkPositions()...)
	if c.kind == kindRecords {
		out = append(out, v.checkClaimLock()...)
	}
	out = append(out, v.checkPeers()...)
	if len(out) > maxProblems {
		n := len(out) - maxProblems
		out = append(out[:maxProblems], Problem{Offset: 0, Field: "ring", Msg: fmt.Sprintf("%d more problems not listed", n)})
	}
	return out
}

// maxProblems bounds the problems Check lists for one ring (a ring of 2^30
// garbage slots would otherwise make a list as long).
const maxProblems = 1000

// checkPositions checks the positions and the slots between them on a
// snapshot (see Check).
func (v *View) checkPositions() []Problem {
	c := &v.c
	var out []Problem
	at := func(p unsafe.Pointer) int64 { return int64(uintptr(p) - uintptr(unsafe.Pointer(&c.mem[0]))) }
	for try := 0; try < checkTries; try++ {
		out = out[:0]
		p1 := atomic.LoadUint64(&c.prod.Pos)
		q1 := atomic.LoadUint64(&c.cons.Pos)
		prod, cons := p1&c.g.posMask, q1&c.g.posMask
		switch c.kind {
		case kindSPSC, kindMPMC:
			// An SPSC consumer may run ahead of the published tail, by
			// the slots whose Seq says they are written (spsc.go: a
			// producer preempted, or killed, between its Seq store and
			// its tail CAS): those slots must say so.
			ahead := cons > prod && c.kind == kindSPSC && cons-prod <= c.g.slots && len(v.checkSlots(cons, prod)) == 0
			switch {
			case cons > prod && !ahead:
				out = append(out, Problem{at(unsafe.Pointer(&c.cons.Pos)), "cons.Pos",
					fmt.Sprintf("consumer position %d is ahead of the producer's %d (and of what the slots between say is written)", cons, prod)})
			case cons > prod: // ahead through written slots: checked above
			case prod-cons > c.g.slots:
				out = append(out, Problem{at(unsafe.Pointer(&c.prod.Pos)), "prod.Pos",
					fmt.Sprintf("producer position %d is %d ahead of the consumer's %d, more than the %d slots", prod, prod-cons, cons, c.g.slots)})
			default:
				out = append(out, v.checkSlots(prod, cons)...)
			}
		case kindRecords:
			out = append(out, v.checkRecords(p1, q1)...)
		case kindBroadcast:
			if q1 != 0 {
				out = append(out, Problem{at(unsafe.Pointer(&c.cons.Pos)), "cons.Pos",
					fmt.Sprintf("consumer word %#x on a broadcast ring, which has none", q1)})
			}
			out = append(out, v.checkSlots(prod, prod-min(prod, c.g.slots))...)
			for i := c.g.subBase; i < c.g.peers; i++ {
				e := c.peerAt(int(i))
				if atomic.LoadUint32(&e.PID) == 0 {
					continue
				}
				// A subscriber may read ahead of the published tail by up
				// to a ring of completed slots (broadcast.go, notReady).
				if cur := atomic.LoadUint64(subCursor(e)); cur > prod+c.g.slots {
					out = append(out, Problem{at(unsafe.Pointer(subCursor(e))), fmt.Sprintf("peer[%d].Cursor", i),
						fmt.Sprintf("subscriber cursor %d is more than a ring ahead of the producer's position %d", cur, prod)})
				}
			}
		}
		if atomic.LoadUint64(&c.prod.Pos) == p1 && atomic.LoadUint64(&c.cons.Pos) == q1 {
			return out
		}
	}
	return nil // busy: never held still
}

// checkSlots checks the slot headers of positions [from, to) (to - from <=
// Slots): what the positions say they hold.
func (v *View) checkSlots(to, from uint64) []Problem {
	c := &v.c
	var out []Problem
	bad := func(sh SlotHeader, field, format string, args ...any) {
		out = append(out, Problem{Offset: sh.Offset, Field: fmt.Sprintf("slot[%d].%s", sh.Index, field), Msg: fmt.Sprintf(format, args...)})
	}
	for pos := from; pos < to && len(out) <= maxProblems; pos++ {
		sh := v.slotHeader(pos)
		if uint64(sh.Len) > c.g.slotSize {
			bad(sh, "Len", "length %d exceeds the slot size %d (position %d)", sh.Len, c.g.slotSize, pos)
		}
		switch c.kind {
		case kindSPSC:
			// Seq is uint32(pos+1) once written; a takeover that adopted the
			// slot wrote it too.
			if sh.Seq != uint64(uint32(pos+1)) {
				bad(sh, "Seq", "sequence %d, want %d for committed position %d", sh.Seq, uint32(pos+1), pos)
			}
		case kindMPMC:
			// Claimed by a producer (pos), committed (pos+1), a skip
			// record ((pos+1)|skip), taken by a consumer already
			// (pos+Slots, or its skip form), or a repair's state D (the
			// previous lap's message being republished: pos-Slots+1, or
			// its skip form; mpmc_repair.go), which stays if the
			// republisher dies.
			s := sh.Seq
			d := pos >= c.g.slots && (s == pos-c.g.slots+1 || s == (pos-c.g.slots+1)|skipBit)
			if s != pos && s != pos+1 && s != (pos+1)|skipBit && s != pos+c.g.slots && s != (pos+c.g.slots)|skipBit && !d {
				bad(sh, "Seq", "sequence %#x fits no state of position %d (want %d, %d or a skip record)", s, pos, pos, pos+1)
			}
		case kindBroadcast:
			// 1 + the position, or being written (a takeover's hole keeps
			// the writing bit: docs/ring.md, Takeover); or, for the
			// oldest slots of a wrapped ring, already rewritten (marked,
			// or completed) with the next lap's position, not yet
			// published: a batch writes several before its one publish,
			// without moving the producer word this snapshot watches.
			if w := sh.Seq &^ bcastWriting; w != pos+1 && w != pos+c.g.slots+1 {
				bad(sh, "Seq", "seqlock word %#x, want %d for position %d", sh.Seq, pos+1, pos)
			}
		}
	}
	return out
}

// checkPeers checks every occupied peer entry.
func (v *View) checkPeers() []Problem {
	c := &v.c
	var out []Problem
	now := time.Now()
	for i := 0; i < int(c.g.peers); i++ {
		e := c.peerAt(i)
		off := int64(c.g.peersOff + uint64(i)*c.g.peerStride)
		bad := func(field unsafe.Pointer, name, format string, args ...any) {
			fo := off + int64(uintptr(field)-uintptr(unsafe.Pointer(e)))
			out = append(out, Problem{Offset: fo, Field: fmt.Sprintf("peer[%d].%s", i, name), Msg: fmt.Sprintf(format, args...)})
		}
		pid := atomic.LoadUint32(&e.PID)
		roles := Role(atomic.LoadUint32(&e.Roles))
		if pid == 0 || i == 0 {
			continue // a free entry keeps its last handle's counters; entry 0 is shared
		}
		if roles&^knownRoles != 0 {
			bad(unsafe.Pointer(&e.Roles), "Roles", "unknown role bits %#x", uint32(roles&^knownRoles))
		}
		sub := uint64(i) >= c.g.subBase
		switch {
		case sub && roles != 0 && roles&RoleSubscriber == 0:
			bad(unsafe.Pointer(&e.Roles), "Roles", "subscriber entry with roles %v", roles)
		case !sub && roles&(RoleSubscriber|RoleTethered) != 0:
			bad(unsafe.Pointer(&e.Roles), "Roles", "handle entry with subscriber roles %v", roles)
		case c.kind == kindSPSC && roles&^(RoleProducer|RoleConsumer) != 0:
			bad(unsafe.Pointer(&e.Roles), "Roles", "SPSC entry with roles %v", roles)
		}
		for _, ts := range [...]struct {
			p    *int64
			name string
		}{{&e.AttachUnixNano, "AttachUnixNano"}, {&e.HeartbeatUnixNano, "HeartbeatUnixNano"}} {
			if t := atomic.LoadInt64(ts.p); t < 0 || time.Unix(0, t).After(now.Add(clockSlack)) {
				bad(unsafe.Pointer(ts.p), ts.name, "timestamp %d is in the future or negative", t)
			}
		}
		if f, m := atomic.LoadUint32(&e.SleepingFull), atomic.LoadUint32(&e.SleepingEmpty); f > 1<<20 || m > 1<<20 {
			bad(unsafe.Pointer(&e.SleepingFull), "SleepingFull", "sleeper counts %d (full) and %d (empty) are implausible", f, m)
		}
	}
	return out
}

// checkRecords checks a record ring's positions (the words p1 and q1 of a
// snapshot) and every record header between them: the walk a consumer
// would make, each header as Records.next checks it. Busy records whose
// producer is gone are reported too: they hold back every record after
// them until Recover, or the consumer on reaching them, makes them skip
// records. And the committed records found must be what the peer
// entries' counters say is in flight, on a snapshot whose counters held
// still as well.
func (v *View) checkRecords(p1, q1 uint64) []Problem {
	c := &v.c
	g := &c.g
	var out []Problem
	at := func(p unsafe.Pointer) int64 { return int64(uintptr(p) - uintptr(unsafe.Pointer(&c.mem[0]))) }
	prodAt, consAt := at(unsafe.Pointer(&c.prod.Pos)), at(unsafe.Pointer(&c.cons.Pos))
	if e := p1 &^ (closedBit | spscPosMask); e != 0 {
		out = append(out, Problem{prodAt, "prod.Pos", fmt.Sprintf("claim position word %#x has bits 56..62 set (a record ring's claim word has no epoch)", p1)})
	}
	if q1&closedBit != 0 {
		out = append(out, Problem{consAt, "cons.Pos", fmt.Sprintf("consumer position word %#x has bit 63 set", q1)})
	}
	w, h := p1&spscPosMask, q1&spscPosMask
	if w%recordAlign != 0 {
		out = append(out, Problem{prodAt, "prod.Pos", fmt.Sprintf("claim position %d is not 16-aligned", w)})
	}
	if h%recordAlign != 0 {
		out = append(out, Problem{consAt, "cons.Pos", fmt.Sprintf("consumer position %d is not 16-aligned", h)})
	}
	if d := g.recDist(w, h); d > g.capacity {
		out = append(out, Problem{prodAt, "prod.Pos", fmt.Sprintf("claim position %d is %d bytes from the consumer position %d, more than the capacity %d (or behind it)", w, int64(d<<8)>>8, h, g.capacity)})
	}
	if len(out) != 0 {
		return out
	}
	rp := (*recordProd)(unsafe.Pointer(c.prod)) // the producer unit is a whole padding unit (>= 64 bytes)
	if hc := atomic.LoadUint64(&rp.HeadCache); hc >= g.posMod || (hc != h && g.recDist(hc, h) < g.posMod/2) {
		out = append(out, Problem{at(unsafe.Pointer(&rp.HeadCache)), "prod.HeadCache",
			fmt.Sprintf("head cache %d is ahead of the consumer position %d (it is a consumer position a producer read)", hc, h)})
	}
	in1, out1 := v.recordCounts()
	msgs := uint64(0)
	stop, bad := v.walkRecords(h, w, int(g.slots)+1, func(r RecordHeader) bool {
		switch r.State {
		case RecordMessage:
			msgs++
		case RecordBusy:
			if r.OwnerGone {
				out = append(out, Problem{r.Offset + 4, fmt.Sprintf("record[%d].State", r.Pos),
					fmt.Sprintf("busy record at position %d (%d bytes) claimed by a gone handle (entry %d, tag %#x): needs Recover, which makes it a skip record (the consumer does too, on reaching it)", r.Pos, r.Size, r.Entry, r.Owner)})
			}
		}
		return len(out) <= maxProblems
	})
	if bad != "" {
		off := int64(g.slotsOff + g.recIndex(stop))
		out = append(out, Problem{off, fmt.Sprintf("record[%d]", stop), bad})
		return out
	}
	if in2, out2 := v.recordCounts(); in2 == in1 && out2 == out1 && in1-out1 != msgs {
		// A producer counts a record just after its commit (a CAS of
		// State, which moves no position word), a consumer just after its
		// release: look again after a while, and report only what held
		// still meanwhile (a handle killed between the two, or a
		// scribbled counter).
		time.Sleep(countSettle)
		in3, out3 := v.recordCounts()
		if in3 == in1 && out3 == out1 && atomic.LoadUint64(&c.prod.Pos) == p1 && atomic.LoadUint64(&c.cons.Pos) == q1 &&
			v.countMessages(h, w) == msgs {
			out = append(out, Problem{int64(g.peersOff), "peer.MsgsIn",
				fmt.Sprintf("the peer entries count %d records in flight (%d in, %d out), the ring holds %d committed ones (a handle killed between a commit or release and its count, or a scribbled counter)", int64(in1-out1), in1, out1, msgs)})
		}
	}
	return out
}

// countSettle is how long checkRecords waits to see whether counters that
// disagree with the records are merely behind a commit or a release.
const countSettle = 2 * time.Millisecond

// countMessages counts the committed records in [h, w).
func (v *View) countMessages(h, w uint64) uint64 {
	n := uint64(0)
	v.walkRecords(h, w, int(v.c.g.slots)+1, func(r RecordHeader) bool {
		if r.State == RecordMessage {
			n++
		}
		return true
	})
	return n
}

// recordCounts sums the record counters of the handle entries (a record
// ring's positions count bytes; its entries count records).
func (v *View) recordCounts() (in, out uint64) {
	c := &v.c
	for i := 0; i < int(c.g.subBase); i++ {
		e := c.peerAt(i)
		in += atomic.LoadUint64(&e.MsgsIn)
		out += atomic.LoadUint64(&e.MsgsOut)
	}
	return in, out
}

// checkClaimLock reports a record ring's claim lock held by a gone handle
// (the next producer takes it over, after lockSpin; Recover frees it), or
// by a value that is no handle's tag. A live holder holds it for a few
// instructions; one seen dead is looked at again before it is reported.
func (v *View) checkClaimLock() []Problem {
	c := &v.c
	rp := (*recordProd)(unsafe.Pointer(c.prod)) // see checkRecords
	off := int64(uintptr(unsafe.Pointer(&rp.ClaimLock)) - uintptr(unsafe.Pointer(&c.mem[0])))
	l := atomic.LoadUint32(&rp.ClaimLock)
	switch {
	case l == 0:
		return nil
	case !isTag(l) || l&^(tagIdxMask|tagGenMask<<tagGenShift) != 0:
		return []Problem{{off, "prod.ClaimLock", fmt.Sprintf("claim lock %#x is no handle's tag", l)}}
	case c.tagState(l, repairOpts{deadIdx: -1}) == claimDead && atomic.LoadUint32(&rp.ClaimLock) == l:
		return []Problem{{off, "prod.ClaimLock", fmt.Sprintf("claim lock held by a gone handle (entry %d, tag %#x): the next producer takes it over; Recover frees it", l&tagIdxMask, l)}}
	}
	return nil
}
