package ring

// A View of a record ring (records.go): its records as found between the
// consumer position H and the claim position W, a summary for the tools,
// and a reader that follows the stream without consuming it (shmring
// tail).
//
// The view does not map the data area twice. It reads the area through
// the region's one mapping (every byte of [SlotsOffset, SlotsOffset +
// Capacity) is in it), and a payload that crosses the end of a mirrored
// ring is copied in two pieces, the second from byte 0. A monitor thus
// adds no mapping (arena.Mirror reserves address space and makes two
// more), works through an arena opened ReadOnly, and never holds a
// mirror that the arena's Close would have to tear down under it. Headers
// never cross the end: they are 16 bytes at 16-aligned indexes of an area
// whose size is a multiple of 16.
//
// Every value is loaded atomically, once, and checked against the
// private geometry before it moves the walk, as a consumer checks it
// (Records.next): the view never reads outside the data area, whatever a
// peer wrote.

import (
	"fmt"
	"io"
	"sync/atomic"
	"unsafe"
)

// RecordState is a record's state, the low 3 bits of its header's State
// word (docs/ring.md, the record ring).
type RecordState uint8

// The record states.
const (
	RecordBusy    RecordState = recBusy    // claimed, being written
	RecordMessage RecordState = recMessage // committed
	RecordPadding RecordState = recPadding // fills the end of a data area that is not mirrored
	RecordSkip    RecordState = recSkip    // abandoned (its producer died, closed or timed out)
)

func (s RecordState) String() string {
	switch s {
	case RecordBusy:
		return "busy"
	case RecordMessage:
		return "message"
	case RecordPadding:
		return "padding"
	case RecordSkip:
		return "skip"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// RecordHeader is one record of a record ring as found in memory.
type RecordHeader struct {
	// Pos is the record's position (a byte offset in the stream); Offset
	// its header's offset from the start of the ring.
	Pos    uint64
	Offset int64
	// Size is the bytes the record takes, header included; Len its
	// payload length (meaningful once committed: a busy record's Len is
	// whatever the bytes held).
	Size, Len uint32
	// State is the record's state and Lap the lap its State word carries
	// (the word is State | Lap<<3).
	State RecordState
	Lap   uint32
	// Owner is the claiming handle's tag; Entry the peer table entry it
	// names (0: the shared overflow entry).
	Owner uint32
	Entry int
	// OwnerGone, for a busy record only: its producer's handle is dead or
	// released, so the record will never be committed; Recover (or the
	// consumer, when it reaches it) makes it a skip record.
	OwnerGone bool
	// Next is the position of the record after it: Pos + Size, modulo the
	// ring's position modulus (docs/ring.md, Record rings).
	Next uint64
}

// RecordUsage summarises what a record ring holds.
type RecordUsage struct {
	// Capacity is the data area's size in bytes; Used the bytes between
	// the consumer position and the claim position (W - H), records of
	// every state included.
	Capacity, Used uint64
	// Mirrored: the data area is mapped twice by the ring's handles
	// (records cross the end; no padding records).
	Mirrored bool
	// MaxRecord is the largest record the ring accepts (Config.SlotSize).
	MaxRecord int
	// Records in [H, W), by state: Messages committed and not consumed
	// (peeked ones included), Busy being written, Skip abandoned, Padding
	// (at most one a lap).
	Messages, Busy, Skip, Padding int
	// Largest is the longest payload in flight (a busy record counts the
	// bytes it reserved).
	Largest uint64
	// Complete: the walk read every header in [H, W). False if it stopped
	// at a header it could not read (traffic moved H past it, or the
	// header is damaged: Check says which) or after maxWalk records.
	Complete bool
}

// maxWalk bounds the records a summary walks (a ring of 2^36 16-byte
// records would otherwise cost seconds per stat sample).
const maxWalk = 1 << 20

// Mirrored reports whether a record ring's data area is mapped twice by
// its handles (false for the other kinds).
func (v *View) Mirrored() bool { return v.c.g.mirrored }

// recordHeaderAt reads the header at pos and checks it as a consumer
// would (Records.next), for a record that must end by limit (the claim
// position). The message is "" for a valid header, else what is wrong.
func (v *View) recordHeaderAt(pos, limit uint64) (RecordHeader, string) {
	c := &v.c
	g := &c.g
	idx := g.recIndex(pos)
	off := g.slotsOff + idx // idx < capacity, 16-aligned: the header is inside the data area
	hd := (*recordHeader)(unsafe.Pointer(&c.mem[off]))
	// Acquire: pairs with the producer's commit CAS of State (Len and the
	// payload) and, through W, with its claim (Size, Owner).
	st := atomic.LoadUint32(&hd.State)
	h := RecordHeader{
		Pos: pos, Offset: int64(off),
		Size:  atomic.LoadUint32(&hd.Size),
		Len:   atomic.LoadUint32(&hd.Len),
		Owner: atomic.LoadUint32(&hd.Owner),
		State: RecordState(st & recStateMask),
		Lap:   st >> recLapShift,
	}
	h.Entry = int(h.Owner & tagIdxMask)
	h.Next = g.recAdd(pos, uint64(h.Size)%g.posMod)
	wantLap := g.recLap(pos)
	size := uint64(h.Size)
	maxSpan := span(g.slotSize)
	switch {
	case st&^recStateMask != wantLap:
		return h, fmt.Sprintf("record at position %d: lap %d in its state word %#x, want %d", pos, h.Lap, st, wantLap>>recLapShift)
	case size < recordHeaderSize || size%recordAlign != 0:
		return h, fmt.Sprintf("record at position %d: size %d is not a multiple of 16 of at least 16", pos, size)
	case size > g.recDist(limit, pos):
		return h, fmt.Sprintf("record at position %d: size %d runs past the claim position %d", pos, size, limit)
	case !g.mirrored && idx+size > g.capacity:
		return h, fmt.Sprintf("record at position %d: size %d crosses the end of a data area that is not mirrored", pos, size)
	}
	switch h.State {
	case RecordPadding:
		if g.mirrored || idx+size != g.capacity {
			return h, fmt.Sprintf("padding record at position %d of %d bytes does not end the data area (mirrored %v)", pos, size, g.mirrored)
		}
		return h, ""
	case RecordMessage, RecordBusy, RecordSkip:
	default:
		return h, fmt.Sprintf("record at position %d: state %d is none of busy, message, padding, skip", pos, h.State)
	}
	if size > maxSpan {
		return h, fmt.Sprintf("record at position %d: size %d above the largest record's %d", pos, size, maxSpan)
	}
	if h.State == RecordMessage && (uint64(h.Len) > size-recordHeaderSize || uint64(h.Len) > g.slotSize) {
		return h, fmt.Sprintf("message at position %d: length %d in a record of %d bytes", pos, h.Len, size)
	}
	if h.State == RecordBusy {
		h.OwnerGone = c.tagState(h.Owner, repairOpts{deadIdx: -1}) == claimDead
	}
	return h, ""
}

// recordPositions loads W (without the closed bit) and H (without the
// epoch): the consumer's first, so that W - H of a moving ring is at most
// what the ring held at some instant.
func (v *View) recordPositions() (w, h uint64, closed bool) {
	c := &v.c
	hw := atomic.LoadUint64(&c.cons.Pos) // acquire: pairs with the consumer's release CAS
	ww := atomic.LoadUint64(&c.prod.Pos) // acquire: pairs with the claim CAS (the headers below W)
	return ww & spscPosMask, hw & spscPosMask, ww&closedBit != 0
}

// walkRecords calls fn with each valid header from pos on, until limit,
// n records, fn returning false, or a header that is not valid (its
// complaint is returned with the position it stopped at).
func (v *View) walkRecords(pos, limit uint64, n int, fn func(RecordHeader) bool) (stop uint64, bad string) {
	for k := 0; pos != limit && k < n; k++ {
		h, msg := v.recordHeaderAt(pos, limit)
		if msg != "" {
			return pos, msg
		}
		if !fn(h) {
			break
		}
		pos = v.c.g.recAdd(pos, uint64(h.Size))
	}
	return pos, ""
}

// Records reads up to n record headers from the consumer position on,
// towards the claim position: the records a consumer has yet to release,
// in order, then those being written (nil for the other kinds). The walk
// is as found: under traffic it may stop early at a header the consumer
// has passed meanwhile (Check tells a damaged header from that).
func (v *View) Records(n int) []RecordHeader {
	if v.gone() || v.c.kind != kindRecords || n <= 0 {
		return nil
	}
	w, h, _ := v.recordPositions()
	if v.c.g.recDist(w, h) > v.c.g.capacity || h%recordAlign != 0 {
		return nil
	}
	var out []RecordHeader
	v.walkRecords(h, w, n, func(r RecordHeader) bool { out = append(out, r); return true })
	return out
}

// RecordUsage summarises a record ring's contents (zero for the other
// kinds).
func (v *View) RecordUsage() RecordUsage {
	if v.gone() || v.c.kind != kindRecords {
		return RecordUsage{}
	}
	g := &v.c.g
	u := RecordUsage{Capacity: g.capacity, Mirrored: g.mirrored, MaxRecord: int(g.slotSize)}
	w, h, _ := v.recordPositions()
	if g.recDist(w, h) > g.capacity || h%recordAlign != 0 {
		return u
	}
	u.Used = g.recDist(w, h)
	stop, bad := v.walkRecords(h, w, maxWalk, func(r RecordHeader) bool {
		switch r.State {
		case RecordMessage:
			u.Messages++
			u.Largest = max(u.Largest, uint64(r.Len))
		case RecordBusy:
			u.Busy++
			u.Largest = max(u.Largest, uint64(r.Size)-recordHeaderSize)
		case RecordSkip:
			u.Skip++
		case RecordPadding:
			u.Padding++
		}
		return true
	})
	u.Complete = stop == w && bad == ""
	return u
}

// ReadRecord reads the record at position pos for a reader that follows
// the stream without consuming it (shmring tail): it returns the record's
// header and copies up to len(buf) bytes of a message's payload into buf
// (n). A busy record comes back with its header only (it may yet be
// committed, or made a skip record); padding and skip records with their
// header, to be passed (the next record is at Next).
//
// The copy is valid: the consumer position is read after it, and a
// producer reuses a record's bytes only after the consumer has moved past
// the record (records.go). If it has, the error is a *PassedError (the
// record is lost to this reader; resume at its Consumer). Other errors:
// ErrEmpty (pos is the claim position: nothing there yet), io.EOF (the
// stream is ended and pos is its end), ErrKind (not a record ring),
// ErrClosed (the view is), ErrCorrupt (pos or a header is impossible).
func (v *View) ReadRecord(pos uint64, buf []byte) (RecordHeader, int, error) {
	if v.gone() {
		return RecordHeader{}, 0, ErrClosed
	}
	c := &v.c
	g := &c.g
	if c.kind != kindRecords {
		return RecordHeader{}, 0, fmt.Errorf("%w: %v ring, not a record ring", ErrKind, c.kind)
	}
	if pos >= g.posMod || pos%recordAlign != 0 {
		return RecordHeader{}, 0, fmt.Errorf("%w: record position %d", ErrInvalid, pos)
	}
	w, h, closed := v.recordPositions()
	if g.recDist(w, h) > g.capacity {
		return RecordHeader{}, 0, corruptf("record ring positions: claim %d, consumer %d, capacity %d", w, h, g.capacity)
	}
	if g.recDist(pos, h) > g.recDist(w, h) { // before H (or beyond W: a position from another ring's life)
		return RecordHeader{}, 0, &PassedError{Pos: pos, Consumer: h, Bytes: g.recDist(h, pos)}
	}
	if pos == w {
		if closed {
			return RecordHeader{}, 0, io.EOF
		}
		return RecordHeader{}, 0, ErrEmpty
	}
	rh, bad := v.recordHeaderAt(pos, w)
	n := 0
	if bad == "" && rh.State == RecordMessage {
		n = min(int(rh.Len), len(buf))
		v.copyRecord(buf[:n], pos)
	}
	// Acquire: after the reads above. A consumer position still at or
	// below pos means no producer had room to reuse these bytes while we
	// read them.
	if h2 := atomic.LoadUint64(&c.cons.Pos) & spscPosMask; g.recDist(h2, h) > g.recDist(pos, h) { // H moved past pos (or went back: garbage)
		return RecordHeader{}, 0, &PassedError{Pos: pos, Consumer: h2, Bytes: g.recDist(h2, pos)}
	}
	if bad != "" {
		return rh, 0, corruptf("%s", bad)
	}
	return rh, n, nil
}

// copyRecord copies len(dst) payload bytes of the record at pos into dst,
// in two pieces if they cross the end of the data area (a mirrored ring).
func (v *View) copyRecord(dst []byte, pos uint64) {
	g := &v.c.g
	data := v.c.mem[g.slotsOff : g.slotsOff+g.capacity : g.slotsOff+g.capacity]
	i := g.recIndex(g.recAdd(pos, recordHeaderSize)) // the payload starts 16 bytes on, maybe at byte 0
	first := min(uint64(len(dst)), g.capacity-i)
	copyWords(dst[:first], data[i:i+first]) // 16-aligned start; words past first stay inside the area (capacity is a multiple of 16)
	if rest := uint64(len(dst)) - first; rest > 0 {
		copyWords(dst[first:], data[:rest]) // len(dst) <= SlotSize < Capacity/2
	}
}
