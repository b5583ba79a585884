package fuzz

// The bounded FIFO queue that a ring must be linearizable to, as a
// porcupine model, and the recorder that turns ring operations into a
// porcupine history.
//
// State: the queue's items, oldest first; whether it is closed; and, for
// the relaxed model, the values most recently popped out of the slots that
// the next pushes will reuse (recent). Invariant:
// len(items)+len(recent) == min(pushes so far, capacity), so when the queue
// has pushed at least capacity items, recent[0] is the value that last
// occupied the slot the next push writes.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/ring"
)

// OpKind is what an operation asked of the ring.
type OpKind uint8

// Operation kinds.
const (
	OpPush  OpKind = 1 // push(v): TryPush, or TryReserve and Commit
	OpPop   OpKind = 2 // pop(): TryPop, or TryPeek and Release
	OpClose OpKind = 3 // close(): Close
)

func (k OpKind) String() string {
	switch k {
	case OpPush:
		return "push"
	case OpPop:
		return "pop"
	case OpClose:
		return "close"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Result is what the ring answered.
type Result uint8

// Results. A push answers OK, Full or Closed; a pop answers OK (with a
// value), Empty or EOF; a close answers OK.
const (
	ResOK     Result = 1
	ResFull   Result = 2 // ring.ErrFull
	ResEmpty  Result = 3 // ring.ErrEmpty
	ResEOF    Result = 4 // io.EOF: closed and drained
	ResClosed Result = 5 // ring.ErrClosed
)

func (r Result) String() string {
	switch r {
	case ResOK:
		return "ok"
	case ResFull:
		return "full"
	case ResEmpty:
		return "empty"
	case ResEOF:
		return "eof"
	case ResClosed:
		return "closed"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

// Op is one completed operation of a history.
type Op struct {
	Client int
	Kind   OpKind
	Result Result
	// Value is the pushed value (OpPush) or the popped one (OpPop with
	// ResOK). Values are unique within a history: see MakeValue.
	Value uint64
	// Call and Return are timestamps from one Clock: Call taken before the
	// ring was called, Return after it answered.
	Call, Return int64
}

func (o Op) String() string {
	switch {
	case o.Kind == OpPush:
		return fmt.Sprintf("c%d push(%s) -> %s [%d,%d]", o.Client, valueString(o.Value), o.Result, o.Call, o.Return)
	case o.Kind == OpPop && o.Result == ResOK:
		return fmt.Sprintf("c%d pop() -> %s [%d,%d]", o.Client, valueString(o.Value), o.Call, o.Return)
	}
	return fmt.Sprintf("c%d %s() -> %s [%d,%d]", o.Client, o.Kind, o.Result, o.Call, o.Return)
}

// MakeValue is the value a producer pushes: its id and its own sequence
// number, so values are unique within a history and a value popped twice,
// or popped without being pushed, is caught by the model.
func MakeValue(producer int, seq uint32) uint64 { return uint64(producer)<<32 | uint64(seq) }

func valueString(v uint64) string { return fmt.Sprintf("%d.%d", v>>32, uint32(v)) }

// Relax selects the relaxations of a strict bounded FIFO queue that an
// MPMC ring needs; doc.go gives the argument for each.
type Relax uint8

const (
	// RelaxPendingPush lets a pop answer empty while the queue's oldest
	// item was pushed by a push that overlaps the pop: the producer has
	// claimed the item's slot and not yet published it.
	RelaxPendingPush Relax = 1 << iota
	// RelaxPendingPop lets a push answer full while the slot it would fill
	// was emptied by a pop that overlaps the push: the consumer has claimed
	// the slot and not yet handed it back.
	RelaxPendingPop
	// RelaxPendingClose lets a pop answer empty rather than EOF while a
	// Close overlaps it: the closed bit is set but the read-mostly Closed
	// mirror that consumers poll is not yet.
	RelaxPendingClose

	// Strict is the plain linearizable bounded queue (SPSC rings).
	Strict Relax = 0
	// Vyukov is every relaxation, for MPMC rings.
	Vyukov = RelaxPendingPush | RelaxPendingPop | RelaxPendingClose
)

// Input is the porcupine input of an operation. Besides what was asked, it
// carries what overlapped the operation in the history, which the relaxed
// model consults; Annotate fills it in.
type Input struct {
	Kind  OpKind
	Value uint64 // OpPush: the value pushed
	// Overlap lists, for a pop, the values of successful pushes that
	// overlap it; for a push, the values returned by pops that overlap it.
	Overlap []uint64
	// CloseOverlaps says a Close overlaps the operation.
	CloseOverlaps bool
}

// Output is the porcupine output of an operation.
type Output struct {
	Result Result
	Value  uint64 // OpPop with ResOK
}

type queueState struct {
	items  []uint64
	recent []uint64
	closed bool
}

// QueueModel is a bounded FIFO queue of capacity items with push, pop and
// close, relaxed as relax says.
func QueueModel(capacity int, relax Relax) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return queueState{} },
		Step: func(st, in, out any) (bool, any) {
			return step(st.(queueState), in.(Input), out.(Output), capacity, relax)
		},
		Equal: func(a, b any) bool {
			x, y := a.(queueState), b.(queueState)
			return x.closed == y.closed && slices.Equal(x.items, y.items) && slices.Equal(x.recent, y.recent)
		},
		Hash: func(s any) uint64 {
			x := s.(queueState)
			h := fnv.New64a()
			var b [8]byte
			for _, v := range x.items {
				binary.LittleEndian.PutUint64(b[:], v)
				h.Write(b[:])
			}
			b[0] = 0xff
			if x.closed {
				b[0] = 0xfe
			}
			h.Write(b[:1])
			for _, v := range x.recent {
				binary.LittleEndian.PutUint64(b[:], v)
				h.Write(b[:])
			}
			return h.Sum64()
		},
		DescribeOperation: func(in, out any) string {
			i, o := in.(Input), out.(Output)
			switch {
			case i.Kind == OpPush:
				return fmt.Sprintf("push(%s) -> %s", valueString(i.Value), o.Result)
			case i.Kind == OpPop && o.Result == ResOK:
				return fmt.Sprintf("pop() -> %s", valueString(o.Value))
			}
			return fmt.Sprintf("%s() -> %s", i.Kind, o.Result)
		},
		DescribeState: func(s any) string {
			x := s.(queueState)
			var b strings.Builder
			b.WriteString("[")
			for i, v := range x.items {
				if i > 0 {
					b.WriteString(" ")
				}
				b.WriteString(valueString(v))
			}
			b.WriteString("]")
			if x.closed {
				b.WriteString(" closed")
			}
			return b.String()
		},
	}
}

// step is the sequential specification. It never modifies s.
func step(s queueState, in Input, out Output, capacity int, relax Relax) (bool, queueState) {
	switch in.Kind {
	case OpPush:
		switch out.Result {
		case ResOK:
			if s.closed || len(s.items) >= capacity {
				return false, s
			}
			n := queueState{items: append(slices.Clip(s.items), in.Value), recent: s.recent, closed: false}
			if len(s.items)+len(s.recent) == capacity {
				n.recent = s.recent[1:] // the slot's previous value is gone for good
			}
			return true, n
		case ResFull:
			if s.closed {
				return false, s // a closed ring answers ErrClosed first
			}
			if len(s.items) >= capacity {
				return true, s
			}
			// The slot this push would fill last held recent[0]; its pop
			// may still be handing the slot back.
			ok := relax&RelaxPendingPop != 0 && len(s.items)+len(s.recent) == capacity &&
				len(s.recent) > 0 && slices.Contains(in.Overlap, s.recent[0])
			return ok, s
		case ResClosed:
			return s.closed, s
		}
	case OpPop:
		switch out.Result {
		case ResOK:
			if len(s.items) == 0 || s.items[0] != out.Value {
				return false, s
			}
			n := queueState{items: s.items[1:], recent: append(slices.Clip(s.recent), s.items[0]), closed: s.closed}
			return true, n
		case ResEmpty:
			if len(s.items) == 0 {
				return !s.closed || relax&RelaxPendingClose != 0 && in.CloseOverlaps, s
			}
			// The oldest item's push may still be publishing it.
			return relax&RelaxPendingPush != 0 && slices.Contains(in.Overlap, s.items[0]), s
		case ResEOF:
			return s.closed && len(s.items) == 0, s
		}
	case OpClose:
		if out.Result == ResOK {
			return true, queueState{items: s.items, recent: s.recent, closed: true}
		}
	}
	return false, s
}

// Annotate turns a history into porcupine operations, filling in each
// input's overlap information. Intervals are closed, as porcupine reads
// them: two operations overlap if each was called no later than the other
// returned.
func Annotate(ops []Op) []porcupine.Operation {
	res := make([]porcupine.Operation, len(ops))
	for i, o := range ops {
		in := Input{Kind: o.Kind}
		if o.Kind == OpPush {
			in.Value = o.Value
		}
		for j, p := range ops {
			if j == i || p.Client == o.Client || p.Call > o.Return || o.Call > p.Return {
				continue
			}
			switch {
			case p.Kind == OpClose:
				in.CloseOverlaps = true
			case o.Kind == OpPop && p.Kind == OpPush && p.Result == ResOK:
				in.Overlap = append(in.Overlap, p.Value)
			case o.Kind == OpPush && p.Kind == OpPop && p.Result == ResOK:
				in.Overlap = append(in.Overlap, p.Value)
			}
		}
		out := Output{Result: o.Result}
		if o.Kind == OpPop && o.Result == ResOK {
			out.Value = o.Value
		}
		res[i] = porcupine.Operation{ClientId: o.Client, Input: in, Call: o.Call, Output: out, Return: o.Return}
	}
	return res
}

// Check checks a history against model within timeout. If it is not
// linearizable, it writes porcupine's visualization to a temporary file
// that outlives the test and names it in the error, with the history.
func Check(model porcupine.Model, ops []Op, timeout time.Duration) error {
	history := Annotate(ops)
	switch porcupine.CheckOperationsTimeout(model, history, timeout) {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("linearizability check timed out after %v on %d operations:\n%s", timeout, len(ops), FormatHistory(ops))
	}
	res, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	where := "(no visualization)"
	if f, err := os.CreateTemp("", "shmring-linearize-*.html"); err == nil {
		f.Close()
		if err := porcupine.VisualizePath(model, info, f.Name()); err == nil {
			where = "visualization: " + f.Name()
		} else {
			where = "(visualization failed: " + err.Error() + ")"
		}
	}
	return fmt.Errorf("history of %d operations is not linearizable (%s); %s\n%s", len(ops), res, where, FormatHistory(ops))
}

// IsLinearizable reports whether porcupine proves the history
// linearizable within timeout (a timeout counts as no).
func IsLinearizable(model porcupine.Model, ops []Op, timeout time.Duration) bool {
	return porcupine.CheckOperationsTimeout(model, Annotate(ops), timeout) == porcupine.Ok
}

// Needed returns the smallest set of relaxations under which the history
// of a ring of the given capacity is linearizable (Strict if none is
// needed), trying each relaxation alone before pairs and all three, and
// false if even Vyukov does not make it linearizable. Tests use it to
// count how often each relaxation is actually exercised.
func Needed(capacity int, ops []Op, timeout time.Duration) (Relax, bool) {
	for _, r := range []Relax{Strict, RelaxPendingPush, RelaxPendingPop, RelaxPendingClose,
		RelaxPendingPush | RelaxPendingPop, RelaxPendingPush | RelaxPendingClose, RelaxPendingPop | RelaxPendingClose, Vyukov} {
		if IsLinearizable(QueueModel(capacity, r), ops, timeout) {
			return r, true
		}
	}
	return Vyukov, false
}

func (r Relax) String() string {
	if r == Strict {
		return "strict"
	}
	var s []string
	for _, x := range []struct {
		r    Relax
		name string
	}{{RelaxPendingPush, "pending-push"}, {RelaxPendingPop, "pending-pop"}, {RelaxPendingClose, "pending-close"}} {
		if r&x.r != 0 {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, "+")
}

// FormatHistory lists ops by call time, one a line.
func FormatHistory(ops []Op) string {
	s := slices.Clone(ops)
	slices.SortFunc(s, func(a, b Op) int { return cmpInt64(a.Call, b.Call) })
	var b strings.Builder
	for _, o := range s {
		b.WriteString("  ")
		b.WriteString(o.String())
		b.WriteString("\n")
	}
	return b.String()
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// A Clock returns nanosecond timestamps that never go backwards.
type Clock func() int64

// ProcessClock returns a clock counting from now on Go's monotonic clock:
// comparable within this process only.
func ProcessClock() Clock {
	base := time.Now()
	return func() int64 { return int64(time.Since(base)) }
}

// MonotonicClock reads CLOCK_MONOTONIC, which every process on a machine
// shares, so histories recorded by several processes can be merged. (Go's
// own monotonic readings start at each process's start.)
func MonotonicClock() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err) // CLOCK_MONOTONIC exists on every supported system
	}
	return ts.Nano()
}

// A Recorder collects the operations of one history from its clients.
// Client may be called from any goroutine; each Client is used by one
// goroutine at a time.
type Recorder struct {
	now     Clock
	mu      sync.Mutex
	clients []*Client
}

// NewRecorder returns a recorder that stamps operations with now.
func NewRecorder(now Clock) *Recorder { return &Recorder{now: now} }

// Client returns a new client with the given id (porcupine's ClientId:
// small, distinct, zero-based).
func (r *Recorder) Client(id int) *Client {
	c := &Client{ID: id, now: r.now}
	r.mu.Lock()
	r.clients = append(r.clients, c)
	r.mu.Unlock()
	return c
}

// Ops returns every operation recorded so far. Call it once the clients
// are done.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ops []Op
	for _, c := range r.clients {
		ops = append(ops, c.ops...)
	}
	return ops
}

// A Client performs operations on a ring and records them. Every method
// returns an error only for an answer the queue model has no room for
// (ErrCorrupt, a malformed message, a failed Commit); such an operation is
// not recorded.
type Client struct {
	ID  int
	now Clock
	ops []Op
	buf [msgLen]byte
	// Dawdle, if set, runs between the two halves of a split operation
	// (TryReserve/Commit, TryPeek/Release), widening the window in which a
	// slot is claimed but not yet published or handed back.
	Dawdle func()
}

// Ops returns the client's operations.
func (c *Client) Ops() []Op { return c.ops }

// msgLen is the length of a history message: the value and its
// complement, so that a torn or stray message cannot pass for a value.
const msgLen = 16

// MsgLen is the SlotSize a ring used with a Client needs at least.
const MsgLen = msgLen

func encodeValue(b []byte, v uint64) {
	binary.LittleEndian.PutUint64(b[0:], v)
	binary.LittleEndian.PutUint64(b[8:], ^v)
}

func decodeValue(b []byte) (uint64, error) {
	if len(b) != msgLen {
		return 0, fmt.Errorf("popped a message of %d bytes, want %d", len(b), msgLen)
	}
	v := binary.LittleEndian.Uint64(b[0:])
	if binary.LittleEndian.Uint64(b[8:]) != ^v {
		return 0, fmt.Errorf("popped a corrupt message %x", b)
	}
	return v, nil
}

// Push pushes v with TryPush, or with TryReserve and Commit if zeroCopy.
func (c *Client) Push(r ring.Ring, v uint64, zeroCopy bool) error {
	var err error
	call := c.now()
	if zeroCopy {
		var res ring.Reservation
		if res, err = r.TryReserve(msgLen); err == nil {
			encodeValue(res.Buf, v)
			if c.Dawdle != nil {
				c.Dawdle()
			}
			if err = r.Commit(res, msgLen); err != nil {
				return fmt.Errorf("commit of %s: %w", valueString(v), err)
			}
		}
	} else {
		encodeValue(c.buf[:], v)
		err = r.TryPush(c.buf[:])
	}
	ret := c.now()
	var res Result
	switch {
	case err == nil:
		res = ResOK
	case errors.Is(err, ring.ErrFull):
		res = ResFull
	case errors.Is(err, ring.ErrClosed):
		res = ResClosed
	default:
		return fmt.Errorf("push of %s: %w", valueString(v), err)
	}
	c.ops = append(c.ops, Op{Client: c.ID, Kind: OpPush, Result: res, Value: v, Call: call, Return: ret})
	return nil
}

// Pop pops with TryPop, or with TryPeek and Release if zeroCopy. It
// returns the result it recorded.
func (c *Client) Pop(r ring.Ring, zeroCopy bool) (Result, error) {
	var v uint64
	var err, derr error
	call := c.now()
	if zeroCopy {
		var m ring.Message
		if m, err = r.TryPeek(); err == nil {
			v, derr = decodeValue(m.Data)
			if c.Dawdle != nil {
				c.Dawdle()
			}
			if err = r.Release(m); err != nil {
				return 0, fmt.Errorf("release: %w", err)
			}
		}
	} else {
		var n int
		if n, err = r.TryPop(c.buf[:]); err == nil {
			v, derr = decodeValue(c.buf[:n])
		}
	}
	ret := c.now()
	if derr != nil {
		return 0, derr
	}
	var res Result
	switch {
	case err == nil:
		res = ResOK
	case errors.Is(err, ring.ErrEmpty):
		res = ResEmpty
	case err == io.EOF:
		res = ResEOF
	default:
		return 0, fmt.Errorf("pop: %w", err)
	}
	c.ops = append(c.ops, Op{Client: c.ID, Kind: OpPop, Result: res, Value: v, Call: call, Return: ret})
	return res, nil
}

// Close ends the ring's stream (CloseWrite) and records it.
func (c *Client) Close(r ring.Ring) error {
	call := c.now()
	err := r.CloseWrite()
	ret := c.now()
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	c.ops = append(c.ops, Op{Client: c.ID, Kind: OpClose, Result: ResOK, Call: call, Return: ret})
	return nil
}

// Drain pops until the ring answers empty or EOF, at most limit times.
// Run after every other client is done, its final answer certifies that
// the model's queue is empty too: nothing pushed was lost.
func (c *Client) Drain(r ring.Ring, limit int) error {
	for range limit {
		res, err := c.Pop(r, false)
		if err != nil || res != ResOK {
			return err
		}
	}
	return nil
}
