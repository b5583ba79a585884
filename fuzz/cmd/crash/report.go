package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/fuzz"
)

// account gathers what the verifier needs of ring r from the slots' death
// records and the ledger.
func (c *campaign) account(r *crashRing) ringAccount {
	acc := ringAccount{Name: r.name, SPSC: r.spsc(), Records: r.recs(), Stats: r.stats, Drained: r.drained}
	for _, p := range r.producers {
		sa := streamAccount{Stream: uint32(p.idx), End: atomic.LoadUint64(&c.l.producer(p.idx).Attempt)}
		var unc, claimed []span
		for _, d := range p.deaths {
			unc = append(unc, span{d.committed, d.attempt})
			if r.recs() {
				claimed = append(claimed, span{d.committed, d.reserved})
			}
		}
		sa.Uncertain, sa.Claimed = mergeSpans(unc), mergeSpans(claimed)
		acc.Streams = append(acc.Streams, sa)
	}
	for _, s := range r.consumers {
		rec := c.l.consumer(s.idx)
		acc.Corrupt += atomic.LoadUint64(&rec.Corrupt)
		acc.OutOfOrder += atomic.LoadUint64(&rec.OutOfOrder)
		for _, d := range s.deaths {
			acc.Deaths = append(acc.Deaths, consumerDeath{Claim: d.claim, Held: d.held, Last: d.last, Peeked: d.peeked, LastOf: d.lastOf})
		}
	}
	return acc
}

// bcastAccount gathers what the verifier needs of broadcast ring r.
func (c *campaign) bcastAccount(r *crashRing) bcastAccount {
	p := r.producers[0]
	acc := bcastAccount{Name: r.name, Stream: uint32(p.idx), End: atomic.LoadUint64(&c.l.producer(p.idx).Attempt),
		Tail: r.stats.MsgsIn, Stats: r.stats, Backlog: r.backlog, Drained: r.drained}
	p.mu.Lock()
	acc.Producers = slices.Clone(p.bprods)
	p.mu.Unlock()
	for _, s := range r.consumers {
		acc.Corrupt += atomic.LoadUint64(&c.l.consumer(s.idx).Corrupt)
		s.mu.Lock()
		for _, g := range s.gens {
			acc.Generations = append(acc.Generations, g.bcastGeneration)
		}
		s.mu.Unlock()
	}
	return acc
}

// stallSummary is "p50 .. p99 .. max .." of ds.
func stallSummary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none measured"
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	pct := func(p float64) time.Duration {
		return ds[max(0, min(len(ds)-1, int(math.Ceil(p*float64(len(ds))))-1))]
	}
	r := func(d time.Duration) time.Duration {
		if d >= 100*time.Millisecond {
			return d.Round(time.Millisecond)
		}
		return d.Round(time.Millisecond / 10)
	}
	return fmt.Sprintf("p50 %v p99 %v max %v", r(pct(0.50)), r(pct(0.99)), r(ds[len(ds)-1]))
}

// verdict checks the accounts, prints the report and the verdict, and
// returns fuzz.ErrFailed if the campaign failed.
func (c *campaign) verdict(elapsed time.Duration) error {
	o := c.o
	c.mu.Lock()
	kills := slices.Clone(c.kills)
	pauses := slices.Clone(c.pauses)
	others := slices.Clone(c.problems)
	var failed []string
	for _, s := range append(append([]*slot(nil), c.producers...), c.consumers...) {
		if f := c.failures[s]; f != nil {
			if f.n == 1 {
				failed = append(failed, fmt.Sprintf("%v failed by itself (%s)", s, f.first))
			} else {
				failed = append(failed, fmt.Sprintf("%v: %d incarnations failed by themselves (first %s; last %s)", s, f.n, f.first, f.last))
			}
		}
	}
	c.mu.Unlock()
	// The problems, causes first: stalls, then each ring's accounts,
	// then the campaign's own, then children that failed (on a stalled
	// ring, a consequence).
	var stallProblems, problems []string

	// Kills: per kind, per target, where they landed, stalls.
	kinds := map[string]int{}
	var aimed, hit [numTargets]int
	var landed [numStates]int
	var stalls []time.Duration
	perRing := map[*crashRing][]time.Duration{}
	restartsOf := map[*crashRing][]time.Duration{} // how long the killed slot took to come back
	var stalled []*killRecord
	for _, k := range kills {
		kinds[k.slot.kindRole()]++
		aimed[k.target]++
		if k.hit {
			hit[k.target]++
		}
		landed[k.landed]++
		stalls = append(stalls, k.stall)
		perRing[k.slot.ring] = append(perRing[k.slot.ring], k.stall)
		if k.restart > 0 {
			restartsOf[k.slot.ring] = append(restartsOf[k.slot.ring], k.restart)
		}
		if !k.measured || k.stall >= stallLimit {
			stalled = append(stalled, k)
		}
		if o.Verbose {
			how := "missed, killed where it was"
			if k.hit {
				how = "hit"
			}
			if k.held {
				how += ", other side held"
			}
			if k.stops > 0 {
				how += fmt.Sprintf(", %d stops", k.stops)
			}
			st := fmt.Sprintf("stall %v (dead %v, restart %v)", k.stall.Round(time.Millisecond/10), k.dead.Round(time.Millisecond/10), k.restart.Round(time.Millisecond/10))
			if !k.measured {
				st = fmt.Sprintf("no progress for %v", k.stall.Round(time.Millisecond))
			}
			if k.state != "" {
				st += fmt.Sprintf(" [at %v: %s]", slowStall, k.state)
			}
			fmt.Fprintf(c.out, "crash: kill %d at %.3fs: %v (incarnation %d), target %v (%s after %v), landed %v, %s\n",
				k.n, k.at.Sub(c.start).Seconds(), k.slot, k.inc, k.target, how, k.waited.Round(time.Microsecond), k.landed, st)
		}
	}
	var kindParts []string
	for _, kd := range []string{"spsc producer", "spsc consumer", "mpmc producer", "mpmc consumer", "broadcast producer", "broadcast tethered", "broadcast lossy", "records producer", "records consumer"} {
		if n := kinds[kd]; n > 0 {
			kindParts = append(kindParts, fmt.Sprintf("%s %d", kd, n))
		}
	}
	restarts := 0
	for _, s := range append(append([]*slot(nil), c.producers...), c.consumers...) {
		restarts += int(s.inc) - 1
	}
	fmt.Fprintf(c.out, "crash: %d kills (%s), %d restarts\n", len(kills), strings.Join(kindParts, ", "), restarts)
	var tparts, lparts []string
	for t := range numTargets {
		tparts = append(tparts, fmt.Sprintf("%v %d/%d", t, hit[t], aimed[t]))
	}
	for s := range numStates {
		if landed[s] > 0 {
			lparts = append(lparts, fmt.Sprintf("%v %d", s, landed[s]))
		}
	}
	fmt.Fprintf(c.out, "crash: targets (hit/aimed): %s; landed in: %s\n", strings.Join(tparts, ", "), strings.Join(lparts, ", "))
	if len(pauses) > 0 {
		var most supPause
		for _, p := range pauses {
			if p.d > most.d {
				most = p
			}
		}
		fmt.Fprintf(c.out, "crash: supervisor: %d pauses of %v or more between two looks at the rings, the longest %v from %.3fs\n",
			len(pauses), pauseGap, most.d.Round(time.Millisecond), most.at.Sub(c.start).Seconds())
	}

	// Rings.
	var total ringVerdict
	for _, r := range c.rings {
		if r.bcast() {
			v := c.reportBroadcast(r, perRing[r], restartsOf[r], kills)
			for _, p := range v.Problems {
				problems = append(problems, r.name+": "+p)
			}
			if v.Leaked > 0 {
				problems = append(problems, fmt.Sprintf("%s: %d futex registrations left after Recover (NotEmptyWaiters %d, NotFullWaiters %d)",
					r.name, v.Leaked, r.stats.NotEmptyWaiters, r.stats.NotFullWaiters))
			}
			total.Delivered += v.Positions
			total.Lost += v.Lost
			total.Duplicated += v.Duplicated
			total.Corrupt += v.Corrupt + v.Unsent
			total.OutOfOrder += v.OutOfOrder + v.Inexact
			total.Leaked += v.Leaked
			continue
		}
		acc := c.account(r)
		v := verifyRing(&acc, c.tally)
		st := r.stats
		counters := fmt.Sprintf("Skipped %d, Redelivered %d", st.Skipped, st.Redelivered)
		if r.recs() {
			counters = fmt.Sprintf("Skipped %d (%d reserved and never delivered), MsgsIn %d, MsgsOut %d, %d bytes",
				st.Skipped, v.MustSkip, st.MsgsIn, st.MsgsOut, st.BytesOut)
		}
		fmt.Fprintf(c.out, "crash: %s: %d delivered (%d of killed producers' calls); allowed: %d uncommitted, %d redelivered, %d consumer-lost; "+
			"%s; %d kills, stall %s (restart %s); recovered %d dead peers, %d sleepers; waiters %d/%d\n",
			r.name, v.Delivered, v.InFlightDelivered, v.Uncommitted, v.Redelivered, v.ConsumerLost,
			counters, len(perRing[r]), stallSummary(perRing[r]), stallSummary(restartsOf[r]),
			r.recovery.DeadPeers, r.recovery.Sleepers, st.NotEmptyWaiters, st.NotFullWaiters)
		for _, p := range v.Problems {
			problems = append(problems, r.name+": "+p)
		}
		if v.Leaked > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d futex registrations left after Recover (NotEmptyWaiters %d, NotFullWaiters %d)",
				r.name, v.Leaked, st.NotEmptyWaiters, st.NotFullWaiters))
		}
		total.Delivered += v.Delivered
		total.Lost += v.Lost
		total.Duplicated += v.Duplicated
		total.Corrupt += v.Corrupt + v.Unsent
		total.OutOfOrder += v.OutOfOrder
		total.Leaked += v.Leaked
		if v.Unsent > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d deliveries of numbers never offered", r.name, v.Unsent))
		}
	}

	// Stalls: per ring, the first kill after which it never moved again
	// (the cause; the later kills on it only add to the freeze), and the
	// kills after which it took too long.
	sort.Slice(stalled, func(i, j int) bool { return stalled[i].n < stalled[j].n })
	for _, r := range c.rings {
		var slow []*killRecord
		var frozen *killRecord
		after := 0
		for _, k := range stalled {
			switch {
			case k.slot.ring != r:
			case !k.measured && frozen == nil:
				frozen = k
			case !k.measured:
				after++
			default:
				slow = append(slow, k)
			}
		}
		for i, k := range slow {
			if i == 5 {
				stallProblems = append(stallProblems, fmt.Sprintf("%s: ... and %d more slow stalls", r.name, len(slow)-i))
				break
			}
			stallProblems = append(stallProblems, fmt.Sprintf("%s: stall of %v after kill %d at %.3fs (%v, target %v, landed %v; its restart took %v) [at %v: %s]",
				r.name, k.stall.Round(time.Millisecond), k.n, k.at.Sub(c.start).Seconds(), k.slot, k.target, k.landed, k.restart.Round(time.Millisecond), slowStall, k.state))
		}
		if k := frozen; k != nil {
			stallProblems = append(stallProblems, fmt.Sprintf("%s: FROZEN after kill %d at %.3fs (%v killed in state %v): no progress for %v, to the end; %d later kills on the frozen ring",
				r.name, k.n, k.at.Sub(c.start).Seconds(), k.slot, k.landed, k.stall.Round(time.Millisecond), after))
		}
	}
	if len(kills) < o.minKills {
		others = append(others, fmt.Sprintf("%d kills, fewer than -min-kills %d", len(kills), o.minKills))
	}
	problems = append(append(append(stallProblems, problems...), others...), failed...)
	fuzz.PrintProblems(c.out, "crash", problems, 25)
	pass := len(problems) == 0 && total.Lost+total.Duplicated+total.Corrupt+total.OutOfOrder == 0 && total.Leaked == 0
	line := fmt.Sprintf("crash: %s %d kills, %d messages (%s) in %.1fs: %d lost, %d duplicated, %d corrupt, %d out of order, %d leaked; stall %s",
		fuzz.Verdict(pass), len(kills), total.Delivered, o.Kinds(), elapsed.Seconds(), total.Lost, total.Duplicated, total.Corrupt, total.OutOfOrder, total.Leaked, stallSummary(stalls))
	if len(stalled) > 0 {
		line += fmt.Sprintf("; %d stalls over %v", len(stalled), stallLimit)
		var frozen []string
		for _, r := range c.rings {
			for _, k := range stalled {
				if k.slot.ring == r && !k.measured {
					frozen = append(frozen, r.name)
					break
				}
			}
		}
		if len(frozen) > 0 {
			line += ", frozen: " + strings.Join(frozen, ", ")
		}
	}
	fmt.Fprintln(c.out, line)
	if !pass {
		return fuzz.ErrFailed
	}
	return nil
}

// reportBroadcast verifies broadcast ring r, prints its line and returns
// the verdict. stalls and restarts are its kills'.
func (c *campaign) reportBroadcast(r *crashRing, stalls, restarts []time.Duration, kills []*killRecord) bcastVerdict {
	acc := c.bcastAccount(r)
	v := verifyBroadcast(&acc)
	var late []time.Duration
	for _, k := range kills {
		if k.slot.ring == r && k.late {
			late = append(late, k.stall)
		}
	}
	st := r.stats
	fmt.Fprintf(c.out, "crash: %s: %d messages published (%d of killed producers' calls; %d takeovers adopted %d completed, unpublished ones); "+
		"allowed: %d uncommitted, %d missed in %d laps; %d tethered generations delivered %d, %d lossy delivered %d; "+
		"%d kills, stall %s (restart %s; %d late restarts, stall %s); recovered %d dead peers, %d sleepers; waiters %d/%d; Len %d\n",
		r.name, v.Positions, v.InFlightDelivered, v.Adoptions, v.Adopted, v.Uncommitted, v.Missed, v.Laps,
		v.Generations[0], v.Deliveries[0], v.Generations[1], v.Deliveries[1],
		len(stalls), stallSummary(stalls), stallSummary(restarts), len(late), stallSummary(late),
		r.recovery.DeadPeers, r.recovery.Sleepers, st.NotEmptyWaiters, st.NotFullWaiters, st.Len)
	if v.Inexact > 0 {
		v.problem("%d deliveries or laps of lossy subscribers at odds with their accounts", v.Inexact)
	}
	if v.Unsent > 0 {
		v.problem("%d deliveries of numbers that hold no position", v.Unsent)
	}
	return v
}
