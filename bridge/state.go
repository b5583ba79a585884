package bridge

// The state file: one arena (state.go maps nothing itself; arena/ does)
// holding one region of kind KindState, written by one bridge process at a
// time (a flock on the file keeps a second one out) and read by monitors.
//
// Layout of the region (little-endian, offsets from its start):
//
//	0    stateHeader (stateHeaderSize bytes): magic, version, role,
//	     geometry, the Out side's spool positions, the In side's pending
//	     push, and the counters
//	hdr  Out: Window spool records of recordStride bytes, record i
//	     holding sequence Seq with Seq % Window == i:
//	       0 Seq uint64, 8 Len uint32, 12 pad uint32, 16 data[SlotSize]
//	     In: Window producer windows (type window, identity.go)
//
// Invariants (Out): Head <= Tail <= Head+Window; every seq < Head was
// acked by JetStream; the records of seqs Head..Tail-1 hold the messages
// published and not yet acked, whole (a record is written before Tail
// moves past it). In: a window entry with Name[0] == 0 is free; Pending
// names the one push that may be under way (pending.go).
//
// Ordering: the bridge is the only writer. Counters, Head, Tail and the
// pending record are updated with atomic stores and adds so that a
// monitor in another process reads whole words; a monitor's reads are
// atomic loads and need no ordering between words (each is a counter).
// Spool records are plain stores: they are read back only by the next
// bridge process after this one ended, and the end of a process orders
// every store it made to a shared mapping before anything the next one
// reads.

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// KindState tags the bridge's state region in its arena ("BRDG").
const KindState arena.Kind = 0x47445242

// StateRegion is the name of the state region.
const StateRegion = "bridge"

const (
	stateMagic   = 0x53524247 // "GBRS" little-endian: "SRBG"
	stateVersion = 1
)

// Role of a state file.
const (
	roleOut = 1
	roleIn  = 2
)

// stateCounters are the counters of a bridge, in its state region.
// Every field is written with an atomic add or store by the bridge and
// read with atomic loads by anyone.
type stateCounters struct {
	Published   uint64
	Acked       uint64
	Retried     uint64
	InFlight    uint64
	Received    uint64
	Pushed      uint64
	Duplicates  uint64
	Gaps        uint64
	Redelivered uint64
	Foreign     uint64
	Blocked     uint64 // nanoseconds spent waiting on a full ring (In) or on acks (Out)
	Updated     int64  // unix nanoseconds of the last counter update
	_           [4]uint64
}

// pendingPush is the In side's record of the one push under way (see
// In.push): Active is 1 from just before the push until the message is
// marked seen. Pos is the ring's producer position the push takes the
// ring to, when the bridge is the ring's only producer (SPSC, broadcast);
// 0 if unknown (MPMC).
type pendingPush struct {
	Active uint64
	Entry  uint64 // index of the producer's window
	Seq    uint64
	Pos    uint64
}

type stateHeader struct {
	Magic    uint32
	Version  uint32
	Role     uint32
	Lock     uint32 // its first byte is the writer's liveness lock (never written)
	Window   uint32 // Out: spool records; In: producer windows
	SlotSize uint32 // Out: bytes of data per record
	Created  int64  // unix nanoseconds: the state's epoch
	PID      uint64 // the bridge process that last opened it
	Producer [64]byte
	Subject  [128]byte
	Head     uint64 // Out: oldest unacked seq
	Tail     uint64 // Out: next seq to spool
	Pending  pendingPush
	Counters stateCounters
}

const (
	stateHeaderSize = int(unsafe.Sizeof(stateHeader{}))
	lockOffset      = int64(unsafe.Offsetof(stateHeader{}.Lock))
)

// record is the fixed part of a spool record; the data follows it.
type record struct {
	Seq uint64
	Len uint32
	_   uint32
}

const recordHeader = int(unsafe.Sizeof(record{}))

func recordStride(slotSize int) int { return recordHeader + (slotSize+7)&^7 }

// state is a bridge's open state: in an arena, or on the heap (no file).
type state struct {
	hdr  *stateHeader
	mem  []byte
	a    *arena.Arena // nil on the heap
	lock *arena.LiveLock
	// window and slotSize are private copies of the geometry, validated
	// at open: offsets are computed from them, never from the file.
	window, slotSize int
	// reused is true when an existing state was opened (a restart).
	reused bool
}

func (s *state) close() error {
	if s == nil || s.a == nil {
		return nil
	}
	var errs []error
	if s.lock != nil {
		errs = append(errs, s.lock.Unlock())
	}
	errs = append(errs, s.a.Close())
	return errors.Join(errs...)
}

// geometry of a state: what the region must hold.
type stateGeom struct {
	role     uint32
	window   int
	slotSize int // Out only
	producer string
	subject  string
}

func (g stateGeom) size() int {
	if g.role == roleOut {
		return stateHeaderSize + g.window*recordStride(g.slotSize)
	}
	return stateHeaderSize + g.window*int(unsafe.Sizeof(window{}))
}

// heapState is a state without a file: lost when the process ends.
func heapState(g stateGeom) *state {
	words := make([]uint64, (g.size()+7)/8)
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), g.size())
	s := &state{mem: mem, hdr: (*stateHeader)(unsafe.Pointer(&words[0]))}
	s.init(g)
	return s
}

func (s *state) init(g stateGeom) {
	h := s.hdr
	s.window, s.slotSize = g.window, g.slotSize
	h.Magic, h.Version, h.Role = stateMagic, stateVersion, g.role
	h.Window, h.SlotSize = uint32(g.window), uint32(g.slotSize)
	h.Created = time.Now().UnixNano()
	h.Producer = [64]byte{}
	copy(h.Producer[:], g.producer)
	h.Subject = [128]byte{}
	copy(h.Subject[:], g.subject)
	atomic.StoreUint64(&h.Head, 1) // monitor-visible words: whole stores
	atomic.StoreUint64(&h.Tail, 1)
}

// openState opens the state arena at path (creating it if missing),
// takes its lock and validates the region, or initialises it. An
// existing state that is valid and holds nothing in flight but was made
// for another geometry is reinitialised when it fits; one with messages
// in flight is refused with ErrStateMismatch.
func openState(path string, g stateGeom) (_ *state, err error) {
	need := g.size()
	a, err := arena.Open(path)
	if errors.Is(err, arena.ErrNotFound) {
		a, err = arena.Create(path, int64(need)+1<<20)
		if errors.Is(err, arena.ErrExists) {
			a, err = arena.Open(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: state %s: %w", path, err)
	}
	s := &state{a: a}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	r, err := a.Lookup(StateRegion)
	fresh := false
	if errors.Is(err, arena.ErrNotFound) {
		r, err = a.AllocKind(StateRegion, KindState, int64(need), 64)
		fresh = true
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: state %s: %w", path, err)
	}
	if r.Kind() != KindState {
		return nil, fmt.Errorf("%w: %s: region %q has kind %#x", ErrState, a.Path(), StateRegion, uint32(r.Kind()))
	}
	// A liveness lock on the header's Lock byte says "a bridge works this
	// state"; the kernel releases it when the bridge dies.
	if s.lock, err = a.LockLive(r.Offset() + lockOffset); err != nil {
		if errors.Is(err, arena.ErrHeld) {
			return nil, fmt.Errorf("%w: %s", ErrStateBusy, a.Path())
		}
		return nil, fmt.Errorf("bridge: state %s: lock: %w", path, err)
	}
	s.mem = r.Bytes()
	if len(s.mem) < stateHeaderSize {
		return nil, fmt.Errorf("%w: %s: region of %d bytes", ErrState, a.Path(), len(s.mem))
	}
	s.hdr = (*stateHeader)(unsafe.Pointer(&s.mem[0]))
	if fresh || s.hdr.Magic == 0 { // 0: allocated by a racing bridge that lost the lock to us
		s.init(g)
	} else if err := s.adopt(g); err != nil {
		return nil, fmt.Errorf("%s: %w", a.Path(), err)
	}
	atomic.StoreUint64(&s.hdr.PID, uint64(os.Getpid()))
	return s, nil
}

// adopt validates an existing state for g (it is hostile input: a bridge
// of another build, a damaged file) and reinitialises it if it is empty
// and of another geometry.
func (s *state) adopt(g stateGeom) error {
	h := s.hdr
	if h.Magic != stateMagic {
		return fmt.Errorf("%w: magic %#x", ErrState, h.Magic)
	}
	if h.Version != stateVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrState, h.Version, stateVersion)
	}
	if h.Role != g.role {
		return fmt.Errorf("%w: a state of role %d, want %d", ErrState, h.Role, g.role)
	}
	head, tail := atomic.LoadUint64(&h.Head), atomic.LoadUint64(&h.Tail)
	if head == 0 || head > tail || tail-head > uint64(h.Window) {
		return fmt.Errorf("%w: head %d tail %d window %d", ErrState, head, tail, h.Window)
	}
	same := int(h.Window) == g.window && int(h.SlotSize) == g.slotSize
	if g.role == roleOut {
		same = same && cstring(h.Producer[:]) == g.producer
	}
	if !same {
		if tail != head || atomic.LoadUint64(&h.Pending.Active) != 0 || g.role == roleIn {
			return fmt.Errorf("%w: state has window %d, slot size %d, producer %q; want %d, %d, %q",
				ErrStateMismatch, h.Window, h.SlotSize, cstring(h.Producer[:]), g.window, g.slotSize, g.producer)
		}
		if g.size() > len(s.mem) {
			return fmt.Errorf("%w: state region of %d bytes, want %d (remove the state file)", ErrStateMismatch, len(s.mem), g.size())
		}
		clear(s.mem)
		s.init(g)
		return nil
	}
	if g.size() > len(s.mem) {
		return fmt.Errorf("%w: region of %d bytes for %d", ErrState, len(s.mem), g.size())
	}
	s.reused = true
	s.window, s.slotSize = g.window, g.slotSize
	if g.role == roleOut {
		for q := head; q < tail; q++ {
			r, data := s.record(q)
			if r.Seq != q || int(r.Len) > len(data) {
				return fmt.Errorf("%w: spool record of seq %d holds seq %d, length %d", ErrState, q, r.Seq, r.Len)
			}
		}
		return nil
	}
	for i, w := range s.windows() {
		if w.Name[0] == 0 {
			continue
		}
		if w.Base > w.Max || w.Max > w.Base+WindowSize || w.First == 0 || w.NHoles > MaxHoles {
			return fmt.Errorf("%w: producer window %d: base %d max %d first %d holes %d", ErrState, i, w.Base, w.Max, w.First, w.NHoles)
		}
	}
	if p := &h.Pending; p.Active != 0 && p.Entry >= uint64(g.window) {
		return fmt.Errorf("%w: pending push of window %d", ErrState, p.Entry)
	}
	return nil
}

// record returns the spool record that holds seq and its data area (Out).
// The offset comes from the private geometry: seq cannot steer it out of
// the region.
func (s *state) record(seq uint64) (*record, []byte) {
	stride := recordStride(s.slotSize)
	off := stateHeaderSize + int(seq%uint64(s.window))*stride
	r := (*record)(unsafe.Pointer(&s.mem[off]))
	return r, s.mem[off+recordHeader : off+recordHeader+s.slotSize]
}

// windows returns the In side's producer table.
func (s *state) windows() []window {
	return unsafe.Slice((*window)(unsafe.Pointer(&s.mem[stateHeaderSize])), s.window)
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func unsafeAt(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
