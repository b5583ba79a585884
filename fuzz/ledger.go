package fuzz

// The ledger proves exactly-once delivery of numbered streams that several
// consumers share, in memory bounded by how far the consumers' reports
// drift apart rather than by the number of messages.
//
// Each consumer reports, per stream, the sequence numbers it received as
// increasing, non-overlapping ranges [start, end): it checks its own order
// first (within one consumer a stream's numbers must strictly increase,
// which per-producer FIFO guarantees), so its reports are sorted. From time
// to time it also reports a floor: a number below which it will never
// report again. The ledger merges the consumers' reports of a stream like a
// k-way merge and keeps next, the first number not yet accounted for.
//
// Invariants, per stream:
//
//   - Every number below next was counted exactly once: as delivered (a
//     range starting at next advanced it), or as lost.
//   - A range that starts below next repeats numbers already counted: they
//     are duplicated, and only the part at or above next goes on.
//   - If every consumer's lowest possible next report (the start of its
//     first pending range; if it has none, its floor; once it is done,
//     infinity) is above next, nobody can ever deliver next: the numbers up
//     to the lowest such bound are lost.
//   - Pending ranges are only those above next that wait for a slower
//     consumer; the memory held is that backlog.
//
// At the end, with every consumer done, Finish counts the numbers from next
// up to the number the producer sent as lost, and numbers delivered at or
// beyond it (valid messages that were never sent) as unsent.

import (
	"fmt"
	"math"
	"sync"
)

// Counts is the account of one stream, or of several summed.
type Counts struct {
	Delivered  uint64 // numbers delivered exactly once
	Lost       uint64 // numbers nobody delivered
	Duplicated uint64 // deliveries of numbers already delivered
	Unsent     uint64 // numbers delivered but never sent
}

// Add sums two accounts.
func (c Counts) Add(d Counts) Counts {
	return Counts{c.Delivered + d.Delivered, c.Lost + d.Lost, c.Duplicated + d.Duplicated, c.Unsent + d.Unsent}
}

// Ledger merges consumers' delivery reports; see the comment above. Its
// methods are safe for concurrent use.
type Ledger struct {
	mu       sync.Mutex
	streams  map[uint32]*streamLedger
	pending  int // ranges held, over all streams
	peak     int
	finished bool
}

type seqRange struct{ start, end uint64 }

// consumerQueue is one consumer's pending reports for one stream.
type consumerQueue struct {
	q     []seqRange
	head  int
	floor uint64 // every future report starts at or above it
	done  bool
}

func (c *consumerQueue) len() int { return len(c.q) - c.head }

func (c *consumerQueue) pop() {
	c.head++
	if c.head == len(c.q) {
		c.q, c.head = c.q[:0], 0
	} else if c.head >= 1024 && c.head*2 >= len(c.q) {
		c.q = append(c.q[:0], c.q[c.head:]...)
		c.head = 0
	}
}

type streamLedger struct {
	next      uint64
	consumers map[int]*consumerQueue
	counts    Counts
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{streams: map[uint32]*streamLedger{}} }

// AddStream registers a stream and the consumers that may deliver it.
func (l *Ledger) AddStream(stream uint32, consumers []int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.streams[stream]; ok {
		return fmt.Errorf("ledger: stream %d registered twice", stream)
	}
	s := &streamLedger{consumers: map[int]*consumerQueue{}}
	for _, c := range consumers {
		s.consumers[c] = &consumerQueue{}
	}
	l.streams[stream] = s
	return nil
}

func (l *Ledger) queue(consumer int, stream uint32) (*streamLedger, *consumerQueue, error) {
	s, ok := l.streams[stream]
	if !ok {
		return nil, nil, fmt.Errorf("ledger: unknown stream %d", stream)
	}
	q, ok := s.consumers[consumer]
	if !ok {
		return nil, nil, fmt.Errorf("ledger: consumer %d does not consume stream %d", consumer, stream)
	}
	if q.done {
		return nil, nil, fmt.Errorf("ledger: consumer %d reported stream %d after it was done", consumer, stream)
	}
	return s, q, nil
}

// Deliver records that consumer received numbers [start, end) of stream.
// A consumer's ranges must be increasing and respect its floors; a report
// that is not is an error (a broken consumer, or a floor that was wrong).
func (l *Ledger) Deliver(consumer int, stream uint32, start, end uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, q, err := l.queue(consumer, stream)
	if err != nil {
		return err
	}
	if end <= start {
		return nil
	}
	if start < q.floor {
		return fmt.Errorf("ledger: consumer %d reported stream %d numbers [%d,%d) below its floor %d", consumer, stream, start, end, q.floor)
	}
	q.floor = end
	if n := q.len(); n > 0 && q.q[len(q.q)-1].end == start {
		q.q[len(q.q)-1].end = end // adjoining: extend
	} else {
		q.q = append(q.q, seqRange{start, end})
		l.pending++
		l.peak = max(l.peak, l.pending)
	}
	l.advance(s)
	return nil
}

// Floor records that consumer will report no number of stream below f.
func (l *Ledger) Floor(consumer int, stream uint32, f uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, q, err := l.queue(consumer, stream)
	if err != nil {
		return err
	}
	if f > q.floor {
		q.floor = f
		l.advance(s)
	}
	return nil
}

// Done records that consumer will report nothing more.
func (l *Ledger) Done(consumer int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.streams {
		if q, ok := s.consumers[consumer]; ok && !q.done {
			q.done = true
			l.advance(s)
		}
	}
}

// Finish closes the account of stream, of which the producer sent numbers
// [0, sent). Every consumer of the stream must be done.
func (l *Ledger) Finish(stream uint32, sent uint64) (Counts, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.streams[stream]
	if !ok {
		return Counts{}, fmt.Errorf("ledger: unknown stream %d", stream)
	}
	for c, q := range s.consumers {
		if !q.done {
			return Counts{}, fmt.Errorf("ledger: stream %d: consumer %d not done", stream, c)
		}
	}
	l.advance(s) // with everyone done and nothing pending, next is final
	c := s.counts
	switch {
	case s.next < sent:
		c.Lost += sent - s.next
	case s.next > sent:
		// Numbers in [sent, next) were counted as delivered or lost but
		// never sent; those delivered are unsent, not delivered.
		c.Unsent += s.next - sent
		c.Delivered -= min(c.Delivered, s.next-sent)
	}
	return c, nil
}

// Peak is the largest number of ranges the ledger held at once.
func (l *Ledger) Peak() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

// advance merges what can be merged; see the invariants above.
func (l *Ledger) advance(s *streamLedger) {
	for {
		progressed := false
		for _, q := range s.consumers {
			for q.len() > 0 {
				r := &q.q[q.head]
				if r.start < s.next {
					s.counts.Duplicated += min(r.end, s.next) - r.start
					if r.end <= s.next {
						q.pop()
						l.pending--
						continue
					}
					r.start = s.next
				}
				if r.start != s.next {
					break
				}
				s.counts.Delivered += r.end - r.start
				s.next = r.end
				q.pop()
				l.pending--
				progressed = true
			}
		}
		if progressed {
			continue
		}
		bound := uint64(math.MaxUint64)
		for _, q := range s.consumers {
			switch {
			case q.len() > 0:
				bound = min(bound, q.q[q.head].start)
			case !q.done:
				bound = min(bound, q.floor)
			}
		}
		if bound == math.MaxUint64 || bound <= s.next {
			return
		}
		s.counts.Lost += bound - s.next
		s.next = bound
	}
}
