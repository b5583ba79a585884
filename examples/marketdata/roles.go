package main

// The child processes: the feed, the strategies and the gateway. Each is
// this program re-executed by the orchestrator (internal/xproc) with its
// role and a spec; each opens the arena, finds its rings and its board
// record, stores its counters there as it works, and fails (exit status
// 1, the reason on stderr) at the first broken invariant it sees.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// The roles (xproc.Dispatch finds them in a child).
const (
	roleFeed     = "feed"
	roleStrategy = "strategy"
	roleGateway  = "gateway"
)

var roles = map[string]xproc.Role{
	roleFeed:     xproc.SpecRole(runFeed),
	roleStrategy: xproc.SpecRole(runStrategy),
	roleGateway:  xproc.SpecRole(runGateway),
}

// spec is what a child does (its one argument, as JSON).
type spec struct {
	Arena    string
	Rec      int  // its board record
	Strategy int  // strategy: its number
	Lossy    bool // strategy: subscribe lossy
	Newest   bool // strategy: join at ring.Newest (a restarted strategy) rather than ring.Oldest
	// Duration and Rate are the feed's: publish for Duration, Rate quotes
	// a second (0: as fast as the tethered subscribers read).
	Duration time.Duration
	Rate     int
	Wait     string // the wait strategy of every ring handle
	Deadline int64  // Unix nanoseconds: every blocking call ends by then
	Inject   string // a fault to plant (see options.inject)
}

// injectAt and injectOrder are the quote and the order number at which
// -inject plants its fault.
const (
	injectAt    = 1000
	injectOrder = 10
)

// Timing.
const (
	// maxHold bounds one wait of the feed for room in the ring: a live
	// tethered subscriber that holds the ring full that long is stuck,
	// which fails the run; a dead one is released within about a
	// millisecond of the feed finding the ring full.
	maxHold = 2 * time.Second
	// lossyEvery and lossyPause: every lossyEvery the lossy strategy stops
	// reading until the feed has lapped it, for at most lossyPause (a
	// strategy that does slow work now and then: a model refit, a GC
	// pause, a page fault storm).
	lossyEvery = 250 * time.Millisecond
	lossyPause = 200 * time.Millisecond
)

// attach opens the arena and the board, and stores the pid in the
// child's record.
func attach(sp spec) (*arena.Arena, *board, *procRecord, ring.WaitStrategy, error) {
	w, err := ring.ParseWaitStrategy(sp.Wait)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	if sp.Rec < 0 || sp.Rec >= maxProcs {
		return nil, nil, nil, 0, fmt.Errorf("board record %d out of range", sp.Rec)
	}
	a, err := arena.Open(sp.Arena)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	bd, err := openBoard(a)
	if err != nil {
		a.Close()
		return nil, nil, nil, 0, err
	}
	rec := bd.proc(sp.Rec)
	atomic.StoreUint64(&rec.PID, uint64(os.Getpid()))
	return a, bd, rec, w, nil
}

// runFeed publishes quotes 0, 1, 2, ... into the broadcast ring for
// sp.Duration, then ends the stream.
func runFeed(sp spec) error {
	a, bd, rec, w, err := attach(sp)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := ring.OpenBroadcast(a, quotesRing, ring.WithWaitStrategy(w))
	if err != nil {
		return err
	}
	// Close, not Detach: the producer's Close ends the stream, and each
	// subscriber reads what is left and then gets io.EOF.
	defer b.Close()
	rec.ready()

	p := newPrices()
	var q quote
	var n, skip uint64
	start := time.Now()
	for {
		el := time.Since(start)
		if el >= sp.Duration {
			break
		}
		if sp.Rate > 0 && float64(n) >= el.Seconds()*float64(sp.Rate) {
			// Ahead of the rate. The sleep lasts a millisecond or so; the
			// quotes due meanwhile go out back to back after it.
			time.Sleep(100 * time.Microsecond)
			continue
		}
		t0 := monoNow()
		res, err := b.TryReserve(quoteSize)
		waited := err == ring.ErrFull
		if waited {
			res, err = feedWait(b, rec)
		}
		if err != nil {
			return fmt.Errorf("quote %d: %w", n, err)
		}
		reserved(bd, rec, t0, waited)
		if sp.Inject == "gap" && n == injectAt {
			skip = 1 // every quote from here on is numbered one too high
		}
		// The quote is written in place, in the reserved slot, and stamped
		// once it can actually go.
		p.next(&q)
		q.Seq = n + skip
		q.SentNs = monoNow()
		q.encode(res.Buf)
		if sp.Inject == "torn" && n == injectAt {
			res.Buf[20] ^= 1 // a bid that does not match the checksum
		}
		if err := b.Commit(res, quoteSize); err != nil {
			return fmt.Errorf("quote %d: %w", n, err)
		}
		n++
		atomic.StoreUint64(&rec.Count, n)
	}
	if err := b.Close(); err != nil {
		return err
	}
	rec.done()
	return nil
}

// feedWait waits for room in the ring, which only a tethered subscriber a
// whole ring behind denies, and records how long it waited.
func feedWait(b *ring.Broadcast, rec *procRecord) (ring.Reservation, error) {
	ctx, cancel := context.WithTimeout(context.Background(), maxHold)
	defer cancel()
	t0 := monoNow()
	res, err := b.Reserve(ctx, quoteSize)
	d := uint64(monoNow() - t0)
	// Our own words: a load of them sees our last store.
	atomic.AddUint64(&rec.Waits, 1)
	atomic.AddUint64(&rec.WaitNs, d)
	if d > atomic.LoadUint64(&rec.MaxWaitNs) {
		atomic.StoreUint64(&rec.MaxWaitNs, d)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return res, fmt.Errorf("held for %v by a tethered subscriber that is not reading (ring.Stats: %+v)", maxHold, b.Stats())
	}
	return res, err
}

// reserved records a reservation that started at t0 if it ended after
// the board's Mark (the kill): MarkWaits counts those that had to wait,
// MarkMaxNs is the longest, Try and wait, which bounds how long the dead
// subscriber held the feed.
func reserved(bd *board, rec *procRecord, t0 int64, waited bool) {
	mark := atomic.LoadInt64(&bd.hdr.Mark)
	if mark == 0 {
		return
	}
	t1 := monoNow()
	if t1 < mark {
		return
	}
	if waited {
		atomic.AddUint64(&rec.MarkWaits, 1)
	}
	if d := uint64(t1 - t0); d > atomic.LoadUint64(&rec.MarkMaxNs) {
		atomic.StoreUint64(&rec.MarkMaxNs, d)
	}
}

// runStrategy reads every quote from its join on, checks that none is
// missing or torn, and sends an order into the MPMC ring when its rule
// says so.
func runStrategy(sp spec) error {
	a, _, rec, w, err := attach(sp)
	if err != nil {
		return err
	}
	defer a.Close()
	from := ring.Oldest
	if sp.Newest {
		from = ring.Newest
	}
	s, err := ring.Subscribe(a, quotesRing, ring.SubscribeOptions{From: from, Lossy: sp.Lossy}, ring.WithWaitStrategy(w))
	if err != nil {
		return err
	}
	defer s.Close() // leaves the ring: a tethered subscriber stops holding the feed at once
	orders, err := ring.OpenMPMC(a, ordersRing, ring.WithWaitStrategy(w))
	if err != nil {
		return err
	}
	defer orders.Close() // an MPMC Close only detaches: the stream goes on for the others
	// The cursor Subscribe set is the number of the first quote we will
	// read: the feed numbers its quotes by their position in the ring.
	next := s.Stats().Cursor
	atomic.StoreUint64(&rec.JoinedAt, next+1)
	rec.ready()

	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, sp.Deadline))
	defer cancel()
	rule := newRule(sp.Strategy)
	qbuf := make([]byte, quoteSize)
	obuf := make([]byte, orderSize)
	var q quote
	var read, laps, missed, id uint64
	lastPause := time.Now()
	for {
		if sp.Lossy && time.Since(lastPause) >= lossyEvery {
			pauseUntilLapped(s)
			lastPause = time.Now()
		}
		n, err := s.Pop(ctx, qbuf)
		if err == io.EOF {
			break
		}
		if lap, ok := errors.AsType[*ring.LappedError](err); ok {
			if !sp.Lossy {
				return fmt.Errorf("a tethered subscriber was lapped after quote %d: %w", int64(next)-1, err)
			}
			// The quotes we lost, exactly: the next one we read must be
			// the one after them.
			next += lap.Missed
			laps++
			missed += lap.Missed
			atomic.StoreUint64(&rec.Laps, laps)
			atomic.StoreUint64(&rec.Missed, missed)
			continue
		}
		if err != nil {
			return fmt.Errorf("after %d quotes: %w", read, err)
		}
		if err := q.decode(qbuf[:n]); err != nil {
			return err
		}
		if q.Seq != next {
			if read == 0 && laps == 0 {
				return fmt.Errorf("gap: the first quote is #%d, want #%d (the cursor at Subscribe)", q.Seq, next)
			}
			return fmt.Errorf("gap: quote #%d follows #%d (want #%d)", q.Seq, next-1, next)
		}
		if read == 0 {
			atomic.StoreUint64(&rec.First, q.Seq+1)
		}
		next++
		read++
		atomic.StoreUint64(&rec.Count, read)
		atomic.StoreUint64(&rec.Last, q.Seq+1)

		side, price, ok := rule.on(&q)
		if !ok {
			continue
		}
		ord := order{From: uint32(sp.Rec), Side: side, ID: id, QuoteSeq: q.Seq, Symbol: q.Symbol, Price: price, Qty: 100, QuoteNs: q.SentNs}
		ord.encode(obuf)
		atomic.StoreUint64(&rec.OrdAttempt, id+1)
		if !(sp.Inject == "order" && id == injectOrder) { // -inject order: one order is never sent
			if err := orders.Push(ctx, obuf); err != nil {
				return fmt.Errorf("order %d: %w", id, err)
			}
		}
		id++
		atomic.StoreUint64(&rec.OrdSent, id)
	}
	rec.done()
	return nil
}

// pauseUntilLapped stops reading until the feed has overwritten a quote
// this subscriber had not read (its lag is more than a ring), for at most
// lossyPause, or until the stream ends.
func pauseUntilLapped(s *ring.Subscriber) {
	deadline := time.Now().Add(lossyPause)
	for s.Lag() <= uint64(s.Slots()) && !s.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// rule is a strategy's toy trading rule: when an instrument's mid price
// has moved by thr ticks since its last order on it, even-numbered
// strategies follow the move (buy a rise at the ask) and odd-numbered
// ones fade it (sell a rise at the bid).
type rule struct {
	thr      int64
	momentum bool
	ref      map[[8]byte]int64
}

func newRule(k int) *rule {
	return &rule{thr: 40 + 10*int64(k), momentum: k%2 == 0, ref: map[[8]byte]int64{}}
}

func (g *rule) on(q *quote) (side uint32, price int64, ok bool) {
	mid := (q.Bid + q.Ask) / 2
	ref, seen := g.ref[q.Symbol]
	if !seen {
		g.ref[q.Symbol] = mid
		return 0, 0, false
	}
	d := mid - ref
	if -g.thr < d && d < g.thr {
		return 0, 0, false
	}
	g.ref[q.Symbol] = mid
	if (d > 0) == g.momentum {
		return buy, q.Ask, true
	}
	return sell, q.Bid, true
}

// runGateway takes the orders out of the MPMC ring until the
// orchestrator ends the stream, checking that every strategy's orders
// arrive whole, each once, none missing, in the order it sent them.
func runGateway(sp spec) error {
	a, bd, rec, w, err := attach(sp)
	if err != nil {
		return err
	}
	defer a.Close()
	orders, err := ring.OpenMPMC(a, ordersRing, ring.WithWaitStrategy(w))
	if err != nil {
		return err
	}
	defer orders.Close()
	rec.ready()

	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, sp.Deadline))
	defer cancel()
	next := make([]uint64, maxProcs) // per sender: the ID of its next order
	var lat []int64
	var ord order
	var count uint64
	buf := make([]byte, orderSize)
	for {
		n, err := orders.Pop(ctx, buf)
		now := monoNow()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ring.ErrPeerDead) {
			// Every strategy that has sent orders is dead (the killed one)
			// or gone: the orchestrator ends the stream once the live
			// ones have finished, or starts another. Wait on.
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return fmt.Errorf("after %d orders: %w", count, err)
		}
		if err := ord.decode(buf[:n]); err != nil {
			return err
		}
		if ord.From < firstStrat || ord.From >= maxProcs {
			return fmt.Errorf("order %d from board record %d, which is not a strategy's", ord.ID, ord.From)
		}
		if want := next[ord.From]; ord.ID != want {
			what := "lost"
			if ord.ID < want {
				what = "duplicated or out of order"
			}
			return fmt.Errorf("order %d from record %d, want order %d: orders %s", ord.ID, ord.From, want, what)
		}
		next[ord.From]++
		atomic.StoreUint64(&bd.proc(int(ord.From)).OrdRecv, next[ord.From])
		lat = append(lat, now-ord.QuoteNs)
		count++
		atomic.StoreUint64(&rec.Count, count)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p int) uint64 { return uint64(lat[min(len(lat)-1, len(lat)*p/100)]) }
		atomic.StoreUint64(&rec.LatP50, pct(50))
		atomic.StoreUint64(&rec.LatP99, pct(99))
		atomic.StoreUint64(&rec.LatMax, uint64(lat[len(lat)-1]))
	}
	rec.done()
	return nil
}
