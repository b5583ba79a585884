package bridge

// Message identity across the hop, and duplicate detection on the way in.
//
// Every message Out publishes carries three headers: HeaderProducer (the
// Out side's producer id), HeaderSeq (its sequence number, decimal) and
// Nats-Msg-Id = producer ":" seq, which JetStream uses to drop a republished
// message inside the stream's duplicate window. A producer's sequence
// numbers are unique and increase in the order Out read the messages from
// its ring; on the wire they can arrive reordered, by at most the number
// Out keeps in flight (a retried publish lands after later ones), and
// duplicated (retries, redeliveries).
//
// Invariants of a window (one per producer, dedupe below):
//   - every seq <= Base was seen, or is one of the Holes: seqs the window
//     slid past unseen (JetStream redelivers a message only after its ack
//     wait, by which time the stream may be far ahead), still accepted
//     when they come; beyond MaxHoles the oldest is given up (Expired);
//   - Base < seq <= Base+WindowSize is tracked by bit seq % WindowSize of
//     Bits: set iff seen;
//   - Max is the highest seq seen, Base <= Max <= Base+WindowSize;
//   - Missing counts the seqs above First (the first seq seen) and below
//     Max that were not seen: gaps, which a late arrival fills (and
//     decrements).

import (
	"strconv"

	"github.com/nats-io/nats.go"
)

// Header names of the message identity.
const (
	HeaderProducer = "Shmring-Producer"
	HeaderSeq      = "Shmring-Seq"
	// HeaderMsgID is JetStream's deduplication header.
	HeaderMsgID = nats.MsgIdHdr
)

// WindowSize is how far out of order (in sequence numbers of one
// producer) the receiving side accepts a message and still tells a
// duplicate from a late first arrival. It bounds Out's MaxInFlight.
const WindowSize = 1 << 14

const windowWords = WindowSize / 64

// MaxProducerLen is the longest producer id (bytes).
const MaxProducerLen = 63

// Identity is where a message came from: its producer id and sequence.
type Identity struct {
	Producer string
	Seq      uint64
}

// setIdentity writes id into h.
func setIdentity(h nats.Header, producer string, seq uint64) {
	s := strconv.FormatUint(seq, 10)
	h[HeaderProducer] = []string{producer}
	h[HeaderSeq] = []string{s}
	h[HeaderMsgID] = []string{producer + ":" + s}
}

// identityOf reads the identity headers; ok is false for a message that
// has none (published by something else than a bridge) or a malformed one.
func identityOf(h nats.Header) (Identity, bool) {
	p, s := h.Get(HeaderProducer), h.Get(HeaderSeq)
	if p == "" || len(p) > MaxProducerLen || s == "" {
		return Identity{}, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || seq == 0 {
		return Identity{}, false
	}
	return Identity{Producer: p, Seq: seq}, true
}

// window is one producer's dedupe record; it lives in the In side's
// state region (state.go), so it is a fixed-width struct. Only the In
// bridge's goroutine writes it; monitors read Missing and the counts with
// atomic loads (see inState).
type window struct {
	Name    [MaxProducerLen + 1]byte // producer id, NUL-padded; Name[0] == 0: free entry
	First   uint64                   // first seq seen
	Base    uint64
	Max     uint64
	Missing uint64 // gaps now: seqs skipped and not (yet) seen
	Dups    uint64
	Late    uint64 // arrivals that filled a gap (reordered on the wire)
	Expired uint64 // holes given up (the table full): such a seq is dropped as a duplicate if it comes
	NHoles  uint64
	Holes   [MaxHoles]uint64 // Holes[:NHoles]: unseen seqs <= Base, in no order
	Bits    [windowWords]uint64
}

// MaxHoles is how many unseen seqs below its window a producer's window
// keeps accepting.
const MaxHoles = 1024

// hole returns the index of seq in Holes, or -1.
func (w *window) hole(seq uint64) int {
	n := min(w.NHoles, MaxHoles) // a bound of our own: the state file is not trusted
	for i := range n {
		if w.Holes[i] == seq {
			return int(i)
		}
	}
	return -1
}

// addHole records seq as unseen below the window, giving up the smallest
// hole if the table is full.
func (w *window) addHole(seq uint64) {
	if w.NHoles < MaxHoles {
		w.Holes[w.NHoles] = seq
		w.NHoles++
		return
	}
	low := 0
	for i := range w.Holes {
		if w.Holes[i] < w.Holes[low] {
			low = i
		}
	}
	w.Holes[low] = seq
	w.Expired++
}

func (w *window) removeHole(i int) {
	w.NHoles--
	w.Holes[i] = w.Holes[w.NHoles]
}

// verdict is what observe decided about one message.
type verdict int

const (
	fresh     verdict = iota // first time seen: deliver it
	duplicate                // seen before (or fell out of the window): drop it
)

func (w *window) bit(seq uint64) bool {
	return w.Bits[(seq%WindowSize)/64]&(1<<(seq%64)) != 0
}

func (w *window) set(seq uint64)   { w.Bits[(seq%WindowSize)/64] |= 1 << (seq % 64) }
func (w *window) clear(seq uint64) { w.Bits[(seq%WindowSize)/64] &^= 1 << (seq % 64) }

// start makes w the window of a producer first seen at seq: seqs a little
// below it (half a window) are still accepted, as late arrivals of a
// stream that was reordered just before the point where we joined.
func (w *window) start(seq uint64) {
	w.First, w.Max = seq, seq-1
	w.Base = seq - 1 - min(seq-1, WindowSize/2)
	w.Bits = [windowWords]uint64{}
}

// observe records seq and says whether it is fresh. It does not mark it
// seen: mark does, once the message is in the ring, so that a crash in
// between redelivers it rather than losing it.
func (w *window) observe(seq uint64) verdict {
	switch {
	case seq <= w.Base:
		if w.hole(seq) >= 0 {
			return fresh
		}
		return duplicate
	case seq <= w.Base+WindowSize && w.bit(seq):
		return duplicate
	}
	return fresh
}

// mark records seq (observe said fresh) as seen. It is idempotent for
// a seq it has set, so that a restart may run it again over a mark a
// crash cut short.
func (w *window) mark(seq uint64) {
	if seq <= w.Base {
		// A hole filled late (observe said fresh), or a re-mark.
		if i := w.hole(seq); i >= 0 {
			w.removeHole(i)
			if seq > w.First && w.Missing > 0 {
				w.Missing--
			}
			w.Late++
		}
		return
	}
	if seq > w.Base+WindowSize {
		// Slide: the seqs that leave the window unseen become holes (and
		// stay counted in Missing); every bit is cleared for the seqs
		// that reuse it.
		to := seq - WindowSize
		for q := w.Base + 1; q <= to && q <= w.Max; q++ {
			if !w.bit(q) && q > w.First {
				w.addHole(q)
			}
			w.clear(q)
		}
		if to-w.Base >= WindowSize {
			w.Bits = [windowWords]uint64{}
		}
		w.Base = to
		if w.Max < w.Base {
			w.Max = w.Base
		}
	}
	if w.bit(seq) {
		return // marked already: a restart settling a pending push that a crash interrupted in mark
	}
	w.set(seq)
	switch {
	case seq > w.Max:
		if w.Max >= w.First {
			w.Missing += seq - w.Max - 1
		}
		w.Max = seq
	case seq > w.First && w.Missing > 0:
		w.Missing--
		w.Late++
	default:
		w.Late++
	}
	// Compact: move Base up over the seen run just above it.
	for w.Base < w.Max && w.bit(w.Base+1) {
		w.clear(w.Base + 1)
		w.Base++
	}
}

func (w *window) name() string {
	n := 0
	for n < len(w.Name) && w.Name[n] != 0 {
		n++
	}
	return string(w.Name[:n])
}

// dedupe maps producer ids to their windows, over a table that lives in
// the state region (or on the heap without one).
type dedupe struct {
	table []window
	index map[string]*window
}

func newDedupe(table []window) *dedupe {
	d := &dedupe{table: table, index: make(map[string]*window)}
	for i := range table {
		if w := &table[i]; w.Name[0] != 0 {
			d.index[w.name()] = w
		}
	}
	return d
}

// lookup returns the window of producer, taking a free entry for a new
// one (started at seq).
func (d *dedupe) lookup(producer string, seq uint64) (*window, error) {
	if w, ok := d.index[producer]; ok {
		return w, nil
	}
	for i := range d.table {
		if w := &d.table[i]; w.Name[0] == 0 {
			w.start(seq)
			copy(w.Name[:], producer) // last: a crash before it leaves the entry free
			d.index[producer] = w
			return w, nil
		}
	}
	return nil, ErrTooManyProducers
}
