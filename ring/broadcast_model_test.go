package ring

// TestBroadcastModel and FuzzBroadcastOps (broadcast_fuzz_test.go): random
// or fuzz-chosen sequences of broadcast operations on one goroutine, each
// answer checked against bcastModel, a plain in-memory model of the ring:
// the producer word (tail, closed, epoch), every message published, every
// slot's Seq as the seqlock protocol leaves it, each producer handle's
// cached tether limit, and each subscriber's cursor, join tail and
// counters.
//
// What the model holds the ring to:
//
//   - Tethered subscribers: every message from the subscriber's join tail
//     on, in order, none lost, none twice, never lapped. Below the join
//     tail (an Oldest join: the window the producer's stale cursor cache
//     may still rewrite, subscriber.go) it moves on silently from a
//     message the producer rewrote, but never past its join tail.
//   - Lossy subscribers: an in-order subsequence whose gaps are exactly
//     the Missed of the LappedErrors reported, at the position the
//     documented formula gives (max(tail, the slot's position) + 1 -
//     Slots).
//   - ErrFull exactly when the producer's cache and then the cursors say
//     so: the cache is the documented mechanism (broadcast.go), and on
//     top of it the contract: ErrFull only while a live tethered
//     subscriber is Slots behind, and never a rewrite of a slot a
//     tethered subscriber past its join tail has not read.
//   - Lag, Len (backlog), Stats (MsgsIn, FullEvents, BytesIn, Peers),
//     Subscriber.Stats (Cursor, Lag, Lapped, Missed, Delivered, Bytes,
//     EmptyEvents with the 64-operation flushing), Subscribers(); every
//     error, including on closed handles, fenced producers, outstanding
//     reservations and peeks, foreign reservations and messages.
//
// Known bugs (bcastBug below) make the ring answer other than the model
// in states the model sees coming. The tests that must pass run it with
// avoid = allBcastBugs: the generator leaves out exactly the operations
// that would run into one (counted as avoided), and the counter checks
// accept what Stats says at a subscriber's join (bugStatsReuse). With a
// bug's bit clear the model reports it; the reproducers are in
// broadcast_bugs_test.go (its own commit, "failing: ...").

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// Model operations.
const (
	bmPush       = iota // TryPush
	bmPushBatch         // TryPushBatch
	bmReserve           // TryReserve (kept outstanding)
	bmCommit            // Commit of a reservation (own, foreign, zero)
	bmJoin              // AttachSubscriber: Oldest/Newest, tethered/lossy
	bmPop               // TryPop, sometimes into a short buffer
	bmPopBatch          // TryPopBatch
	bmPeek              // TryPeek (kept outstanding)
	bmRelease           // Release of a message (own, foreign, zero)
	bmSubClose          // Subscriber.Close
	bmProdClose         // Broadcast.Close
	bmCloseWrite        // CloseWrite through any handle
	bmAttach            // AttachBroadcast: a producer handle that takes over at its first operation
	bmInspect           // Lag, Len, Stats, Subscribers on every handle
	bmNumOps
)

var bmNames = [bmNumOps]string{"TryPush", "TryPushBatch", "TryReserve", "Commit", "AttachSubscriber", "TryPop",
	"TryPopBatch", "TryPeek", "Release", "Subscriber.Close", "Broadcast.Close", "CloseWrite", "AttachBroadcast", "inspect"}

// bmWeights are the random test's odds of each operation: mostly traffic.
// The end of the stream (bmProdClose, bmCloseWrite) comes once in about
// bmEndEvery operations instead.
var bmWeights = [bmNumOps]int{18, 8, 5, 6, 4, 18, 8, 6, 6, 2, 0, 0, 1, 4}

const bmEndEvery = 3000

// bcastBug is a set of known bugs the model steers around.
type bcastBug uint

const (
	// bugCommitClosed: Commit of a reservation after CloseWrite returns
	// ErrClosed, but the slot's Seq is already stored, so subscribers
	// read the message (SPSC publishes it under the closed bit instead).
	bugCommitClosed bcastBug = 1 << iota
	// bugJoinSkip: a tethered subscriber lapped in its join window moves
	// to tail+1-Slots, past the join tail when the producer's stale cache
	// let the tail reach join tail + Slots: it silently loses the message
	// at its join tail.
	bugJoinSkip
	// bugPeekWindow: a tethered subscriber's message peeked in its join
	// window is rewritten under the caller, and Release returns nil.
	bugPeekWindow
	// bugStatsReuse: Subscriber.Stats of a subscriber in an entry another
	// subscriber used before counts that one's deliveries and laps too.
	bugStatsReuse

	// allBcastBugs is the bugs still open, whose operations the model
	// steers around: none (each was fixed; broadcast_bugs_test.go).
	allBcastBugs   bcastBug = 0
	fixedBcastBugs          = bugCommitClosed | bugJoinSkip | bugPeekWindow | bugStatsReuse
)

func (b bcastBug) String() string {
	switch b {
	case bugCommitClosed:
		return "Commit after CloseWrite returns ErrClosed but delivers the message"
	case bugJoinSkip:
		return "tethered Oldest subscriber in its join window skips the message at its join tail"
	case bugPeekWindow:
		return "tethered subscriber's message peeked in its join window rewritten, Release returns nil"
	case bugStatsReuse:
		return "Subscriber.Stats counts the previous subscriber of its entry"
	}
	return fmt.Sprintf("bcastBug(%#x)", uint(b))
}

// chooser makes the model's choices: a seeded PRNG or fuzz bytes.
type chooser interface {
	more() bool
	intn(n int) int // in [0, n), n > 0
	op() int        // the next operation
	pick(n int) int // a handle of n (> 0), the newest more often for the PRNG
}

type rngChooser struct {
	r    *rand.Rand
	left int
}

func (c *rngChooser) more() bool     { c.left--; return c.left >= 0 }
func (c *rngChooser) intn(n int) int { return c.r.IntN(n) }
func (c *rngChooser) op() int {
	if c.r.IntN(bmEndEvery) == 0 {
		return []int{bmProdClose, bmCloseWrite}[c.r.IntN(2)]
	}
	total := 0
	for _, w := range bmWeights {
		total += w
	}
	x := c.r.IntN(total)
	for i, w := range bmWeights {
		if x < w {
			return i
		}
		x -= w
	}
	return bmInspect
}
func (c *rngChooser) pick(n int) int {
	if c.r.IntN(4) != 0 {
		return n - 1
	}
	return c.r.IntN(n)
}

// byteChooser reads a FuzzBroadcastOps program.
type byteChooser struct{ s script }

func (c *byteChooser) more() bool { return c.s.more() }
func (c *byteChooser) intn(n int) int {
	if n <= 256 {
		return int(c.s.next()) % n
	}
	return int(c.s.u16()) % n
}
func (c *byteChooser) op() int        { return int(c.s.next()) % bmNumOps }
func (c *byteChooser) pick(n int) int { return c.intn(n) }

// bcastModel is a broadcast ring over heap memory, the handles on it, and
// the model of what each must answer.
type bcastModel struct {
	t     testing.TB
	cfg   Config // Peers and Subscribers filled in
	g     geometry
	mem   []byte
	c     chooser
	avoid bcastBug // known bugs steered around

	tail   uint64 // the published producer position
	closed bool
	epoch  int      // takeovers so far
	seq    []uint64 // each slot's Seq
	msgs   [][]byte // msgs[p]: the message published at position p

	prods    []*mProd
	subs     []*mSub
	prodEnts []bool   // producer entries 1..subBase-1 occupied (index 0 unused: overflow)
	subEnts  []mEntry // subscriber entries, from subBase

	fullEvents uint64 // the ring's full events (counted at once)
	// refused is the position of a Commit that returned ErrClosed (with
	// bugCommitClosed not avoided), +1; 0 if none.
	refused uint64
	laps    uint64 // laps reported to all subscribers
	avoided int    // operations left out to avoid known bugs
	bytesIn uint64 // producer bytes flushed into entries
	serial  int    // makes every message's bytes different
	handles int    // handles made so far (bounds the takeovers below the 7-bit epoch)

	step int
	op   string
	log  []string
	// outcomes counts each operation's answers ("TryPush: ring: full"),
	// for the test's coverage summary.
	outcomes map[string]int
}

// mProd is a producer handle and its model.
type mProd struct {
	h        *Broadcast
	id       int
	entry    int // its peer entry (0: the overflow entry)
	synced   bool
	epoch    int
	tail     uint64
	limit    uint64
	resv     *Reservation
	resvPos  uint64
	detached bool
}

// mSub is a subscriber and its model.
type mSub struct {
	s        *Subscriber
	id       int
	entry    int // index into subEnts
	lossy    bool
	from     JoinAt
	cursor   uint64
	joinTail uint64
	peek     *Message
	lap      uint64 // a lap a batch found, reported by the next call (Missed)
	// lapStreak is the laps since its last message read (lapSlack).
	lapStreak uint32
	detached  bool
	// its own laps; what Stats said at the join, and the entry's
	// counters then (bugStatsReuse).
	laps, missed uint64
	base         SubscriberStats
	entBase      mEntry
}

// mEntry is a subscriber entry's cumulative counters as published.
type mEntry struct {
	used                                    bool
	laps, missed, delivered, bytes, empties uint64
}

func newBcastModel(t testing.TB, cfg Config, c chooser, avoid bcastBug) *bcastModel {
	t.Helper()
	size, err := Size(KindBroadcast, cfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, size)
	b, err := NewBroadcast(mem, cfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	m := &bcastModel{t: t, g: b.g, mem: mem, c: c, avoid: avoid}
	m.cfg = cfg.withDefaults()
	m.cfg.Subscribers = int(b.g.peers - b.g.subBase)
	m.seq = make([]uint64, b.g.slots)
	m.prodEnts = make([]bool, b.g.subBase)
	m.subEnts = make([]mEntry, m.cfg.Subscribers)
	m.addProd(b)
	t.Cleanup(func() {
		for _, p := range m.prods {
			p.h.Close()
		}
		for _, s := range m.subs {
			s.s.Close()
		}
	})
	return m
}

func (m *bcastModel) addProd(b *Broadcast) {
	p := &mProd{h: b, id: m.handles}
	m.handles++
	for i := 1; i < len(m.prodEnts); i++ {
		if !m.prodEnts[i] {
			m.prodEnts[i], p.entry = true, i
			break
		}
	}
	if p.entry != b.peerIdx {
		m.fail("producer handle %d got entry %d, model %d", p.id, b.peerIdx, p.entry)
	}
	m.prods = append(m.prods, p)
	m.prune()
}

// prune keeps the handle lists short: the oldest closed handles go (a
// few stay, for the operations on closed handles).
func (m *bcastModel) prune() {
	for len(m.prods) > 6 {
		i := slices.IndexFunc(m.prods, func(p *mProd) bool { return p.detached })
		if i < 0 {
			break
		}
		m.prods = slices.Delete(m.prods, i, i+1)
	}
	for len(m.subs) > m.cfg.Subscribers+3 {
		i := slices.IndexFunc(m.subs, func(s *mSub) bool { return s.detached })
		if i < 0 {
			break
		}
		m.subs = slices.Delete(m.subs, i, i+1)
	}
}

func (m *bcastModel) fail(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("%+v step %d %s: %s\nstate: tail %d closed %v epoch %d\nlast operations:\n%s",
		m.cfg, m.step, m.op, fmt.Sprintf(format, args...), m.tail, m.closed, m.epoch, strings.Join(m.log, "\n"))
}

func (m *bcastModel) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf("  %d %s", m.step, fmt.Sprintf(format, args...)))
	if len(m.log) > 40 {
		m.log = m.log[1:]
	}
}

// wantErr fails unless got is want: the same sentinel (or a LappedError
// with the same Missed), or nil for nil.
func (m *bcastModel) wantErr(what string, got, want error) {
	m.t.Helper()
	if m.outcomes != nil {
		k := "nil"
		var l *LappedError
		switch {
		case errors.As(want, &l):
			k = "lapped"
		case want != nil:
			k = want.Error()
		}
		m.outcomes[what+": "+k]++
	}
	var gl, wl *LappedError
	switch {
	case errors.As(want, &wl):
		if !errors.As(got, &gl) || gl.Missed != wl.Missed {
			m.fail("%s: %v, want %v", what, got, want)
		}
	case want == nil || got == nil:
		if got != want {
			m.fail("%s: %v, want %v", what, got, want)
		}
	case want == errHandleClosed || want == ErrCorrupt:
		if !errors.Is(got, want) {
			m.fail("%s: %v, want %v", what, got, want)
		}
	default:
		if got != want {
			m.fail("%s: %v, want %v", what, got, want)
		}
	}
}

// message makes the bytes of a new message of n bytes.
func (m *bcastModel) message(n int) []byte {
	m.serial++
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(m.serial*131 + i*7 + m.serial>>8)
	}
	return b
}

// msgLen picks a message length: any valid one, SlotSize often, now and
// then one too large.
func (m *bcastModel) msgLen() int {
	switch m.c.intn(10) {
	case 0:
		return m.cfg.SlotSize
	case 1:
		return m.cfg.SlotSize + 1 + m.c.intn(3)
	}
	return m.c.intn(m.cfg.SlotSize + 1)
}

func (m *bcastModel) run() {
	code := m.c.op()
	m.op = bmNames[code]
	switch code {
	case bmPush:
		m.push()
	case bmPushBatch:
		m.pushBatch()
	case bmReserve:
		m.reserve()
	case bmCommit:
		m.commit()
	case bmJoin:
		m.join()
	case bmPop:
		m.pop()
	case bmPopBatch:
		m.popBatch()
	case bmPeek:
		m.peek()
	case bmRelease:
		m.release()
	case bmSubClose:
		m.subClose()
	case bmProdClose:
		m.prodClose()
	case bmCloseWrite:
		m.closeWrite()
	case bmAttach:
		m.attach()
	case bmInspect:
		m.inspect(true)
	}
	m.inspect(false)
}

// --- the producer side ---

// prologue is what a producer operation of p answers before it looks at
// the ring's room (prodPrologue, resyncProd): nil, or the error. A first
// operation takes the side over.
func (m *bcastModel) prologue(p *mProd) error {
	if !m.closed && p.synced && p.epoch == m.epoch {
		if p.resv != nil {
			return ErrOutstanding
		}
		return nil
	}
	if m.closed {
		return ErrClosed
	}
	if p.synced {
		return ErrFenced
	}
	m.epoch++
	// A slot the previous producer left marked for the tail (a
	// reservation it still holds, a write it died in) is published as a
	// hole, not rewritten (broadcast_takeover.go).
	for k := uint64(0); k < m.g.slots && m.seq[m.tail&m.g.mask] == (m.tail+1)|bcastWriting; k++ {
		m.logf("(hole at %d)", m.tail)
		m.msgs = append(m.msgs, nil) // no message at a hole
		m.tail++
	}
	p.synced, p.epoch, p.tail, p.limit, p.resv = true, m.epoch, m.tail, 0, nil
	return nil
}

// tetherMin is the lowest cursor of a live tethered subscriber at or
// behind the tail, or the tail.
func (m *bcastModel) tetherMin() uint64 {
	lo := m.tail
	for _, s := range m.subs {
		if !s.detached && !s.lossy && s.cursor <= m.tail {
			lo = min(lo, s.cursor)
		}
	}
	return lo
}

// roomFor refreshes p's cache and reports whether n more positions fit.
func (m *bcastModel) roomFor(p *mProd, n uint64) bool {
	p.limit = m.tetherMin() + m.g.slots
	return m.tail+n <= p.limit
}

// avoidWrite says whether writing positions [tail, tail+n) (or beginning
// a reservation at tail, n == 1) would run into a known bug.
func (m *bcastModel) avoidWrite(n uint64) bool {
	for _, s := range m.subs {
		if s.detached || s.lossy || s.cursor >= s.joinTail {
			continue
		}
		if m.avoid&bugPeekWindow != 0 && s.peek != nil && s.peek.pos+m.g.slots >= m.tail && s.peek.pos+m.g.slots < m.tail+n {
			return true
		}
		if m.avoid&bugJoinSkip != 0 && m.tail+n >= s.joinTail+m.g.slots {
			return true
		}
	}
	return false
}

// checkRoom checks the tether contract for a producer answer: ErrFull
// only while a live tethered subscriber is Slots behind; writing n
// positions never rewrites one that a tethered subscriber past its join
// tail has not read.
func (m *bcastModel) checkRoom(full bool, n uint64) {
	m.t.Helper()
	behind := false
	for _, s := range m.subs {
		if s.detached || s.lossy || s.cursor > m.tail {
			continue
		}
		if m.tail-s.cursor >= m.g.slots {
			behind = true
		}
		if !full && s.cursor >= s.joinTail && m.tail+n > s.cursor+m.g.slots {
			m.fail("the producer may write %d positions from %d over tethered subscriber %d at %d (joined at %d)",
				n, m.tail, s.id, s.cursor, s.joinTail)
		}
	}
	if full && !behind {
		m.fail("ErrFull with no live tethered subscriber %d behind", m.g.slots)
	}
}

// write completes position pos's slot (not yet published).
func (m *bcastModel) write(pos uint64) { m.seq[pos&m.g.mask] = pos + 1 }

// publish makes positions up to next visible.
func (m *bcastModel) publish(p *mProd, next uint64, msgs [][]byte) {
	var nbytes uint64
	for _, b := range msgs {
		m.msgs = append(m.msgs, b)
		nbytes += uint64(len(b))
	}
	m.tail, p.tail = next, next
	m.bytesIn += nbytes // counted into the entry by the push itself
}

func (m *bcastModel) pickProd() *mProd { return m.prods[m.c.pick(len(m.prods))] }

// pickReserver picks a producer handle, one holding a reservation more
// often.
func (m *bcastModel) pickReserver() *mProd {
	for _, p := range m.prods {
		if p.resv != nil && m.c.intn(4) != 0 {
			return p
		}
	}
	return m.pickProd()
}

func (m *bcastModel) push() {
	p := m.pickProd()
	n := m.msgLen()
	msg := m.message(n)
	var want error
	switch {
	case p.detached:
		want = errHandleClosed
	case n > m.cfg.SlotSize:
		want = ErrTooLarge
	default:
		saved := *p
		savedEpoch := m.epoch
		want = m.prologue(p)
		if want == nil && m.tail >= p.limit && !m.roomFor(p, 1) {
			want = ErrFull
		}
		if want == nil && m.avoidWrite(1) {
			*p, m.epoch = saved, savedEpoch // the prologue's takeover did not happen
			m.avoided++
			m.logf("(p%d TryPush avoided)", p.id)
			return
		}
	}
	err := p.h.TryPush(msg)
	m.logf("p%d TryPush(%d bytes) at %d: %v", p.id, n, m.tail, err)
	m.wantErr("TryPush", err, want)
	if want == ErrFull {
		m.checkRoom(true, 1)
		m.fullEvents++
	}
	if want == nil {
		m.checkRoom(false, 1)
		m.write(m.tail)
		m.publish(p, m.tail+1, [][]byte{msg})
	}
}

func (m *bcastModel) pushBatch() {
	p := m.pickProd()
	k := m.c.intn(int(m.g.slots) + 3)
	msgs := make([][]byte, k)
	for i := range msgs {
		msgs[i] = m.message(m.msgLen())
	}
	var want error
	wantN := 0
	full := uint64(0)
	switch {
	case p.detached:
		want = errHandleClosed
	case k == 0:
	default:
		saved := *p
		savedEpoch := m.epoch
		want = m.prologue(p)
		if want == nil {
			w := uint64(k)
			if m.tail+w > p.limit && !m.roomFor(p, w) && m.tail >= p.limit {
				want, full = ErrFull, w
			}
		}
		if want == nil {
			n := min(uint64(k), p.limit-m.tail)
			for i := uint64(0); i < n; i++ {
				if len(msgs[i]) > m.cfg.SlotSize {
					n = i
					break
				}
			}
			if n == 0 {
				want = ErrTooLarge
			} else if m.avoidWrite(n) {
				*p, m.epoch = saved, savedEpoch
				m.avoided++
				m.logf("(p%d TryPushBatch avoided)", p.id)
				return
			}
			wantN = int(n)
			if wantN < k && len(msgs[wantN]) <= m.cfg.SlotSize {
				full = uint64(k - wantN)
			}
		}
	}
	n, err := p.h.TryPushBatch(msgs)
	m.logf("p%d TryPushBatch(%d) at %d: %d, %v", p.id, k, m.tail, n, err)
	m.wantErr("TryPushBatch", err, want)
	if n != wantN {
		m.fail("TryPushBatch pushed %d, want %d", n, wantN)
	}
	if want == ErrFull {
		m.checkRoom(true, 1)
	}
	m.fullEvents += full
	if wantN > 0 {
		m.checkRoom(false, uint64(wantN))
		for i := 0; i < wantN; i++ {
			m.write(m.tail + uint64(i))
		}
		m.publish(p, m.tail+uint64(wantN), msgs[:wantN])
	}
}

func (m *bcastModel) reserve() {
	p := m.pickProd()
	n := m.msgLen()
	if m.c.intn(20) == 0 {
		n = -1
	}
	var want error
	switch {
	case p.detached:
		want = errHandleClosed
	case n < 0:
		want = ErrInvalid
	case n > m.cfg.SlotSize:
		want = ErrTooLarge
	default:
		saved := *p
		savedEpoch := m.epoch
		want = m.prologue(p)
		if want == nil && m.tail >= p.limit && !m.roomFor(p, 1) {
			want = ErrFull
		}
		if want == nil && m.avoidWrite(1) {
			*p, m.epoch = saved, savedEpoch
			m.avoided++
			m.logf("(p%d TryReserve avoided)", p.id)
			return
		}
	}
	res, err := p.h.TryReserve(n)
	m.logf("p%d TryReserve(%d) at %d: %v", p.id, n, m.tail, err)
	m.wantErr("TryReserve", err, want)
	if want == ErrFull {
		m.checkRoom(true, 1)
		m.fullEvents++
	}
	if want != nil {
		return
	}
	m.checkRoom(false, 1)
	if len(res.Buf) != n || cap(res.Buf) != m.cfg.SlotSize {
		m.fail("reservation of %d: len %d cap %d", n, len(res.Buf), cap(res.Buf))
	}
	m.within("reservation", res.Buf[:cap(res.Buf)])
	// The caller fills the whole of Buf's capacity, so that a Commit
	// longer than len(Buf) commits known bytes.
	copy(res.Buf[:cap(res.Buf)], m.message(cap(res.Buf)))
	m.seq[m.tail&m.g.mask] = (m.tail + 1) | bcastWriting
	p.resv, p.resvPos = &res, m.tail
}

// within fails unless b lies inside the ring's slots.
func (m *bcastModel) within(what string, b []byte) {
	m.t.Helper()
	if cap(b) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(&m.mem[m.g.slotsOff]))
	hi := uintptr(unsafe.Pointer(unsafe.SliceData(m.mem))) + uintptr(m.g.size)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < lo || p+uintptr(cap(b)) > hi {
		m.fail("%s [%#x,+%d) outside the slots [%#x,%#x)", what, p, cap(b), lo, hi)
	}
}

func (m *bcastModel) commit() {
	p := m.pickReserver()
	// Whose reservation: this handle's (usually), another's, or none.
	res := p.resv
	switch m.c.intn(8) {
	case 0:
		res = nil
	case 1:
		res = m.prods[m.c.intn(len(m.prods))].resv
	}
	var r Reservation
	if res != nil {
		r = *res
	}
	n := len(r.Buf)
	switch m.c.intn(8) {
	case 0:
		n = m.c.intn(m.cfg.SlotSize + 1)
	case 1:
		n = m.cfg.SlotSize
	case 2:
		n = []int{-1, m.cfg.SlotSize + 1}[m.c.intn(2)]
	}
	var want error
	switch {
	case p.detached:
		want = errHandleClosed
	case r.ring != &p.h.core || p.resv == nil || r.pos != p.tail:
		want = ErrNotReserved
	case n < 0:
		want = ErrInvalid
	case n > m.cfg.SlotSize:
		want = ErrTooLarge
	case p.epoch != m.epoch:
		want = ErrFenced
	case m.closed:
		if m.avoid&bugCommitClosed != 0 {
			m.avoided++
			m.logf("(p%d Commit avoided: %v)", p.id, bugCommitClosed)
			return
		}
		// The contract (as SPSC keeps it): either the message is
		// published under the closed bit (nil), or Commit fails and no
		// subscriber reads it. Checked below from the answer.
		want = ErrClosed
	}
	err := p.h.Commit(r, n)
	m.logf("p%d Commit(%d) at %d: %v", p.id, n, m.tail, err)
	if want == ErrClosed && err == nil {
		want = nil
	}
	m.wantErr("Commit", err, want)
	switch want {
	case ErrFenced:
		p.resv = nil
	case ErrClosed:
		p.resv = nil // not published: its slot keeps the writing bit in the model
		m.refused = p.resvPos + 1
	case nil:
		msg := slices.Clone(r.Buf[:n])
		p.resv = nil
		m.write(p.resvPos)
		m.publish(p, m.tail+1, [][]byte{msg})
	}
}

func (m *bcastModel) prodClose() {
	p := m.pickProd()
	if !p.detached {
		if !m.closed && p.synced && p.epoch == m.epoch {
			m.closed = true
		}
		p.detached = true
		if p.entry != 0 {
			m.prodEnts[p.entry] = false
		}
	}
	err := p.h.Close()
	m.logf("p%d Close: %v (closed %v)", p.id, err, m.closed)
	m.wantErr("Broadcast.Close", err, nil)
}

func (m *bcastModel) closeWrite() {
	var err error
	var detached bool
	var who string
	if len(m.subs) > 0 && m.c.intn(2) == 0 {
		s := m.subs[m.c.intn(len(m.subs))]
		err, detached, who = s.s.CloseWrite(), s.detached, fmt.Sprintf("s%d", s.id)
	} else {
		p := m.pickProd()
		err, detached, who = p.h.CloseWrite(), p.detached, fmt.Sprintf("p%d", p.id)
	}
	m.logf("%s CloseWrite: %v", who, err)
	if detached {
		m.wantErr("CloseWrite", err, errHandleClosed)
		return
	}
	m.wantErr("CloseWrite", err, nil)
	m.closed = true
}

func (m *bcastModel) attach() {
	if m.handles >= 100 { // well below the 7-bit epoch's 128 takeovers
		return
	}
	b, err := AttachBroadcast(m.mem)
	m.logf("AttachBroadcast: %v", err)
	if err != nil {
		m.fail("AttachBroadcast: %v", err)
	}
	m.addProd(b)
}

// --- the subscriber side ---

func (m *bcastModel) join() {
	opt := SubscribeOptions{From: JoinAt(m.c.intn(2)), Lossy: m.c.intn(2) == 0}
	live := 0
	for _, s := range m.subs {
		if !s.detached {
			live++
		}
	}
	s, err := AttachSubscriber(m.mem, opt)
	m.logf("AttachSubscriber(%v, lossy %v) at %d: %v", opt.From, opt.Lossy, m.tail, err)
	if live == m.cfg.Subscribers {
		if !errors.Is(err, ErrSubscribers) {
			m.fail("subscriber %d of %d: %v, want ErrSubscribers", live+1, m.cfg.Subscribers, err)
		}
		return
	}
	if err != nil {
		m.fail("AttachSubscriber: %v", err)
	}
	ms := &mSub{s: s, id: m.handles, lossy: opt.Lossy, from: opt.From, cursor: m.tail, joinTail: m.tail}
	m.handles++
	if opt.From == Oldest {
		ms.cursor = m.tail - min(m.tail, m.g.slots)
	}
	ms.entry = slices.IndexFunc(m.subEnts, func(e mEntry) bool { return !e.used })
	m.subEnts[ms.entry].used = true
	if got := s.peerIdx - int(m.g.subBase); got != ms.entry {
		m.fail("subscriber got entry %d, model %d", got, ms.entry)
	}
	ms.base, ms.entBase = s.Stats(), m.subEnts[ms.entry]
	b, e := ms.base, ms.entBase
	zero := b.Lapped|b.Missed|b.Delivered|b.Bytes|b.EmptyEvents == 0
	if !zero && m.avoid&bugStatsReuse == 0 {
		m.fail("%s: a new subscriber's Stats %+v", bugStatsReuse, b)
	}
	if !zero && (b.Lapped != e.laps || b.Missed != e.missed || b.Delivered != e.delivered || b.Bytes != e.bytes || b.EmptyEvents != e.empties) {
		m.fail("a new subscriber's Stats %+v: neither zero nor its entry's counters %+v", b, e)
	}
	m.subs = append(m.subs, ms)
	m.prune()
}

// pickSub picks a subscriber, a live one (one with a peeked message,
// with peeked) more often; nil if there is none.
func (m *bcastModel) pickSub(peeked bool) *mSub {
	if len(m.subs) == 0 {
		return nil
	}
	var pref []*mSub
	for _, s := range m.subs {
		if !s.detached && (!peeked || s.peek != nil) {
			pref = append(pref, s)
		}
	}
	if len(pref) > 0 && m.c.intn(8) != 0 {
		return pref[m.c.intn(len(pref))]
	}
	return m.subs[m.c.intn(len(m.subs))]
}

// taken is what the model says one take (subscriber.go) finds at the
// cursor: a message (msg), or an error (ErrEmpty, io.EOF,
// io.ErrShortBuffer, a LappedError). It moves the model's cursor as the
// subscriber does and counts laps into s and its entry.
func (m *bcastModel) taken(s *mSub, room int, peek bool) (uint64, []byte, error) {
	for {
		q := s.cursor
		seq := m.seq[q&m.g.mask]
		if seq == q+1 {
			msg := m.msgs[q]
			if !peek && len(msg) > room {
				return q, nil, io.ErrShortBuffer
			}
			return q, msg, nil
		}
		if seq&^bcastWriting > q+1 {
			if silent, err := m.lapped(s, q); !silent {
				return q, nil, err
			}
			continue
		}
		if seq == (q+1)|bcastWriting && m.tail > q { // a hole: passed silently
			s.cursor = q + 1
			continue
		}
		if m.closed {
			return q, nil, io.EOF
		}
		return q, nil, ErrEmpty
	}
}

// lapped moves s, whose message q was rewritten, as subscriber.lapped
// does, and returns its error; silent for a tethered subscriber in its
// join window.
func (m *bcastModel) lapped(s *mSub, q uint64) (silent bool, err error) {
	seq := m.seq[q&m.g.mask] &^ bcastWriting
	next := max(m.tail, seq) - m.g.slots
	if s.lapStreak > 0 && s.lossy {
		next = min(next+lapSlack(m.g.slots, s.lapStreak), m.tail)
	}
	s.lapStreak++
	s.cursor = next
	if !s.lossy && q < s.joinTail {
		if next > s.joinTail {
			m.fail("%s: tethered subscriber %d at %d (joined at %d, tail %d) moves to %d",
				bugJoinSkip, s.id, q, s.joinTail, m.tail, next)
		}
		return true, nil
	}
	if !s.lossy {
		m.fail("tethered subscriber %d at %d past its join tail %d is lapped (tail %d)", s.id, q, s.joinTail, m.tail)
	}
	m.countLap(s, next-q)
	return false, &LappedError{Missed: next - q}
}

func (m *bcastModel) countLap(s *mSub, missed uint64) {
	s.laps++
	s.missed += missed
	m.subEnts[s.entry].laps++
	m.subEnts[s.entry].missed += missed
	m.laps++
}

// consumed counts an operation that delivered n messages of nbytes.
func (m *bcastModel) consumed(s *mSub, n, nbytes uint64) {
	// Counted into the entry by the read itself (core.addOut).
	e := &m.subEnts[s.entry]
	e.delivered += n
	e.bytes += nbytes
}

func (m *bcastModel) emptied(s *mSub, err error) {
	if err == ErrEmpty {
		m.subEnts[s.entry].empties++ // published at once (core.countEmpty)
	}
}

// refusedRead fails if a read at position from found a message (or one
// too long for its buffer) where the model has the message of a refused
// Commit (bugCommitClosed).
func (m *bcastModel) refusedRead(s *mSub, from uint64, err error) {
	m.t.Helper()
	if (err == nil || err == io.ErrShortBuffer) && m.refused != 0 && from == m.refused-1 {
		m.fail("%v: subscriber %d read position %d", bugCommitClosed, s.id, from)
	}
}

// pre is what a subscriber operation answers before it looks at the
// ring, or nil.
func (m *bcastModel) pre(s *mSub) error {
	switch {
	case s.detached:
		return errHandleClosed
	case s.peek != nil:
		return ErrOutstanding
	case s.lap != 0:
		err := &LappedError{Missed: s.lap}
		s.lap = 0
		return err
	}
	return nil
}

func (m *bcastModel) pop() {
	s := m.pickSub(false)
	if s == nil {
		return
	}
	room := m.cfg.SlotSize
	if m.c.intn(5) == 0 {
		room = m.c.intn(m.cfg.SlotSize + 1)
	}
	dst := make([]byte, room)
	from := s.cursor
	want := m.pre(s)
	var msg []byte
	if want == nil {
		var q uint64
		q, msg, want = m.taken(s, room, false)
		if want == nil {
			s.cursor, s.lapStreak = q+1, 0
		}
	}
	n, err := s.s.TryPop(dst)
	m.logf("s%d TryPop(%d) at %d: %d, %v (model %v)", s.id, room, from, n, err, want)
	m.refusedRead(s, from, err)
	m.wantErr("TryPop", err, want)
	m.emptied(s, want)
	if want == nil {
		if !bytes.Equal(dst[:n], msg) {
			m.fail("TryPop: subscriber %d at %d got %x, want %x", s.id, s.cursor-1, dst[:n], msg)
		}
		m.consumed(s, 1, uint64(n))
	} else if n != 0 {
		m.fail("TryPop returned %d with %v", n, err)
	}
}

func (m *bcastModel) popBatch() {
	s := m.pickSub(false)
	if s == nil {
		return
	}
	k := m.c.intn(int(m.g.slots) + 3)
	bufs := make([][]byte, k)
	for i := range bufs {
		c := m.cfg.SlotSize
		if m.c.intn(6) == 0 {
			c = m.c.intn(m.cfg.SlotSize + 1)
		}
		bufs[i] = make([]byte, m.c.intn(c+1), c) // any length: the cap is what counts
	}
	from := s.cursor
	want := m.pre(s)
	var wantMsgs [][]byte
	pre := want != nil
	if !pre {
		for len(wantMsgs) < k {
			q, msg, err := m.taken(s, cap(bufs[len(wantMsgs)]), false)
			if err != nil {
				if len(wantMsgs) == 0 {
					want = err
				} else if errors.Is(err, ErrLapped) {
					s.lap = err.(*LappedError).Missed
				}
				break
			}
			s.cursor, s.lapStreak = q+1, 0
			wantMsgs = append(wantMsgs, msg)
		}
	}
	n, err := s.s.TryPopBatch(bufs)
	m.logf("s%d TryPopBatch(%d) at %d: %d, %v (model %d, %v)", s.id, k, from, n, err, len(wantMsgs), want)
	if at := from + uint64(len(wantMsgs)); n > len(wantMsgs) {
		m.refusedRead(s, at, nil)
	} else if err != nil {
		m.refusedRead(s, at, err)
	}
	m.wantErr("TryPopBatch", err, want)
	m.emptied(s, want)
	if n != len(wantMsgs) {
		m.fail("TryPopBatch popped %d, want %d", n, len(wantMsgs))
	}
	var nbytes uint64
	for i, msg := range wantMsgs {
		if !bytes.Equal(bufs[i], msg) {
			m.fail("TryPopBatch message %d (position %d): %x, want %x", i, from+uint64(i), bufs[i], msg)
		}
		nbytes += uint64(len(msg))
	}
	if !pre && want == nil {
		m.consumed(s, uint64(n), nbytes)
	}
}

func (m *bcastModel) peek() {
	s := m.pickSub(false)
	if s == nil {
		return
	}
	from := s.cursor
	want := m.pre(s)
	var msg []byte
	var q uint64
	if want == nil {
		q, msg, want = m.taken(s, 0, true)
	}
	got, err := s.s.TryPeek()
	m.logf("s%d TryPeek at %d: %d bytes, %v (model %v)", s.id, from, len(got.Data), err, want)
	m.refusedRead(s, from, err)
	m.wantErr("TryPeek", err, want)
	m.emptied(s, want)
	if want != nil {
		return
	}
	if !bytes.Equal(got.Data, msg) {
		m.fail("TryPeek: subscriber %d at %d got %x, want %x", s.id, q, got.Data, msg)
	}
	m.within("peeked message", got.Data)
	s.peek = &got
}

func (m *bcastModel) release() {
	s := m.pickSub(true)
	if s == nil {
		return
	}
	// Whose message: this subscriber's (usually), another's, or none.
	msg := s.peek
	switch m.c.intn(8) {
	case 0:
		msg = nil
	case 1:
		msg = m.subs[m.c.intn(len(m.subs))].peek
	}
	var mm Message
	if msg != nil {
		mm = *msg
	}
	m.releaseMsg(s, mm)
}

// releaseMsg releases mm through s and checks the answer.
func (m *bcastModel) releaseMsg(s *mSub, mm Message) {
	var want error
	held, window := false, false
	switch {
	case s.detached:
		want = errHandleClosed
	case mm.ring != &s.s.core || s.peek == nil || mm.pos != s.cursor:
		want = ErrNotReserved
	case m.seq[mm.pos&m.g.mask] == mm.pos+1:
		s.peek, s.cursor, s.lapStreak, held = nil, mm.pos+1, 0, true
	default:
		s.peek = nil
		window, want = m.lapped(s, mm.pos)
	}
	err := s.s.Release(mm)
	m.logf("s%d Release(%d): %v (model %v)", s.id, mm.pos, err, want)
	if window {
		// A tethered subscriber in its join window: the producer rewrote
		// the slot whose Data the caller read, which it must be told,
		// as a lossy subscriber is.
		if !errors.Is(err, ErrLapped) {
			m.fail("%s: subscriber %d, message %d (joined at %d): Release %v", bugPeekWindow, s.id, mm.pos, s.joinTail, err)
		}
		m.countLap(s, s.cursor-mm.pos)
		return
	}
	m.wantErr("Release", err, want)
	if held {
		m.consumed(s, 1, uint64(len(mm.Data)))
	}
}

func (m *bcastModel) subClose() {
	s := m.pickSub(false)
	if s == nil {
		return
	}
	if !s.detached {
		s.detached = true
		m.subEnts[s.entry].used = false
	}
	err := s.s.Close()
	m.logf("s%d Close: %v", s.id, err)
	m.wantErr("Subscriber.Close", err, nil)
	m.prune()
}

// --- checks after every operation ---

// backlog is Broadcast.Len: the furthest behind a live tethered
// subscriber not ahead of the tail is, capped at Slots.
func (m *bcastModel) backlog() uint64 {
	var most uint64
	for _, s := range m.subs {
		if !s.detached && !s.lossy && s.cursor <= m.tail {
			most = max(most, m.tail-s.cursor)
		}
	}
	return min(most, m.g.slots)
}

// inspect checks what every handle reports: Lag always; with full, Stats,
// Len, Subscribers and IsClosed too.
func (m *bcastModel) inspect(full bool) {
	m.t.Helper()
	live := 0
	for _, s := range m.subs {
		lag := uint64(0)
		if !s.detached {
			live++
			if s.cursor < m.tail {
				lag = m.tail - s.cursor
			}
		}
		if got := s.s.Lag(); got != lag {
			m.fail("subscriber %d (lossy %v, cursor %d) Lag %d, want %d", s.id, s.lossy, s.cursor, got, lag)
		}
		if !full {
			continue
		}
		st := s.s.Stats()
		if s.detached {
			if st != (SubscriberStats{}) {
				m.fail("Stats of a closed subscriber: %+v", st)
			}
			continue
		}
		// What Stats said at the join, plus what the model counted into
		// the entry since (both this subscriber's).
		e, b, eb := m.subEnts[s.entry], s.base, s.entBase
		want := SubscriberStats{
			Index: int(m.g.subBase) + s.entry, PID: int(selfPID), Alive: true, Lossy: s.lossy,
			Cursor: s.cursor, Lag: lag,
			Delivered:   b.Delivered + e.delivered - eb.delivered,
			Bytes:       b.Bytes + e.bytes - eb.bytes,
			Lapped:      b.Lapped + s.laps,
			Missed:      b.Missed + s.missed,
			EmptyEvents: b.EmptyEvents + e.empties - eb.empties,
		}
		if st != want {
			m.fail("subscriber %d Stats %+v, want %+v", s.id, st, want)
		}
	}
	if !full {
		return
	}
	peers := live
	for _, p := range m.prods {
		if !p.detached && p.entry != 0 {
			peers++
		}
	}
	for _, p := range m.prods {
		if p.detached {
			if p.h.Len() != 0 || p.h.Stats() != (Stats{}) || p.h.Subscribers() != nil || p.h.IsClosed() {
				m.fail("a closed producer handle reports Len %d, Stats %+v", p.h.Len(), p.h.Stats())
			}
			continue
		}
		if got := uint64(p.h.Len()); got != m.backlog() {
			m.fail("Broadcast.Len %d, want %d", got, m.backlog())
		}
		st := p.h.Stats()
		if st.MsgsIn != m.tail || st.Closed != m.closed || st.FullEvents != m.fullEvents || st.BytesIn != m.bytesIn ||
			st.Len != m.backlog() || st.Peers != peers || st.DeadPeers != 0 {
			m.fail("Stats %+v; want MsgsIn %d Closed %v FullEvents %d BytesIn %d Len %d Peers %d",
				st, m.tail, m.closed, m.fullEvents, m.bytesIn, m.backlog(), peers)
		}
		if p.h.IsClosed() != m.closed {
			m.fail("IsClosed %v, want %v", p.h.IsClosed(), m.closed)
		}
		list := p.h.Subscribers()
		if len(list) != live {
			m.fail("Subscribers lists %d, want %d", len(list), live)
		}
		for _, s := range m.subs {
			if s.detached {
				continue
			}
			i := slices.IndexFunc(list, func(st SubscriberStats) bool { return st.Index == int(m.g.subBase)+s.entry })
			if i < 0 || list[i].Cursor != s.cursor || list[i].Lossy != s.lossy {
				m.fail("Subscribers %+v: subscriber %d (entry %d, cursor %d) missing or wrong", list, s.id, s.entry, s.cursor)
			}
		}
		break // one live handle is enough: they read the same memory
	}
}

// finish ends a run: the stream closed, every live subscriber drains to
// io.EOF through TryPop, as the model says.
func (m *bcastModel) finish() {
	m.op = "drain"
	if !m.closed {
		// Through a live handle (no choice: a recorded program ends
		// with its last operation).
		var c *core
		for _, p := range m.prods {
			if !p.detached {
				c = &p.h.core
			}
		}
		for _, s := range m.subs {
			if c == nil && !s.detached {
				c = &s.s.core
			}
		}
		if c == nil {
			m.attach()
			c = &m.prods[len(m.prods)-1].h.core
		}
		if err := c.CloseWrite(); err != nil {
			m.fail("CloseWrite: %v", err)
		}
		m.closed = true
	}
	for _, s := range m.subs {
		if s.detached {
			continue
		}
		if s.peek != nil {
			m.releaseMsg(s, *s.peek)
		}
		for i := 0; ; i++ {
			if i > len(m.msgs)+10 {
				m.fail("subscriber %d never reaches io.EOF", s.id)
			}
			want := m.pre(s)
			var msg []byte
			if want == nil {
				var q uint64
				q, msg, want = m.taken(s, m.cfg.SlotSize, false)
				if want == nil {
					s.cursor, s.lapStreak = q+1, 0
				}
			}
			from := s.cursor
			if want == nil {
				from--
			}
			dst := make([]byte, m.cfg.SlotSize)
			n, err := s.s.TryPop(dst)
			m.refusedRead(s, from, err)
			m.wantErr("drain TryPop", err, want)
			if err == io.EOF {
				break
			}
			if want == nil {
				if !bytes.Equal(dst[:n], msg) {
					m.fail("drain: subscriber %d got %x, want %x", s.id, dst[:n], msg)
				}
				m.consumed(s, 1, uint64(n))
			}
		}
	}
	m.inspect(true)
}

// runBcastModel runs one model over a ring of cfg until the chooser has
// no more choices (or steps operations), then drains it.
func runBcastModel(t testing.TB, cfg Config, c chooser, steps int, avoid bcastBug, outcomes map[string]int) *bcastModel {
	m := newBcastModel(t, cfg, c, avoid)
	m.outcomes = outcomes
	for m.step = 0; m.step < steps && c.more(); m.step++ {
		m.run()
	}
	m.finish()
	return m
}

// TestBroadcastModel runs seeded random operation sequences against the
// model, over random geometries.
func TestBroadcastModel(t *testing.T) {
	seed := testSeed(t)
	rounds, steps := 60, 2000
	if testing.Short() {
		rounds, steps = 20, 1500
	}
	var laps, fulls, msgs uint64
	avoided := 0
	outcomes := map[string]int{}
	for round := 0; round < rounds; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		cfg := Config{
			Slots:       1 << (1 + rng.IntN(4)),
			SlotSize:    1 + rng.IntN(40),
			Peers:       []int{0, 1, 2, 3}[rng.IntN(4)],
			Subscribers: 1 + rng.IntN(4),
		}
		m := runBcastModel(t, cfg, &rngChooser{r: rng, left: steps}, steps, allBcastBugs, outcomes)
		laps += m.laps
		fulls += m.fullEvents
		msgs += m.tail
		avoided += m.avoided
	}
	t.Logf("%d rounds: %d messages, %d full events, %d laps; %d operations avoided (known bugs)", rounds, msgs, fulls, laps, avoided)
	keys := slices.Sorted(maps.Keys(outcomes))
	for _, k := range keys {
		t.Logf("%7d %s", outcomes[k], k)
	}
}
