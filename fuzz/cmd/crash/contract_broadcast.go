package main

// The broadcast crash contract, as this harness checks it: the part of
// the one place that encodes the contract (contract.go has the SPSC and
// MPMC part, and says which document is the authority) that is about
// broadcast rings. ring/broadcast.go, ring/broadcast_takeover.go and
// ring/subscriber.go state the ring's side of it.
//
// A broadcast ring carries one stream (its producer slot's) to several
// subscribers, each of which sees all of it from its join on. So the
// contract is about what each subscriber process saw, not about how
// often each number was delivered, and the ring's positions are the
// common frame: position i holds one message, the same for every
// subscriber.
//
//	(f) The message at every position. Each producer incarnation's first
//	    call is a Reserve, which takes the producer side over, adopts
//	    (publishes) what a killed predecessor completed but did not
//	    publish, and publishes nothing of its own; the incarnation then
//	    records the ring's position, Base (ledger.go). Its own messages
//	    take the positions from Base on, in order, one each, up to the
//	    next incarnation's Base (or the ring's final position), less the
//	    holes there: the n_j positions hold its numbers
//	    [Start_j, Start_j + n_j), Start_j being where it began (its
//	    Attempt then). A hole is a position a takeover published without
//	    a message (its slot marked for it, never completed: the slot a
//	    killed incarnation was writing, or the one its first reservation
//	    marked if it died before it recorded its Base); the supervisor
//	    reads them from the slots before each incarnation starts, as its
//	    takeover will find them (takeoverHoles). n_j must cover
//	    every number the incarnation committed ("lost" otherwise) and no
//	    number it never offered ("unsent"):
//	    Committed_j - Start_j <= n_j <= Attempt_j - Start_j. What a
//	    killed incarnation's call in flight got in (published, or
//	    completed and adopted by its successor) is a prefix of that
//	    call's numbers ("in flight delivered"); the rest is lost to every
//	    subscriber alike ("uncommitted"). An incarnation killed before it
//	    recorded its Base got none of its own messages in. This fixes the
//	    message at every position from the producers' records, the holes
//	    and the ring's final position alone, whatever the subscribers
//	    saw; a subscriber that
//	    took a completed, unpublished message through its slot's sequence
//	    saw it where the successor's adoption then put it.
//	(g) Tethered subscribers. Every tethered subscriber process (one
//	    generation: a restart is a new one, which owes nothing for what
//	    passed while its slot was dead) joins at Newest and records the
//	    cursor Subscribe left, X, before it reads. It must deliver the
//	    messages at positions X, X+1, X+2, ... in that order, each once,
//	    without a gap, never lapped, until it dies, and if it reads to
//	    io.EOF, every position up to the ring's final one. Joining at
//	    Newest, X is the producer position Subscribe read after its
//	    tether was in place, so these are at least every message pushed
//	    after Subscribe returned (the brief's wording), and exactly what
//	    the ring promises (nothing from before X; Oldest would add up to
//	    a ringful of older messages that the ring may skip silently while
//	    the tether takes hold, which no record here could tell from a
//	    loss).
//	(h) Lossy subscribers. Every generation joins at Oldest or at Newest
//	    (drawn per generation) and records X. Its account is exact: a walk
//	    from X moves on by one at each delivery, which must be the message
//	    at the walk's position, and over Missed positions at each lap (a
//	    *ring.LappedError, journaled in its place with the cursor it left,
//	    C: the lap counted [C-Missed, C)); a delivery at a position a lap
//	    counted as missed is "inexact", a position neither delivered nor
//	    counted is "lost". At io.EOF the walk is at the final position,
//	    and the generation's SubscriberStats Missed equals the sum its laps
//	    reported. A subscriber passes a takeover's hole without a word, so
//	    a lap may begin past the walk's position: the positions between
//	    were passed silently and must be holes, as the gaps before a
//	    delivery (the journal places a delivery by its number, a lap only
//	    by its cursor).
//	(i) Every message every subscriber read passes its checks (length,
//	    CRC-32C: a torn read is "corrupt"); a lossy subscriber's peeked
//	    message counts only if its Release did not report a lap.
//	(j) At the end, after the drain and Recover, no futex registration is
//	    left (NotEmptyWaiters == NotFullWaiters == 0) and no live tethered
//	    subscriber is behind.
//
// Within a generation the counts are: "duplicated", a position delivered
// again; "out of order", a position delivered after a later one (first a
// gap, then filled) or before X; "lost", a gap never filled, a lap of a
// tethered subscriber, or positions short of the final one at io.EOF.
//
// The stall rule is the campaign's (campaign.go): after each kill on a
// broadcast ring, its producer must have committed more than a ringful of
// messages within 1 s. A dead tethered subscriber holds at most a ringful,
// so after a subscriber's kill that means the producer got past its
// tether; a quarter of the tethered subscribers' kills delay the successor
// past the limit, so that the release of the dead tether, not the
// successor's new entry, must do it.

import (
	"fmt"
	"slices"
	"sort"

	"github.com/shmring/shmring/ring"
)

// bcastProducer is what one broadcast producer incarnation left.
type bcastProducer struct {
	Start              uint64 // its first number: its record's Attempt when it started
	Base               uint64 // 1 + the position its own messages start at, 0 if it never recorded it
	Committed, Attempt uint64 // its record at its end
	Killed             bool   // by the supervisor: [Committed, Attempt) was in flight
	Published          uint64 // the ring's position when it started (what its successor's Base less this is adopted)
	// Probed: it was killed stopped between a slot's write and its
	// publish, with Unpublished completed messages past the published
	// position (killPublish): its successors' takeover adopts exactly
	// those.
	Probed      bool
	Unpublished uint64
	// Holes are the positions its takeover publishes without a message
	// (slots marked and never completed), as the supervisor read the slots
	// before it started (takeoverHoles).
	Holes []uint64
}

// bcastEvent is a run of one subscriber generation's journal: N
// deliveries of the consecutive numbers from Num, or (Lap) one lap that
// missed Num messages and left the cursor at End-1 (End 0: the
// generation died before it journaled the cursor).
type bcastEvent struct {
	Num uint64
	End uint64
	N   uint32
	Lap bool
}

// bcastGeneration is one subscriber process's view.
type bcastGeneration struct {
	Slot     int
	Inc      uint32
	Lossy    bool
	Oldest   bool   // joined at Oldest (lossy only)
	Join     uint64 // 1 + the cursor Subscribe left, 0 if it never recorded it
	Clean    bool   // it read to io.EOF and exited
	Mismatch uint64 // its record's Mismatch: (h), at io.EOF
	Events   []bcastEvent
	Overflow bool // more events than the supervisor keeps: a failure in itself
	// Strays counts lap-end entries that followed no lap: a failure.
	Strays int
}

// add records a delivery of number n.
func (g *bcastGeneration) add(n uint64) {
	if k := len(g.Events); k > 0 {
		if e := &g.Events[k-1]; !e.Lap && e.Num+uint64(e.N) == n && e.N < 1<<31 {
			e.N++
			return
		}
	}
	g.push(bcastEvent{Num: n, N: 1})
}

// lap records a lap that missed missed messages.
func (g *bcastGeneration) lap(missed uint64) { g.push(bcastEvent{Num: missed, Lap: true}) }

// lapEnd records the cursor the lap just recorded left.
func (g *bcastGeneration) lapEnd(cursor uint64) {
	if k := len(g.Events); k > 0 && g.Events[k-1].Lap && g.Events[k-1].End == 0 {
		g.Events[k-1].End = cursor + 1
		return
	}
	if !g.Overflow {
		g.Strays++
	}
}

// maxEvents bounds the runs kept per generation: a healthy one breaks a
// run only at a lap or at a killed producer's gap.
const maxEvents = 1 << 22

func (g *bcastGeneration) push(e bcastEvent) {
	if len(g.Events) >= maxEvents {
		g.Overflow = true
		return
	}
	g.Events = append(g.Events, e)
}

// bcastAccount is everything the verifier needs of one broadcast ring.
type bcastAccount struct {
	Name        string
	Stream      uint32
	End         uint64          // the stream's final Attempt
	Producers   []bcastProducer // in incarnation order
	Generations []bcastGeneration
	Corrupt     uint64 // summed over its subscribers' records: (i)
	Tail        uint64 // the ring's final position (Stats.MsgsIn after the drain)
	Stats       ring.Stats
	// Backlog is the most a live tethered subscriber had yet to read at
	// the end (Broadcast.Subscribers): (j).
	Backlog uint64
	Drained bool
}

// bcastVerdict is the verifier's account of one broadcast ring: what the
// contract allowed, then failures.
type bcastVerdict struct {
	Positions         uint64 // published: the stream's messages in the ring
	InFlightDelivered uint64 // (f): of them, numbers of killed producers' calls
	Uncommitted       uint64 // (f)
	Adoptions         int    // incarnations whose takeover adopted a predecessor's completed messages
	Adopted           uint64 // the messages they adopted
	// Holes are positions a takeover published without a message (a
	// killed incarnation's slot marked for its in-flight message and
	// never completed: broadcast_takeover.go) that a subscriber passed.
	// They hold no number, and count neither as delivered nor as lost.
	Holes       uint64
	holes       []uint64 // every one below the final position, sorted
	excused     map[uint64]bool
	Missed      uint64 // (h): in Laps laps
	Laps        int
	Generations [2]int    // tethered, lossy
	Deliveries  [2]uint64 // tethered, lossy

	Lost, Duplicated, Unsent, Corrupt, OutOfOrder, Inexact uint64
	Leaked                                                 uint32
	Problems                                               []string
}

func (v *bcastVerdict) problem(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}

func (v *bcastVerdict) failed() bool {
	return v.Lost+v.Duplicated+v.Unsent+v.Corrupt+v.OutOfOrder+v.Inexact > 0 || v.Leaked > 0 || len(v.Problems) > 0
}

// segment says that positions [pos, pos+n) hold numbers [num, num+n).
type segment struct{ pos, num, n uint64 }

// positionMap is (f): the stream's segments, in increasing order of
// both position and number.
type positionMap []segment

// of returns the position of number num, if it has one.
func (m positionMap) of(num uint64) (uint64, bool) {
	i := sort.Search(len(m), func(i int) bool { return m[i].num+m[i].n > num })
	if i == len(m) || num < m[i].num {
		return 0, false
	}
	return m[i].pos + num - m[i].num, true
}

// positions builds the map of (f) and checks each incarnation's share.
func (v *bcastVerdict) positions(acc *bcastAccount) positionMap {
	var m positionMap
	// The holes every takeover published, below the final position (a
	// takeover that never ran published none).
	for _, p := range acc.Producers {
		for _, h := range p.Holes {
			if h < acc.Tail {
				v.holes = append(v.holes, h)
			}
		}
	}
	slices.Sort(v.holes)
	v.holes = slices.Compact(v.holes)
	holesIn := func(lo, hi uint64) uint64 { // in [lo, hi)
		i, _ := slices.BinarySearch(v.holes, lo)
		j, _ := slices.BinarySearch(v.holes, hi)
		return uint64(max(0, j-i))
	}
	type based struct {
		p   bcastProducer
		pos uint64
	}
	var bs []based
	for i, p := range acc.Producers {
		if i > 0 && p.Start < acc.Producers[i-1].Attempt {
			v.problem("producer incarnation %d starts at number %d, below its predecessor's Attempt %d", i+1, p.Start, acc.Producers[i-1].Attempt)
		}
		if p.Base == 0 {
			// Killed before its Reserve returned, or before it recorded
			// the base: nothing of its own in the ring (the slot its
			// reservation marked is its successor's hole).
			if p.Committed != p.Start {
				v.problem("producer incarnation %d committed [%d,%d) without recording its base", i+1, p.Start, p.Committed)
				v.Lost += p.Committed - p.Start
			}
			v.Uncommitted += p.Attempt - p.Committed
			continue
		}
		pos := p.Base - 1
		if pos < p.Published || pos-p.Published > uint64(1)<<20 {
			v.problem("producer incarnation %d took over at position %d, but %d were published when it started", i+1, pos, p.Published)
		} else if adopted := pos - p.Published - holesIn(p.Published, pos); adopted > 0 {
			v.Adoptions++
			v.Adopted += adopted
		}
		bs = append(bs, based{p, pos})
	}
	// A probed death: the next incarnation that recorded a base took over
	// from what it left (an incarnation between them died before its
	// Reserve returned, and adopted the same slots or none; or after,
	// and its reservation is a hole).
	for i, p := range acc.Producers {
		if !p.Probed || i+1 == len(acc.Producers) {
			continue
		}
		for _, q := range acc.Producers[i+1:] {
			if q.Base != 0 {
				from := acc.Producers[i+1].Published
				if adopted := q.Base - 1 - from - holesIn(from, q.Base-1); adopted != p.Unpublished {
					v.problem("producer incarnation %d was killed with %d completed, unpublished messages; the takeover adopted %d",
						i+1, p.Unpublished, adopted)
				}
				break
			}
		}
	}
	if len(bs) > 0 && bs[0].pos != 0 {
		v.problem("positions [0,%d) hold messages of no producer incarnation that recorded a base", bs[0].pos)
	}
	if len(bs) == 0 && acc.Tail > 0 {
		v.problem("%d positions published, and no producer incarnation recorded a base", acc.Tail)
	}
	for i, b := range bs {
		next := acc.Tail
		if i+1 < len(bs) {
			next = bs[i+1].pos
		}
		if next < b.pos {
			v.problem("producer base went back from position %d to %d", b.pos, next)
			next = b.pos
		}
		// Its messages are on the positions of [b.pos, next) that are
		// no hole.
		n := next - b.pos - holesIn(b.pos, next)
		p := b.p
		committed, offered := p.Committed-p.Start, p.Attempt-p.Start
		if n < committed {
			v.Lost += committed - n
			v.problem("stream %d: committed numbers [%d,%d) have no position (the incarnation's positions [%d,%d) end first)",
				acc.Stream, p.Start+n, p.Committed, b.pos, next)
		}
		unsent := n > offered
		if unsent {
			v.Unsent += n - offered
			n = offered
		}
		if n > committed {
			v.InFlightDelivered += n - committed
		}
		v.Uncommitted += offered - max(n, committed)
		// Numbers from Start, in order, on those positions.
		num, left := p.Start, n
		for pos := b.pos; left > 0 && pos < next; {
			end := next
			if j, _ := slices.BinarySearch(v.holes, pos); j < len(v.holes) && v.holes[j] < end {
				end = v.holes[j]
			}
			if k := min(end-pos, left); k > 0 {
				m = append(m, segment{pos, num, k})
				num, left = num+k, left-k
			}
			pos = end + 1 // past the hole
		}
		if unsent {
			from := b.pos
			if k := len(m); k > 0 && m[k-1].pos >= b.pos {
				from = m[k-1].pos + m[k-1].n
			}
			v.problem("stream %d: positions [%d,%d) hold no number the incarnation from %d offered (its Attempt %d)",
				acc.Stream, from, next, p.Start, p.Attempt)
		}
	}
	v.Positions = acc.Tail
	return m
}

// verifyBroadcast applies (f)-(j) to one broadcast ring.
func verifyBroadcast(acc *bcastAccount) bcastVerdict {
	var v bcastVerdict
	m := v.positions(acc)
	for i := range acc.Generations {
		v.generation(&acc.Generations[i], m, acc)
	}
	v.Corrupt += acc.Corrupt
	st := acc.Stats
	if !acc.Drained {
		v.problem("not drained to io.EOF: frozen (producer position %d)", st.MsgsIn)
	} else if acc.Backlog != 0 {
		v.problem("drained, yet a live tethered subscriber is %d messages behind", acc.Backlog)
	}
	v.Leaked = st.NotEmptyWaiters + st.NotFullWaiters // (j)
	return v
}

// walk is a generation's check in progress.
type walk struct {
	at       uint64 // the position the subscriber's cursor is at
	last     uint64 // one past the highest position delivered
	gaps     []span // positions passed over, neither delivered nor missed
	laps     []span // positions laps counted as missed
	problems int
}

// generation checks one subscriber generation, (g) and (h).
func (v *bcastVerdict) generation(g *bcastGeneration, m positionMap, acc *bcastAccount) {
	kind := 0
	what := "tethered"
	if g.Lossy {
		kind, what = 1, "lossy"
	}
	v.Generations[kind]++
	name := fmt.Sprintf("subscriber %d (%s) incarnation %d", g.Slot, what, g.Inc)
	if g.Overflow {
		v.problem("%s: more than %d journal runs: not checked past them", name, maxEvents)
	}
	if g.Strays > 0 {
		v.problem("%s: %d lap cursors journaled after no lap", name, g.Strays)
	}
	if g.Join == 0 {
		if len(g.Events) > 0 {
			v.problem("%s: journaled %d runs without recording where it joined", name, len(g.Events))
		}
		return
	}
	w := walk{at: g.Join - 1}
	w.last = w.at
	say := func(format string, args ...any) {
		if w.problems++; w.problems <= 3 {
			v.problem("%s: %s", name, fmt.Sprintf(format, args...))
		}
	}
	for _, e := range g.Events {
		if e.Lap {
			v.Laps++
			start := v.lapStart(&w, e, say)
			end := start + e.Num
			if !g.Lossy {
				v.Lost += e.Num
				say("lapped at position %d, missing %d: a tethered subscriber", start, e.Num)
			} else {
				v.Missed += e.Num
				if from := max(start, w.at); from < end { // sorted, disjoint (inexact laps aside)
					w.laps = append(w.laps, span{from, end})
				}
			}
			w.at = max(w.at, end)
			continue
		}
		v.Deliveries[kind] += uint64(e.N)
		for k := uint64(0); k < uint64(e.N); k++ {
			n := e.Num + k
			p, ok := m.of(n)
			if !ok {
				v.Unsent++
				say("delivered number %d of stream %d, which holds no position", n, acc.Stream)
				continue // an extra delivery: the walk stays
			}
			v.deliver(&w, p, g, say)
		}
	}
	if g.Clean {
		if w.at < acc.Tail {
			w.gaps = append(w.gaps, span{w.at, acc.Tail})
		} else if w.at > acc.Tail {
			v.Inexact += w.at - acc.Tail
			say("at io.EOF its laps and deliveries add up to position %d, past the final %d", w.at, acc.Tail)
		}
		if g.Mismatch != 0 {
			v.Inexact++
			say("its SubscriberStats Missed differs from its laps' by %d", int64(g.Mismatch))
		}
	}
	for _, gap := range w.gaps {
		h := uint64(0)
		for _, x := range v.holes {
			// Excused only while the ring says it made holes (Stats.Skipped
			// counts them), and no more distinct positions than that.
			if x >= gap.start && x < gap.end && acc.Stats.Skipped > 0 {
				if v.excused == nil {
					v.excused = map[uint64]bool{}
				}
				if !v.excused[x] && uint64(len(v.excused)) == acc.Stats.Skipped {
					continue
				}
				v.excused[x] = true
				h++
			}
		}
		v.Holes += h
		if gap.len() > h {
			v.Lost += gap.len() - h
			say("positions [%d,%d) (numbers %s) neither delivered nor missed", gap.start, gap.end, numbersAt(m, gap))
		}
	}
	if w.problems > 3 {
		v.problem("%s: ... and %d more", name, w.problems-3)
	}
}

// lapStart returns the position lap e began at, by the cursor it left:
// the walk's position, or past it if the subscriber passed positions
// silently before it (w.gaps gets them, which only holes excuse). A lap
// that began before the walk's position counted positions delivered
// already: inexact. A lap without its cursor (the generation died right
// after journaling it) began at the walk's position: nothing follows it.
func (v *bcastVerdict) lapStart(w *walk, e bcastEvent, say func(string, ...any)) uint64 {
	if e.End == 0 {
		return w.at
	}
	end := e.End - 1
	if end < e.Num {
		v.Inexact++
		say("a lap of %d left the cursor at %d", e.Num, end)
		return w.at
	}
	start := end - e.Num
	switch {
	case start > w.at:
		w.gaps = append(w.gaps, span{w.at, start})
	case start < w.at:
		v.Inexact += min(w.at-start, e.Num)
		say("a lap counted positions [%d,%d) missed, delivered or counted before", start, min(w.at, end))
	}
	return start
}

// deliver checks one delivery, of the message at position p, against
// walk w.
func (v *bcastVerdict) deliver(w *walk, p uint64, g *bcastGeneration, say func(string, ...any)) {
	switch {
	case p == w.at:
	case p > w.at:
		w.gaps = append(w.gaps, span{w.at, p})
	case p < g.Join-1:
		v.OutOfOrder++
		say("delivered position %d, before its join position %d", p, g.Join-1)
		return
	default:
		if i, ok := inSpans(w.gaps, p); ok {
			v.OutOfOrder++
			say("delivered position %d after position %d", p, w.last-1)
			gap := w.gaps[i]
			w.gaps = slices.Replace(w.gaps, i, i+1, span{gap.start, p}, span{p + 1, gap.end})
			return
		}
		if _, ok := inSpans(w.laps, p); ok {
			v.Inexact++
			say("delivered position %d, which a lap counted as missed", p)
			return
		}
		v.Duplicated++
		say("delivered position %d again", p)
		return
	}
	w.at = p + 1
	w.last = max(w.last, p+1)
}

// inSpans finds the span of sorted, disjoint spans that holds x.
func inSpans(spans []span, x uint64) (int, bool) {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].end > x })
	return i, i < len(spans) && spans[i].start <= x
}

// numbersAt names the numbers at the positions of s, for a report.
func numbersAt(m positionMap, s span) string {
	i := sort.Search(len(m), func(i int) bool { return m[i].pos+m[i].n > s.start })
	if i == len(m) || m[i].pos > s.start {
		return "unknown"
	}
	lo := m[i].num + s.start - m[i].pos
	if s.end <= m[i].pos+m[i].n {
		return fmt.Sprintf("[%d,%d)", lo, lo+s.len())
	}
	return fmt.Sprintf("from %d", lo)
}
