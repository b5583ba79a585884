package ring

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// View is a read-only look at a ring in an arena, for monitoring tools
// (shmring stat, inspect, check, the metrics exporter). It claims no peer
// entry and stores no byte of shared memory: every access is an atomic
// load, so it works through an arena opened with arena.ReadOnly (whose
// mapping a store would fault on), and a monitor cannot disturb the ring
// it watches. What it reads comes from peers that may be dead or hostile:
// it is reported as found, checked (Check) rather than trusted; addresses
// come from the geometry validated at OpenView, never from shared values.
//
// A View pins the arena's mapping (arena.Pin) like a handle: after the
// arena handle's Close (or the view's), its methods return zero values.
// Its methods but Close are safe for concurrent use.
type View struct {
	c      core
	name   string
	closed atomic.Bool
}

// OpenView validates the header of the ring named name in a (waiting up to
// DefaultOpenTimeout, or WithOpenTimeout's bound, for a racing creator to
// mark it ready: WithOpenTimeout(0) looks once, for tools that must not
// wait on a ring whose creator died before initialising it) and returns a
// read-only view of it. Options other than WithOpenTimeout are ignored.
func OpenView(a *arena.Arena, name string, opts ...Option) (*View, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: nil arena", ErrInvalid)
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	reg, err := a.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("ring: view %q: %w", name, err)
	}
	k, ok := kindOfRegion(reg.Kind())
	if !ok {
		return nil, fmt.Errorf("%w: region %q is not a ring (kind %#x)", ErrKind, name, uint32(reg.Kind()))
	}
	v := &View{name: name}
	v.c.kind = k
	if err := v.c.pinArena(a); err != nil {
		return nil, fmt.Errorf("ring: view %q: %w", name, err)
	}
	g, err := waitHeader(reg.Bytes(), k, uint64(a.PadUnit()), o.openTimeout)
	if err != nil {
		v.c.pin.Unpin()
		return nil, fmt.Errorf("ring: view %q: %w", name, err)
	}
	v.c.region, v.c.arena = reg, a
	v.c.layout(reg.Bytes(), g)
	return v, nil
}

// Close releases the view's pin on the arena's mapping. Idempotent. It
// must not run concurrently with the view's other methods (as Detach must
// not with a handle's operations): after the arena handle's Close, the
// last Unpin unmaps the memory they read.
func (v *View) Close() error {
	if v.closed.Swap(true) {
		return nil
	}
	v.c.shut.CompareAndSwap(0, shutHandle) // the arena's Close may have come first: Unpin regardless
	v.c.pin.Unpin()
	return nil
}

func (v *View) gone() bool { return v.c.shut.Load() != 0 }

// Name is the ring's region name.
func (v *View) Name() string { return v.name }

// Kind is the ring's kind: KindSPSC, KindMPMC, KindBroadcast or
// KindRecords.
func (v *View) Kind() arena.Kind { return v.c.kind.region() }

// KindName is the kind in words: "spsc", "mpmc", "broadcast" or "records".
func (v *View) KindName() string { n, _ := KindName(v.Kind()); return n }

// KindName names a region kind that is a ring kind in words, as tools and
// metric labels spell it ("spsc", "mpmc", "broadcast", "records"); ok is false for
// any other kind.
func KindName(k arena.Kind) (name string, ok bool) {
	rk, ok := kindOfRegion(k)
	if !ok {
		return "", false
	}
	return strings.ToLower(rk.String()), true
}

// Config is the ring's geometry as its header records it: for a record
// ring Capacity (bytes) and SlotSize (the largest record), Slots 0, as
// CreateRecords takes it.
func (v *View) Config() Config {
	g := v.c.g
	if v.c.kind == kindRecords {
		return Config{Capacity: int(g.capacity), SlotSize: int(g.slotSize), Peers: int(g.subBase)}
	}
	return Config{Slots: int(g.slots), SlotSize: int(g.slotSize), Peers: int(g.subBase), Subscribers: int(g.peers - g.subBase)}
}

// Offset is the ring's offset in the arena file (its region's); every
// offset a View reports is relative to it unless it says otherwise.
func (v *View) Offset() int64 { return v.c.region.Offset() }

// Stats reads the ring's counters (ring.Stats).
func (v *View) Stats() Stats {
	if v.gone() {
		return Stats{}
	}
	return v.c.Stats()
}

// Peers lists the occupied entries of the peer table (Ring.Peers).
func (v *View) Peers() []Peer {
	if v.gone() {
		return nil
	}
	return v.c.Peers()
}

// Subscribers lists a broadcast ring's occupied subscriber entries, live
// and dead (nil for the other kinds).
func (v *View) Subscribers() []SubscriberStats {
	if v.gone() || v.c.kind != kindBroadcast {
		return nil
	}
	var out []SubscriberStats
	for i := int(v.c.g.subBase); i < int(v.c.g.peers); i++ {
		if atomic.LoadUint32(&v.c.peerAt(i).PID) != 0 {
			out = append(out, v.c.subscriberStats(i))
		}
	}
	return out
}

// Positions are a ring's position words, decoded.
type Positions struct {
	// ProducerWord and ConsumerWord are the words as stored: the producer
	// unit's Pos (Tail, EnqPos) and the consumer unit's (Head, DeqPos;
	// unused by a broadcast ring).
	ProducerWord, ConsumerWord uint64
	// Producer and Consumer are the positions they hold (56 bits for SPSC,
	// broadcast and record rings, 63 for MPMC; a record ring's count
	// bytes: the claim position W and the consumer position H).
	Producer, Consumer uint64
	// ProducerEpoch and ConsumerEpoch are an SPSC (and broadcast producer,
	// record ring consumer) word's takeover epoch, bits 56..62.
	ProducerEpoch, ConsumerEpoch uint8
	// Closed: the producer word's bit 63. ClosedMirror: the header's
	// Closed word.
	Closed, ClosedMirror bool
	// The eventcounts: futex sequence words and registered sleepers.
	NotEmptySeq, NotEmptyWaiters uint32
	NotFullSeq, NotFullWaiters   uint32
}

// Positions reads the position words (the mirror first: a closer sets the
// bit before it).
func (v *View) Positions() Positions {
	if v.gone() {
		return Positions{}
	}
	c := &v.c
	var p Positions
	p.ClosedMirror = atomic.LoadUint32(&c.hdr.Closed) != 0
	p.ConsumerWord = atomic.LoadUint64(&c.cons.Pos)
	p.ProducerWord = atomic.LoadUint64(&c.prod.Pos)
	p.Closed = p.ProducerWord&closedBit != 0
	mask := c.g.posMask
	if c.kind == kindRecords {
		mask = spscPosMask // records.go: 56-bit positions, the consumer's epoch above
	}
	p.Producer = p.ProducerWord & mask
	p.Consumer = p.ConsumerWord & mask
	if mask == spscPosMask {
		p.ProducerEpoch = uint8((p.ProducerWord & spscEpochMask) >> spscEpochShift)
		p.ConsumerEpoch = uint8((p.ConsumerWord & spscEpochMask) >> spscEpochShift)
	}
	p.NotEmptySeq = atomic.LoadUint32(&c.prod.NotEmptySeq)
	p.NotEmptyWaiters = atomic.LoadUint32(&c.prod.NotEmptyWaiters)
	p.NotFullSeq = atomic.LoadUint32(&c.cons.NotFullSeq)
	p.NotFullWaiters = atomic.LoadUint32(&c.cons.NotFullWaiters)
	return p
}

// Field is one field of a shared record as found in memory.
type Field struct {
	// Name is the field's name in docs/ring.md ("Slots", "Tail", ...),
	// prefixed with its record for the units ("prod.Pos").
	Name string
	// Offset is the field's offset from the start of the ring; Size its
	// width in bytes.
	Offset int64
	Size   int
	// Value is the field read as a little-endian integer (atomically for
	// the 4- and 8-byte words); Text the field rendered for people (the
	// magic as a string, times as RFC 3339).
	Value uint64
	Text  string
}

// Header lists the ring header's fields, then the producer and consumer
// units', field by field with their offsets (docs/ring.md's tables); for
// a record ring also the header's DataAlign and Capacity and the producer
// unit's ClaimLock and HeadCache.
func (v *View) Header() []Field {
	if v.gone() {
		return nil
	}
	c := &v.c
	h := c.hdr
	var out []Field
	add := func(name string, p unsafe.Pointer, size int, text string) {
		off := int64(uintptr(p) - uintptr(unsafe.Pointer(&c.mem[0])))
		var val uint64
		switch size {
		case 2:
			val = uint64(*(*uint16)(p)) // immutable after State (docs/ring.md): a plain read races nothing
		case 4:
			val = uint64(atomic.LoadUint32((*uint32)(p)))
		case 8:
			val = atomic.LoadUint64((*uint64)(p))
		}
		if text == "" {
			text = fmt.Sprint(val)
		}
		out = append(out, Field{Name: name, Offset: off, Size: size, Value: val, Text: text})
	}
	magic := c.mem[:8:8] // written before State, never again
	out = append(out, Field{Name: "Magic", Offset: 0, Size: 8, Text: fmt.Sprintf("%q", magic)})
	add("VersionMajor", unsafe.Pointer(&h.VersionMajor), 2, "")
	add("VersionMinor", unsafe.Pointer(&h.VersionMinor), 2, "")
	add("Kind", unsafe.Pointer(&h.Kind), 4, fmt.Sprintf("%d (%s)", h.Kind, c.kind))
	add("Slots", unsafe.Pointer(&h.Slots), 4, "")
	add("SlotSize", unsafe.Pointer(&h.SlotSize), 4, "")
	add("SlotStride", unsafe.Pointer(&h.SlotStride), 4, "")
	add("PadUnit", unsafe.Pointer(&h.PadUnit), 4, "")
	add("RegionSize", unsafe.Pointer(&h.RegionSize), 8, "")
	add("ProdOffset", unsafe.Pointer(&h.ProdOffset), 8, "")
	add("ConsOffset", unsafe.Pointer(&h.ConsOffset), 8, "")
	add("PeersOffset", unsafe.Pointer(&h.PeersOffset), 8, "")
	add("PeerCapacity", unsafe.Pointer(&h.PeerCapacity), 4, "")
	add("PeerStride", unsafe.Pointer(&h.PeerStride), 4, "")
	add("SlotsOffset", unsafe.Pointer(&h.SlotsOffset), 8, "")
	add("CreatorPID", unsafe.Pointer(&h.CreatorPID), 4, "")
	add("Flags", unsafe.Pointer(&h.Flags), 4, fmt.Sprintf("%#x", atomic.LoadUint32(&h.Flags)))
	created := atomic.LoadUint64((*uint64)(unsafe.Pointer(&h.CreatedUnixNano)))
	add("CreatedUnixNano", unsafe.Pointer(&h.CreatedUnixNano), 8, time.Unix(0, int64(created)).UTC().Format(time.RFC3339Nano))
	add("Subscribers", unsafe.Pointer(&h.Subscribers), 4, "")
	if c.kind == kindRecords {
		add("DataAlign", unsafe.Pointer(&h.DataAlign), 4, "")
		add("Capacity", unsafe.Pointer(&h.Capacity), 8, "")
	}
	add("Checksum", unsafe.Pointer(&h.Checksum), 4, fmt.Sprintf("%#08x", atomic.LoadUint32(&h.Checksum)))
	add("State", unsafe.Pointer(&h.State), 4, fmt.Sprintf("%#x", atomic.LoadUint32(&h.State)))
	add("Closed", unsafe.Pointer(&h.Closed), 4, "")
	add("Skipped", unsafe.Pointer(&h.Skipped), 8, "")
	add("Redelivered", unsafe.Pointer(&h.Redelivered), 8, "")
	add("prod.Pos", unsafe.Pointer(&c.prod.Pos), 8, fmt.Sprintf("%#x", atomic.LoadUint64(&c.prod.Pos)))
	add("prod.NotEmptySeq", unsafe.Pointer(&c.prod.NotEmptySeq), 4, "")
	add("prod.NotEmptyWaiters", unsafe.Pointer(&c.prod.NotEmptyWaiters), 4, "")
	if c.kind == kindRecords {
		rp := (*recordProd)(unsafe.Pointer(c.prod)) // the producer unit is a whole padding unit (>= 64 bytes)
		add("prod.ClaimLock", unsafe.Pointer(&rp.ClaimLock), 4, fmt.Sprintf("%#x", atomic.LoadUint32(&rp.ClaimLock)))
		add("prod.HeadCache", unsafe.Pointer(&rp.HeadCache), 8, "")
	}
	add("cons.Pos", unsafe.Pointer(&c.cons.Pos), 8, fmt.Sprintf("%#x", atomic.LoadUint64(&c.cons.Pos)))
	add("cons.NotFullSeq", unsafe.Pointer(&c.cons.NotFullSeq), 4, "")
	add("cons.NotFullWaiters", unsafe.Pointer(&c.cons.NotFullWaiters), 4, "")
	return out
}

// PeerOffset is the offset of peer table entry i from the start of the
// ring (entry 0 is the shared overflow entry), or -1 if there is no such
// entry.
func (v *View) PeerOffset(i int) int64 {
	if i < 0 || uint64(i) >= v.c.g.peers {
		return -1
	}
	return int64(v.c.g.peersOff + uint64(i)*v.c.g.peerStride)
}

// SlotHeader is the header of one slot as found in memory.
type SlotHeader struct {
	// Pos is the position asked for; Index the slot it maps to (Pos mod
	// Slots); Offset the slot's offset from the start of the ring.
	Pos    uint64
	Index  int
	Offset int64
	// Seq is the slot's sequence word: an SPSC slot's 32-bit Seq, an MPMC
	// slot's turn (bit 63: skip record), a broadcast slot's seqlock word
	// (1 + the position it holds; bit 63: being written).
	Seq uint64
	// Len is the message length recorded; Owner an MPMC slot's claim tag
	// (0 for the other kinds).
	Len   uint32
	Owner uint32
}

// Slots reads the headers of the n slots of positions from, from+1, ...
// (n is capped at the ring's slot count). A record ring has no slots:
// nil (Records reads its records).
func (v *View) Slots(from uint64, n int) []SlotHeader {
	if v.gone() || n <= 0 || v.c.kind == kindRecords {
		return nil
	}
	n = min(n, int(v.c.g.slots))
	out := make([]SlotHeader, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, v.slotHeader(from+uint64(i)))
	}
	return out
}

func (v *View) slotHeader(pos uint64) SlotHeader {
	c := &v.c
	idx := pos & c.g.mask
	off := c.g.slotsOff + idx*c.g.stride // idx < slots: inside the ring
	p := unsafe.Pointer(&c.mem[off])     // slot headers are 8-aligned (stride and SlotsOffset are multiples of 8)
	sh := SlotHeader{Pos: pos, Index: int(idx), Offset: int64(off)}
	switch c.kind {
	case kindSPSC:
		s := (*spscSlot)(p)
		sh.Seq = uint64(atomic.LoadUint32(&s.Seq))
		sh.Len = atomic.LoadUint32(&s.Len)
	case kindMPMC:
		s := (*mpmcSlot)(p)
		sh.Seq = atomic.LoadUint64(&s.Seq)
		sh.Len = atomic.LoadUint32(&s.Len)
		sh.Owner = atomic.LoadUint32(&s.Owner)
	case kindBroadcast:
		s := (*bcastSlot)(p)
		sh.Seq = atomic.LoadUint64(&s.Seq)
		sh.Len = atomic.LoadUint32(&s.Len)
	}
	return sh
}

// Payload copies up to len(buf) bytes of the message in the slot of
// position pos (at most its recorded length, capped at SlotSize) into buf,
// and returns how many. The copy is not synchronised with the slot's
// writer: it is for dumps, not for reading messages (Subscribe does that).
// A record ring has no slots: 0 (ReadRecord reads its records).
func (v *View) Payload(pos uint64, buf []byte) int {
	if v.gone() || v.c.kind == kindRecords {
		return 0
	}
	c := &v.c
	sh := v.slotHeader(pos)
	n := min(uint64(sh.Len), c.g.slotSize, uint64(len(buf)))
	off := uint64(sh.Offset) + c.g.slotHeader
	copyWords(buf[:n], c.mem[off:off+n]) // off+n <= slot end: n <= slotSize
	return int(n)
}

// copyWords copies src to dst with atomic loads of the 8-byte words src
// spans (src starts 8-aligned): a live writer may be storing into them,
// and a plain copy of memory another goroutine writes is a data race.
func copyWords(dst, src []byte) {
	var w [8]byte
	for i := 0; i < len(src); i += 8 {
		*(*uint64)(unsafe.Pointer(&w[0])) = atomic.LoadUint64((*uint64)(unsafe.Pointer(&src[i]))) // 8-aligned; may read past len(src) within the slot, never past the ring
		copy(dst[i:], w[:])
	}
}
