package main

// The crash contract, as this harness checks it. This file (for SPSC,
// MPMC and record rings) and contract_broadcast.go (for broadcast rings) are the one
// place in the harness that encodes it. docs/ring.md ("Crash contract")
// is the ring's own statement and the authority: when it changes, these
// files change with it.
//
// Only messages that the killed process held may be lost or delivered
// again. Precisely, for every stream (one producer slot, across its
// incarnations) and every ring:
//
//	(a) A producer that died with a call in flight (its record's
//	    [Committed, Attempt), see ledger.go) may have lost that call's
//	    messages: each of those numbers is delivered once or not at all
//	    ("uncommitted" when not). That it got some of them into the ring
//	    before it died is fine: a delivery of one is not a duplicate.
//	(b) A consumer that died holding a peeked message it had journaled
//	    and not released (its record's Held) may have it delivered once
//	    more, to its successor or to another consumer ("redelivered").
//	(c) A consumer that died with a call in flight that may have taken
//	    Claim messages out of the ring (copied and released, not yet
//	    journaled) may have lost as many committed messages as it took
//	    and did not journal: Claim less the entries it journaled since
//	    the call began ("consumer-lost"). On an SPSC ring they are the
//	    ring's next messages after the last one its consumer slot
//	    journaled, so they must lie among that many committed numbers
//	    after that one; on an MPMC ring only the count is bounded,
//	    ring-wide.
//	(d) Nothing else: every other number below the stream's final
//	    Attempt is delivered exactly once ("lost" if never, "duplicated"
//	    for each extra delivery), no number at or above it is delivered
//	    ("unsent", counted as corrupt), every message passes its checks
//	    ("corrupt"), and within one consumer incarnation a stream's
//	    numbers increase: always on SPSC; on MPMC except for messages the
//	    ring redelivered, so "out of order" there is bounded by
//	    Stats.Redelivered.
//	(e) The ring's counters agree: a message dies in a consumer only
//	    after it left the ring, so consumer-lost <= Stats.MsgsOut -
//	    Stats.Skipped - delivered (the excess is lost); on MPMC a skip
//	    record stands for a message a dead producer claimed and never
//	    published, so Stats.Skipped <= uncommitted, and a held message
//	    reaches a second consumer only through a repair, so redelivered
//	    <= Stats.Redelivered.
//	    At the end, after the drain, Len is 0 and MsgsIn == MsgsOut, and
//	    after Recover no futex registration is left (NotEmptyWaiters ==
//	    NotFullWaiters == 0).
//	(f) A record ring (docs/ring.md, Crash contract, "Record rings") is
//	    one consumer's, as SPSC: what a killed consumer's call took are
//	    the ring's next records after the last ones it journaled, so
//	    (c)'s loss must lie, per stream, among the Claim committed
//	    numbers after the slot's last journaled one of that stream (the
//	    Claim shared by the streams), and within a consumer incarnation
//	    every stream's numbers increase, with no allowance. A consumer
//	    may hold several peeks at once: each journaled, unreleased one
//	    (its record's [HeldFrom-1, Head) of the journal) may come again,
//	    once, as (b). A killed producer's claimed, uncommitted records
//	    (a reservation, a push above 2048 bytes being copied) become
//	    skip records: so Stats.Skipped <= uncommitted, and every number
//	    of a killed producer's call that it had reserved (its record's
//	    [Committed, Reserved)) and that nobody delivered is a skip record
//	    unless it died in a killed consumer: Stats.Skipped >= those,
//	    less what (c) allows beyond consumer-lost. Its MsgsIn and
//	    MsgsOut are the handles' counters, which a handle adds to after
//	    its commit (release) lands, so a kill in between leaves a
//	    record uncounted: MsgsIn lies between the committed numbers
//	    whose call returned (delivered less those of killed calls, plus
//	    consumer-lost) and every number that may have been committed
//	    (delivered, consumer-lost, and the uncommitted ones that are no
//	    skip record); MsgsOut lies within the same upper bound and below
//	    it by at most what the killed consumers' calls took (Claim, or
//	    one release of a peek); Len need not be 0 after the drain (the
//	    drain to io.EOF is the check that the ring emptied).
//
// The verifier below takes the accounts the supervisor collected and the
// tally of every journaled delivery, and says what was allowed and what
// failed.

import (
	"fmt"
	"slices"
	"sort"

	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/ring"
)

// span is a range [start, end) of one stream's numbers.
type span struct{ start, end uint64 }

func (s span) len() uint64 { return s.end - s.start }

// streamAccount is what the producer records say of one stream.
type streamAccount struct {
	Stream uint32
	// End is the stream's final Attempt: no number at or above it was
	// ever offered to the ring.
	End uint64
	// Uncertain are the [Committed, Attempt) of the producer incarnations
	// that ended with a call in flight, sorted and merged: rule (a).
	Uncertain []span
	// Claimed are, on a record ring, the [Committed, Reserved) of those
	// incarnations: numbers certainly claimed (rule (f)).
	Claimed []span
}

// consumerDeath is what one dead consumer incarnation's record said.
type consumerDeath struct {
	Claim uint64 // rule (c): taken by its call in flight and not journaled, at most
	Held  uint64 // journal entry + 1, or 0: rule (b)
	Last  uint64 // the slot's last journal entry + 1 at the death, or 0: rule (c) on SPSC
	// Peeked are a record-ring consumer's journaled, unreleased peeks
	// (journal entries, each once): rule (f). Held may be one of them.
	Peeked []uint64
	// LastOf is, on a record ring, per stream the slot's last journaled
	// number + 1 at the death (absent: none in the journal): rule (f)'s
	// windows for (c).
	LastOf map[uint32]uint64
}

// ringAccount is everything the verifier needs of one ring.
type ringAccount struct {
	Name    string
	SPSC    bool
	Records bool // a record ring: rule (f)
	Streams []streamAccount
	Deaths  []consumerDeath // of its consumers' incarnations
	// Corrupt and OutOfOrder are summed over its consumer records.
	Corrupt, OutOfOrder uint64
	Stats               ring.Stats // after the drain and Recover
	Drained             bool       // its consumers read it to io.EOF
}

// ringVerdict is the verifier's account of one ring. The first group is
// allowed by the contract, the second is failures.
type ringVerdict struct {
	Delivered         uint64 // numbers delivered at least once
	InFlightDelivered uint64 // of them, numbers of killed producers' calls: (a)
	Uncommitted       uint64 // (a)
	Redelivered       uint64 // (b)
	ConsumerLost      uint64 // (c)
	// MustSkip is, on a record ring, the reserved numbers of killed
	// producers' calls that nobody delivered (f): Stats.Skipped must be
	// at least that, less what died in consumers beyond ConsumerLost.
	MustSkip uint64

	Lost, Duplicated, Unsent, Corrupt, OutOfOrder uint64
	Leaked                                        uint32 // futex registrations left after Recover
	Problems                                      []string
}

func (v *ringVerdict) problem(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}

// failed reports whether the ring broke the contract.
func (v *ringVerdict) failed() bool {
	return v.Lost+v.Duplicated+v.Unsent+v.Corrupt+v.OutOfOrder > 0 || v.Leaked > 0 || len(v.Problems) > 0
}

// lostSpan is a run of committed numbers of a stream nobody delivered.
type lostSpan struct {
	stream uint32
	span
}

// verifyRing applies the contract to one ring.
func verifyRing(acc *ringAccount, t *fuzz.Tally) ringVerdict {
	var v ringVerdict
	held := map[uint64]uint32{} // entry -> deaths that held it
	for _, d := range acc.Deaths {
		mine := map[uint64]bool{} // each death's entries once: (b) and (f)
		if d.Held != 0 {
			mine[d.Held-1] = true
		}
		for _, e := range d.Peeked {
			mine[e] = true
		}
		for e := range mine {
			held[e]++
		}
	}
	var lost []lostSpan
	var dups []string
	for _, sa := range acc.Streams {
		runs := t.Runs(sa.Stream)
		if hi := lastEnd(runs); hi < sa.End {
			runs = append(runs, fuzz.Run{Start: hi, End: sa.End, N: 0})
		}
		for _, c := range sa.Claimed { // (f)
			v.MustSkip += undelivered(runs, c)
		}
		for _, r := range runs {
			if r.End > sa.End { // (d) unsent
				v.Unsent += (r.End - max(r.Start, sa.End)) * uint64(r.N)
				if r.Start >= sa.End {
					continue
				}
				r.End = sa.End
			}
			n := r.End - r.Start
			unc, certain := splitUncertain(span{r.Start, r.End}, sa.Uncertain)
			if r.N == 0 {
				v.Uncommitted += unc // (a)
				for _, c := range certain {
					lost = append(lost, lostSpan{sa.Stream, c})
				}
				continue
			}
			v.Delivered += n
			v.InFlightDelivered += unc
			if r.N > 1 {
				extra := uint64(r.N-1) * n
				allowed := uint64(0) // (b)
				for e, k := range held {
					if s, seq := splitEntry(e); s == sa.Stream && seq >= r.Start && seq < r.End {
						allowed += uint64(min(k, r.N-1))
					}
				}
				v.Redelivered += allowed
				if extra > allowed {
					v.Duplicated += extra - allowed
					dups = append(dups, fmt.Sprintf("stream %d: numbers [%d,%d) delivered %d times", sa.Stream, r.Start, r.End, r.N))
				}
			}
		}
	}
	lost = v.allowConsumerLoss(acc, lost)
	for _, l := range lost {
		v.Lost += l.len()
	}
	st := acc.Stats
	if acc.Records {
		v.checkRecordCounters(acc)
	}
	// (e) A message dies in a consumer only after it left the ring: the
	// positions consumers took (MsgsOut) hold the numbers delivered, the
	// skip records and what died in consumers, so at most MsgsOut -
	// Skipped - Delivered died there. (A record ring's counters are
	// bounded by checkRecordCounters instead.)
	if slack := satSub(st.MsgsOut, st.Skipped+v.Delivered); !acc.Records && v.ConsumerLost > slack {
		excess := v.ConsumerLost - slack
		v.Lost += excess
		v.ConsumerLost = slack
		v.problem("%d numbers lost, not in killed consumers: they never left the ring (MsgsOut %d, Skipped %d, %d delivered)",
			excess, st.MsgsOut, st.Skipped, v.Delivered)
	}
	for i, l := range lost {
		if i == 5 {
			v.problem("... and %d more lost runs", len(lost)-i)
			break
		}
		v.problem("stream %d: numbers [%d,%d) lost", l.stream, l.start, l.end)
	}
	for i, d := range dups {
		if i == 5 {
			v.problem("... and %d more duplicated runs", len(dups)-i)
			break
		}
		v.problem("%s", d)
	}
	v.Corrupt = acc.Corrupt
	if acc.SPSC || acc.Records {
		v.OutOfOrder = acc.OutOfOrder // (d), (f)
	} else {
		v.OutOfOrder = acc.OutOfOrder - min(acc.OutOfOrder, st.Redelivered)
		if st.Skipped > v.Uncommitted { // (e)
			v.problem("Stats.Skipped %d, but only %d numbers of killed producers' calls were never delivered", st.Skipped, v.Uncommitted)
		}
		if v.Redelivered > st.Redelivered {
			v.problem("%d held messages delivered again, but Stats.Redelivered is %d", v.Redelivered, st.Redelivered)
		}
	}
	if !acc.Drained {
		v.problem("not drained to io.EOF: frozen (Len %d, MsgsIn %d, MsgsOut %d)", st.Len, st.MsgsIn, st.MsgsOut)
	} else if !acc.Records && (st.Len != 0 || st.MsgsIn != st.MsgsOut) {
		v.problem("drained, yet Len %d, MsgsIn %d, MsgsOut %d", st.Len, st.MsgsIn, st.MsgsOut)
	}
	v.Leaked = st.NotEmptyWaiters + st.NotFullWaiters // (e)
	return v
}

// checkRecordCounters applies rule (f) to a record ring's Skipped,
// MsgsIn and MsgsOut, once the numbers are counted.
func (v *ringVerdict) checkRecordCounters(acc *ringAccount) {
	st := acc.Stats
	var claims uint64 // what killed consumers' calls took: Claim, or the release of one peek
	for _, d := range acc.Deaths {
		claims += max(d.Claim, 1)
	}
	if st.Skipped > v.Uncommitted {
		v.problem("Stats.Skipped %d, but only %d numbers of killed producers' calls were never delivered", st.Skipped, v.Uncommitted)
	}
	// Beyond what consumer-lost used, the killed consumers' claims may
	// have taken committed numbers of killed producers' calls too.
	if spare := satSub(claims, v.ConsumerLost); st.Skipped+spare < v.MustSkip {
		v.problem("Stats.Skipped %d, but %d reserved numbers of killed producers' calls were never delivered (and killed consumers took at most %d of them)",
			st.Skipped, v.MustSkip, spare)
	}
	// Committed: at least those of calls that returned (delivered, less
	// the killed calls', and consumer-lost), at most every number that
	// may have been (the uncommitted ones that are no skip record too).
	lo := satSub(v.Delivered, v.InFlightDelivered) + v.ConsumerLost
	hi := v.Delivered + v.ConsumerLost + v.Lost + satSub(v.Uncommitted, st.Skipped)
	if st.MsgsIn < lo || st.MsgsIn > hi {
		v.problem("Stats.MsgsIn %d, outside [%d, %d]: the records committed by calls that returned, and every one that may have been", st.MsgsIn, lo, hi)
	}
	if st.MsgsOut > hi || st.MsgsOut+claims < v.Delivered+v.ConsumerLost {
		v.problem("Stats.MsgsOut %d, outside [%d, %d]: the records delivered or lost in consumers less what killed consumers' calls took, and every one that may have been committed",
			st.MsgsOut, satSub(v.Delivered+v.ConsumerLost, claims), hi)
	}
}

// undelivered is how many numbers of span s runs counts 0 times (runs
// cover the stream's numbers from 0, in order; past them, none was
// delivered).
func undelivered(runs []fuzz.Run, s span) uint64 {
	var n uint64
	x := s.start
	for _, r := range runs {
		if r.End <= x {
			continue
		}
		if r.Start >= s.end {
			break
		}
		a, b := max(r.Start, x), min(r.End, s.end)
		if r.N == 0 {
			n += b - a
		}
		x = b
	}
	if x < s.end {
		n += s.end - x
	}
	return n
}

// allowConsumerLoss takes out of lost what rule (c) allows and returns the
// rest.
func (v *ringVerdict) allowConsumerLoss(acc *ringAccount, lost []lostSpan) []lostSpan {
	if acc.Records {
		return v.allowWindows(acc, lost)
	}
	if !acc.SPSC {
		budget := uint64(0)
		for _, d := range acc.Deaths {
			budget += d.Claim
		}
		var out []lostSpan
		for _, l := range lost {
			take := min(budget, l.len())
			budget -= take
			v.ConsumerLost += take
			if take < l.len() {
				out = append(out, lostSpan{l.stream, span{l.start + take, l.end}})
			}
		}
		return out
	}
	// SPSC: each death's budget covers only the first Claim committed
	// numbers after the slot's last journaled one.
	for _, d := range acc.Deaths {
		if d.Claim == 0 || len(acc.Streams) == 0 {
			continue
		}
		sa := acc.Streams[0]
		lo := uint64(0)
		if d.Last != 0 {
			s, seq := splitEntry(d.Last - 1)
			if s != sa.Stream {
				continue
			}
			lo = seq + 1
		}
		w := span{lo, kthCertain(lo, d.Claim, sa.Uncertain)}
		budget := d.Claim
		var out []lostSpan
		for _, l := range lost {
			a, b := max(l.start, w.start), min(l.end, w.end)
			if l.stream != sa.Stream || a >= b || budget == 0 {
				out = append(out, l)
				continue
			}
			take := min(budget, b-a)
			budget -= take
			v.ConsumerLost += take
			if l.start < a {
				out = append(out, lostSpan{l.stream, span{l.start, a}})
			}
			if a+take < l.end {
				out = append(out, lostSpan{l.stream, span{a + take, l.end}})
			}
		}
		lost = out
	}
	return lost
}

// allowWindows is allowConsumerLoss on a record ring: each death's Claim
// covers, per stream, only the first Claim committed numbers after the
// slot's last journaled one of that stream, or after what the deaths
// before it lost of that stream if that is further (a successor killed
// before it journaled any of a stream took that stream's records after
// those its predecessor's call took), Claim in all. Deaths are in the
// order they happened (the ring has one consumer slot).
func (v *ringVerdict) allowWindows(acc *ringAccount, lost []lostSpan) []lostSpan {
	taken := map[uint32]uint64{} // per stream, the end of what earlier deaths lost
	for _, d := range acc.Deaths {
		budget := d.Claim
		for _, sa := range acc.Streams {
			if budget == 0 {
				break
			}
			lo := max(d.LastOf[sa.Stream], taken[sa.Stream]) // the journaled number + 1, or 0
			w := span{lo, kthCertain(lo, budget, sa.Uncertain)}
			var out []lostSpan
			for _, l := range lost {
				a, b := max(l.start, w.start), min(l.end, w.end)
				if l.stream != sa.Stream || a >= b || budget == 0 {
					out = append(out, l)
					continue
				}
				take := min(budget, b-a)
				budget -= take
				v.ConsumerLost += take
				taken[sa.Stream] = max(taken[sa.Stream], a+take)
				if l.start < a {
					out = append(out, lostSpan{l.stream, span{l.start, a}})
				}
				if a+take < l.end {
					out = append(out, lostSpan{l.stream, span{a + take, l.end}})
				}
			}
			lost = out
		}
	}
	return lost
}

// splitUncertain splits s into how many of its numbers lie in the sorted,
// disjoint spans unc and the runs of those that do not.
func splitUncertain(s span, unc []span) (uint64, []span) {
	i := sort.Search(len(unc), func(i int) bool { return unc[i].end > s.start })
	var n uint64
	var certain []span
	x := s.start
	for ; i < len(unc) && unc[i].start < s.end; i++ {
		a, b := max(unc[i].start, s.start), min(unc[i].end, s.end)
		if x < a {
			certain = append(certain, span{x, a})
		}
		n += b - a
		x = b
	}
	if x < s.end {
		certain = append(certain, span{x, s.end})
	}
	return n, certain
}

// kthCertain returns one past the k-th number at or after lo that lies in
// no span of unc (sorted, disjoint).
func kthCertain(lo, k uint64, unc []span) uint64 {
	i := sort.Search(len(unc), func(i int) bool { return unc[i].end > lo })
	x := lo
	for ; i < len(unc); i++ {
		if unc[i].start > x {
			gap := unc[i].start - x
			if gap >= k {
				return x + k
			}
			k -= gap
		}
		x = max(x, unc[i].end)
	}
	return x + k
}

// mergeSpans sorts spans and merges overlapping and adjoining ones.
func mergeSpans(s []span) []span {
	s = slices.DeleteFunc(s, func(x span) bool { return x.end <= x.start })
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	var out []span
	for _, x := range s {
		if k := len(out); k > 0 && x.start <= out[k-1].end {
			out[k-1].end = max(out[k-1].end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out
}

func satSub(a, b uint64) uint64 { return a - min(a, b) }

func lastEnd(runs []fuzz.Run) uint64 {
	if len(runs) == 0 {
		return 0
	}
	return runs[len(runs)-1].End
}
