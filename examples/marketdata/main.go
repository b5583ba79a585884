// Command marketdata runs the trading pattern across processes: a feed
// process publishes quotes into a broadcast ring, four strategy processes
// subscribe to it and read every quote, and the strategies send orders
// into an MPMC ring that an order-gateway process drains. Midway, one
// strategy is killed with SIGKILL and restarted, and the feed keeps
// going.
//
// Run it from the module root:
//
//	go run ./examples/marketdata                        # 3 s at 100000 quotes/s
//	go run ./examples/marketdata -duration 10s -rate 0  # as fast as the strategies read
//	go run ./examples/marketdata -lossy -1 -kill 0      # four tethered strategies; kill s0
//
// This process is the orchestrator. It creates an arena in /dev/shm (-dir
// puts it elsewhere) holding the two rings and a board (board.go) on
// which every process keeps its counters, starts the children by
// re-executing its own binary with a role (internal/xproc, this module's
// child harness: each child also exits by itself at a deadline, so none
// outlives a crashed run; a program of your own can use os/exec as
// examples/quotes does),
// prints each process's rate and each subscriber's lag every -report,
// kills and restarts the -kill strategy halfway through, checks the
// invariants below at the end, removes the arena and exits 0 (PASS) or 1
// (FAIL, with the reasons).
//
// The feed (roles.go) numbers its quotes 0, 1, 2, ... (a quote's number is
// also its position in the ring) and stamps each with CLOCK_MONOTONIC and
// a checksum; it paces itself at -rate quotes a second (0: as fast as the
// tethered strategies read) for -duration and then closes the ring, which
// ends the stream: each strategy reads what is left, gets io.EOF and
// exits. The orchestrator then ends the order stream (CloseWrite), and
// the gateway drains it and exits.
//
// Strategies s0, s1 and s2 are tethered: the feed never overwrites a quote
// they have not read (it waits instead), so each must see every quote
// from its join on, in order, whole. s3 is lossy (-lossy picks another,
// or -1 for none), to show the other contract: it stands for a strategy
// that does slow work now and then (here it stops reading for up to 200
// ms every 250 ms, until the feed has lapped it) and would rather skip to
// fresh quotes than hold the feed, and with it every other strategy,
// back. The broadcast ring tells it exactly what it lost: each lap is an
// error matching ring.ErrLapped whose *ring.LappedError says how many
// quotes were overwritten, and s3 checks that its next quote is the one
// after them, so even a lossy reader accounts for every quote.
//
// The kill. The orchestrator kills s1 with SIGKILL halfway through. Its
// subscriber entry stays, with its cursor, and it is tethered: once the
// feed is a ring ahead of that cursor, the producer finds the ring full,
// tests the liveness of the subscribers that hold it (a kernel-kept lock
// per handle, released when a process dies) and releases the dead one's
// tether (ring/broadcast.go: at once from a blocking call, at most every
// millisecond from a Try call). The orchestrator waits until the feed has
// passed the dead cursor by a full ring and prints the feed's longest
// reservation since the kill, which bounds how long the dead subscriber
// held it. Then it starts a new s1 (s1#2),
// which joins at ring.Newest: it reads from the next quote published on,
// and the quotes published while s1 was down are not its to read.
//
// The invariants, checked in the processes as they run and by the
// orchestrator at the end: no tethered subscriber misses a quote or is
// lapped, from its join to the end of the stream (or its death); a lossy
// one's gaps are exactly its laps' Missed counts; no quote or order is
// torn (checksums); the restarted strategy's first quote is its join
// cursor and was published after the kill; the feed is never held for
// long (2 s fails it); the gateway receives every strategy's orders,
// each once, in order, and exactly as many as each live strategy sent (the
// killed one may have had one order in flight: it counts either way); the
// ring counters agree; every child exits cleanly but the killed one.
// -inject gap, torn or order plants a fault to show that the checks catch
// it.
//
// The flags: -duration, -rate, -slots (broadcast ring capacity),
// -strategies, -lossy, -kill, -down (the least time the killed strategy
// stays down), -report (interval between rate lines), -wait
// spin|yield|block|adaptive (every ring handle), -name and -dir for the
// arena, -inject.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// The rings' region names in the arena.
const (
	quotesRing = "quotes"
	ordersRing = "orders"
)

// orderSlots is the MPMC ring's capacity: most of a second of every
// strategy's orders at the default rate, so that a strategy does not wait
// for a gateway that was descheduled for a while.
const orderSlots = 4096

// Timing of the orchestrator.
const (
	// readyTimeout bounds a child's start (under the race detector a
	// start takes a few hundred milliseconds).
	readyTimeout = 15 * time.Second
	// drainTimeout bounds each child's exit after the end of its stream.
	drainTimeout = 15 * time.Second
	// grace is added to -duration for every child's deadline.
	grace = 45 * time.Second
)

func main() {
	if status, ok := xproc.Dispatch(roles); ok { // re-executed as a child
		os.Exit(status)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	duration   time.Duration
	rate       int
	slots      int
	strategies int
	lossy      int
	kill       int
	down       time.Duration
	report     time.Duration
	wait       string
	name, dir  string
	inject     string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("marketdata", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long the feed publishes")
	fs.IntVar(&o.rate, "rate", 100_000, "quotes per second (0: as fast as the tethered strategies read)")
	fs.IntVar(&o.slots, "slots", 1024, "broadcast ring capacity in quotes (a power of two)")
	fs.IntVar(&o.strategies, "strategies", 4, "number of strategy processes")
	fs.IntVar(&o.lossy, "lossy", 3, "the strategy that subscribes lossy (-1: none)")
	fs.IntVar(&o.kill, "kill", 1, "the strategy killed with SIGKILL halfway and restarted (-1: none)")
	fs.DurationVar(&o.down, "down", 50*time.Millisecond, "the least time the killed strategy stays down")
	fs.DurationVar(&o.report, "report", 500*time.Millisecond, "interval between rate lines")
	fs.StringVar(&o.wait, "wait", "adaptive", "wait strategy of every ring handle: spin, yield, block or adaptive")
	fs.StringVar(&o.name, "name", fmt.Sprintf("shmring-marketdata-%d", os.Getpid()), "arena file name")
	fs.StringVar(&o.dir, "dir", "", "directory for the arena (default "+arena.ShmDir+")")
	fs.StringVar(&o.inject, "inject", "", "plant a fault to show that the checks catch it: gap, torn or order")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	maxStrategies := maxProcs - firstStrat - 1 // one record for the restart
	switch {
	case o.duration <= 0:
		return o, fmt.Errorf("-duration %v: must be positive", o.duration)
	case o.rate < 0:
		return o, fmt.Errorf("-rate %d: must be 0 or more", o.rate)
	case o.strategies < 1 || o.strategies > maxStrategies:
		return o, fmt.Errorf("-strategies %d: must be in [1,%d]", o.strategies, maxStrategies)
	case o.lossy < -1 || o.lossy >= o.strategies:
		return o, fmt.Errorf("-lossy %d: must be -1 or a strategy number below %d", o.lossy, o.strategies)
	case o.kill < -1 || o.kill >= o.strategies:
		return o, fmt.Errorf("-kill %d: must be -1 or a strategy number below %d", o.kill, o.strategies)
	case o.report <= 0:
		return o, fmt.Errorf("-report %v: must be positive", o.report)
	case o.inject != "" && o.inject != "gap" && o.inject != "torn" && o.inject != "order":
		return o, fmt.Errorf("-inject %q: want gap, torn or order", o.inject)
	}
	if _, err := ring.ParseWaitStrategy(o.wait); err != nil {
		return o, err
	}
	return o, nil
}

// run is the whole program: it parses args, runs the market and returns
// the exit status (0 PASS, 1 FAIL or an error, 2 bad flags).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "marketdata: %v\n", err)
		return 2
	}
	m, err := newMarket(o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "marketdata: %v\n", err)
		return 1
	}
	m.orchestrate(ctx)
	if ctx.Err() != nil {
		// xproc killed the children with it: their failures follow from it.
		m.fails = []string{fmt.Sprintf("interrupted: %v", context.Cause(ctx))}
	}
	m.teardown()
	if len(m.fails) > 0 {
		fmt.Fprintf(stdout, "marketdata: FAIL (%d)\n", len(m.fails))
		for _, f := range m.fails {
			fmt.Fprintf(stdout, "  - %s\n", strings.ReplaceAll(strings.TrimSpace(f), "\n", "\n    "))
		}
		return 1
	}
	fmt.Fprintln(stdout, "marketdata: PASS")
	return 0
}

// market is the orchestrator's state.
type market struct {
	o      options
	out    io.Writer
	a      *arena.Arena
	quotes *ring.Broadcast // for Subscribers and Stats: this handle never publishes
	orders *ring.MPMC      // for Stats and CloseWrite
	bd     *board

	deadline time.Time // every child's, and every wait's
	procs    []*proc   // every process started, by record
	feed     *proc
	gateway  *proc
	current  []*proc // each strategy's latest incarnation
	nextRec  int     // the board record of the next strategy process
	t0       int64   // CLOCK_MONOTONIC when the feed started
	lastRow  int64
	killed   *kill // the kill and restart, once made
	fails    []string
}

// proc is one child process.
type proc struct {
	name   string // "feed", "gateway", "s0", "s1#2"
	role   string
	rec    int  // its board record
	strat  int  // strategy number
	lossy  bool // strategy: subscribed lossy
	newest bool // strategy: joined at ring.Newest
	child  *xproc.Child
	killed bool
	last   uint64 // its Count at the last row
}

// kill is what the kill and restart found.
type kill struct {
	at        int64  // CLOCK_MONOTONIC of the SIGKILL
	published uint64 // quotes the feed had published then
	restarted *proc  // the successor, once attached
}

func (m *market) fail(format string, args ...any) {
	m.fails = append(m.fails, fmt.Sprintf(format, args...))
}

func (m *market) printf(format string, args ...any) { fmt.Fprintf(m.out, format, args...) }

// newMarket creates the arena, the two rings and the board.
func newMarket(o options, out io.Writer) (*market, error) {
	path := o.name
	if o.dir != "" {
		path = filepath.Join(o.dir, o.name)
	}
	// One entry per strategy process at once, and one for the restart
	// (a new subscriber takes a free entry before a dead one's).
	qcfg := ring.Config{Slots: o.slots, SlotSize: quoteSize, Subscribers: o.strategies + 1}
	ocfg := ring.Config{Slots: orderSlots, SlotSize: orderSize}
	qsize, err := ring.Size(ring.KindBroadcast, qcfg, 4096) // the largest padding unit: an upper bound
	if err != nil {
		return nil, err
	}
	osize, err := ring.Size(ring.KindMPMC, ocfg, 4096)
	if err != nil {
		return nil, err
	}
	a, err := arena.Create(path, qsize+osize+boardSize+1<<20) // plus header, directory, alignment
	if err != nil {
		return nil, err
	}
	m := &market{o: o, out: out, a: a}
	if m.quotes, err = ring.CreateBroadcast(a, quotesRing, qcfg); err == nil {
		if m.orders, err = ring.CreateMPMC(a, ordersRing, ocfg); err == nil {
			m.bd, err = newBoard(a)
		}
	}
	if err != nil {
		m.teardown()
		return nil, err
	}
	return m, nil
}

// teardown kills every child still running, releases the rings and
// removes the arena, whatever state the run is in.
func (m *market) teardown() {
	for _, p := range m.procs {
		p.child.Kill() // returns at once for a child that has exited
	}
	if m.quotes != nil {
		m.quotes.Detach()
	}
	if m.orders != nil {
		m.orders.Close()
	}
	path := m.a.Path()
	m.a.Close()
	if err := arena.Remove(path, arena.WithForce()); err != nil {
		m.fail("remove the arena: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		m.fail("the arena %s is still there after Remove (%v)", path, err)
	} else if len(m.procs) > 0 {
		m.printf("marketdata: all %d processes have exited; arena %s removed\n", len(m.procs), path)
	}
}

// orchestrate runs the market: children, rate lines, the kill and
// restart, the end of both streams, the checks. Failures go to m.fails;
// one that a child reports ends the run at once.
func (m *market) orchestrate(ctx context.Context) {
	o := m.o
	m.deadline = time.Now().Add(o.duration + grace)
	m.printf("marketdata: arena %s: quotes (broadcast, %d slots of %d B), orders (MPMC, %d slots of %d B), board\n",
		m.a.Path(), o.slots, quoteSize, orderSlots, orderSize)

	m.gateway = &proc{name: "gateway", role: roleGateway, rec: gatewayRec}
	if !m.start(ctx, m.gateway) {
		return
	}
	m.nextRec = firstStrat
	for k := 0; k < o.strategies; k++ {
		p := &proc{name: fmt.Sprintf("s%d", k), role: roleStrategy, strat: k, lossy: k == o.lossy}
		m.current = append(m.current, p)
		if !m.start(ctx, p) {
			return
		}
	}
	// Every strategy subscribes before the first quote, so that each
	// reads them all from #0.
	if !m.waitReady(ctx, m.procs...) {
		return
	}
	m.feed = &proc{name: "feed", role: roleFeed, rec: feedRec}
	if !m.start(ctx, m.feed) || !m.waitReady(ctx, m.feed) {
		return
	}
	m.t0 = atomic.LoadInt64(&m.bd.proc(feedRec).Ready)
	m.lastRow = m.t0
	var pids []string
	for _, p := range m.procs {
		kind := ""
		if p.role == roleStrategy {
			kind = " tethered"
			if p.lossy {
				kind = " lossy"
			}
		}
		pids = append(pids, fmt.Sprintf("%s%s %d", p.name, kind, p.child.Pid()))
	}
	m.printf("marketdata: pids: %s\n", strings.Join(pids, ", "))
	rate := "as fast as the tethered strategies read"
	if o.rate > 0 {
		rate = fmt.Sprintf("at %d quotes/s", o.rate)
	}
	m.printf("marketdata: feed publishing for %v, %s\n", o.duration, rate)
	m.header()

	var killC <-chan time.Time
	if o.kill >= 0 {
		t := time.NewTimer(o.duration / 2)
		defer t.Stop()
		killC = t.C
	}
	tick := time.NewTicker(o.report)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			m.fail("interrupted: %v", context.Cause(ctx))
			return
		case <-m.feed.child.Done():
			running = false
		case <-tick.C:
			m.row()
		case <-killC:
			m.killAndRestart(ctx, m.current[o.kill])
		}
		if m.childFailed() {
			return
		}
	}
	m.row()

	// The feed has ended the stream: each strategy reads what is left and
	// exits. Then the order stream ends, and the gateway drains it.
	var strategies []*proc
	for _, p := range m.procs {
		if p.role == roleStrategy && !p.killed {
			strategies = append(strategies, p)
		}
	}
	if !m.waitExit(append(strategies, m.feed)...) {
		return
	}
	if err := m.orders.CloseWrite(); err != nil {
		m.fail("orders: CloseWrite: %v", err)
		return
	}
	if !m.waitExit(m.gateway) {
		return
	}
	m.summary()
}

// start starts p's process. A strategy gets the next board record.
func (m *market) start(ctx context.Context, p *proc) bool {
	if p.role == roleStrategy {
		if m.nextRec >= maxProcs {
			m.fail("no board record left for %s", p.name)
			return false
		}
		p.rec = m.nextRec
		m.nextRec++
	}
	sp := spec{
		Arena: m.a.Path(), Rec: p.rec, Strategy: p.strat, Lossy: p.lossy, Newest: p.newest,
		Duration: m.o.duration, Rate: m.o.rate, Wait: m.o.wait, Deadline: m.deadline.UnixNano(), Inject: m.o.inject,
	}
	args, err := xproc.SpecArgs(sp)
	if err == nil {
		p.child, err = xproc.Start(ctx, xproc.Options{Role: p.role, Args: args, Deadline: m.deadline.Add(time.Second)})
	}
	if err != nil {
		m.fail("start %s: %v", p.name, err)
		return false
	}
	m.procs = append(m.procs, p)
	return true
}

// waitReady waits until each of ps has attached to its rings.
func (m *market) waitReady(ctx context.Context, ps ...*proc) bool {
	deadline := time.Now().Add(readyTimeout)
	for _, p := range ps {
		for atomic.LoadInt64(&m.bd.proc(p.rec).Ready) == 0 {
			switch {
			case p.child.Exited():
				m.failed(p)
				return false
			case ctx.Err() != nil:
				m.fail("interrupted: %v", context.Cause(ctx))
				return false
			case time.Now().After(deadline):
				m.fail("%s did not attach within %v", p.name, readyTimeout)
				return false
			}
			time.Sleep(time.Millisecond)
		}
	}
	return true
}

// waitExit waits until each of ps has exited, and fails the run for each
// that did not exit cleanly.
func (m *market) waitExit(ps ...*proc) bool {
	deadline := time.Now().Add(drainTimeout)
	ok := true
	for _, p := range ps {
		if err := p.child.WaitUntil(deadline); err != nil {
			m.failed(p)
			ok = false
		}
	}
	return ok
}

// childFailed reports (and records) a child that has failed by itself.
func (m *market) childFailed() bool {
	bad := false
	for _, p := range m.procs {
		if !p.killed && p.child.Err() != nil {
			m.failed(p)
			bad = true
		}
	}
	return bad
}

// failed records the failure of p's process, which has exited.
func (m *market) failed(p *proc) {
	msg := strings.TrimSpace(p.child.Stderr())
	if msg == "" {
		msg = fmt.Sprint(p.child.Err())
	}
	m.fail("%s (pid %d) failed: %s", p.name, p.child.Pid(), msg)
}

// killAndRestart kills victim with SIGKILL, waits for the feed to get
// past it, and starts its successor, which joins at ring.Newest.
func (m *market) killAndRestart(ctx context.Context, victim *proc) {
	if victim.child.Exited() {
		m.failed(victim)
		return
	}
	rec := m.bd.proc(victim.rec)
	feed := m.bd.proc(feedRec)
	pid := victim.child.Pid()
	// The mark first: the feed's waits that end after it are the ones the
	// dead subscriber may have caused.
	k := &kill{at: monoNow()}
	atomic.StoreInt64(&m.bd.hdr.Mark, k.at)
	k.published = atomic.LoadUint64(&feed.Count)
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		m.fail("kill %s: %v", victim.name, err)
		return
	}
	<-victim.child.Done()
	victim.killed = true
	m.killed = k

	// Its subscriber entry outlives it: same cursor, and no longer alive
	// by its lock.
	var entry *ring.SubscriberStats
	for _, st := range m.quotes.Subscribers() {
		if st.PID == pid {
			entry = &st
		}
	}
	if entry == nil {
		m.fail("%s (pid %d): no subscriber entry after the kill", victim.name, pid)
		return
	}
	if entry.Alive {
		m.fail("%s (pid %d): its subscriber entry is still alive after SIGKILL", victim.name, pid)
	}
	kind := "tethered"
	if victim.lossy {
		kind = "lossy"
	}
	m.event("kill: %s (pid %d) with SIGKILL after its quote #%d; its %s entry is left, cursor #%d",
		victim.name, pid, int64(atomic.LoadUint64(&rec.Last))-1, kind, entry.Cursor)

	// Quote #cursor+slots overwrites the dead subscriber's next quote: the
	// feed can publish it only once the dead tether is released (at once
	// for a lossy subscriber, which never held it).
	target := entry.Cursor + uint64(m.o.slots) + 1
	limit := time.Now().Add(maxHold + time.Second)
	for atomic.LoadUint64(&feed.Count) < target {
		if m.feed.child.Exited() {
			m.event("feed: exited before it came a ring past the dead %s", victim.name)
			break
		}
		if time.Now().After(limit) {
			m.fail("the feed is held: at quote #%d %v after the kill, still short of a ring past the dead %s's cursor #%d",
				atomic.LoadUint64(&feed.Count), maxHold+time.Second, victim.name, entry.Cursor)
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	if n := atomic.LoadUint64(&feed.Count); n >= target {
		passed := time.Duration(monoNow() - k.at)
		m.event("feed: a ring past the dead %s's cursor %v after the kill, at #%d: %s",
			victim.name, passed.Round(10*time.Microsecond), n-1, m.heldSinceKill(victim))
	}

	// The restart, at ring.Newest.
	if d := time.Duration(k.at + int64(m.o.down) - monoNow()); d > 0 {
		time.Sleep(d)
	}
	inc := 2
	for _, p := range m.procs {
		if p.role == roleStrategy && p.strat == victim.strat && p != victim {
			inc++
		}
	}
	np := &proc{name: fmt.Sprintf("s%d#%d", victim.strat, inc), role: roleStrategy, strat: victim.strat, lossy: victim.lossy, newest: true}
	if !m.start(ctx, np) || !m.waitReady(ctx, np) {
		return
	}
	m.current[victim.strat] = np
	k.restarted = np
	joined := atomic.LoadUint64(&m.bd.proc(np.rec).JoinedAt) - 1
	m.event("restart: %s (pid %d) joined at Newest %v after the kill: its first quote will be #%d; the feed was at #%d at the kill, and the %d quotes between are not its",
		np.name, np.child.Pid(), time.Duration(monoNow()-k.at).Round(time.Millisecond), joined, int64(k.published)-1, int64(joined)-int64(k.published))
}

// heldSinceKill says how long the dead subscriber held the feed: the
// feed's longest reservation since the kill bounds it.
func (m *market) heldSinceKill(victim *proc) string {
	feed := m.bd.proc(feedRec)
	longest := time.Duration(atomic.LoadUint64(&feed.MarkMaxNs)).Round(time.Microsecond)
	waits := atomic.LoadUint64(&feed.MarkWaits)
	switch {
	case victim.lossy:
		return fmt.Sprintf("a lossy subscriber never holds the feed (its longest reserve since the kill: %v)", longest)
	case waits > 0:
		return fmt.Sprintf("held at most %v (the feed's longest reserve since the kill; %d had to wait)", longest, waits)
	}
	// No reserve waited, so the one that came a ring past the dead cursor
	// released the dead tether within its TryReserve.
	return fmt.Sprintf("held at most %v (the feed's longest reserve since the kill; none had to wait: the TryReserve that found the ring full released the dead tether)", longest)
}

// event prints a line at the current time of the run.
func (m *market) event(format string, args ...any) {
	m.printf("%7.3fs  %s\n", float64(monoNow()-m.t0)/1e9, fmt.Sprintf(format, args...))
}

// header prints the column titles of the rate lines.
func (m *market) header() {
	var b strings.Builder
	fmt.Fprintf(&b, "%8s  %9s", "time", "feed q/s")
	for k := range m.current {
		name := fmt.Sprintf("s%d", k)
		if k == m.o.lossy {
			name += "~"
		}
		fmt.Fprintf(&b, "  %9s %6s", name+" q/s", "lag")
	}
	fmt.Fprintf(&b, "  %9s %7s", "gw ord/s", "orders")
	m.printf("rates per process; lag: quotes published that the subscriber has not read; ~: lossy\n%s\n", b.String())
}

// row prints each process's rate since the last row and each
// subscriber's lag (quotes published that it has not read).
func (m *market) row() {
	now := monoNow()
	dt := float64(now-m.lastRow) / 1e9
	if dt < m.o.report.Seconds()/4 {
		return // too short to say much (the tick just before the end)
	}
	m.lastRow = now
	lag := map[int]uint64{}
	for _, st := range m.quotes.Subscribers() {
		lag[st.PID] = st.Lag
	}
	rate := func(p *proc) string {
		n := atomic.LoadUint64(&m.bd.proc(p.rec).Count)
		r := float64(n-p.last) / dt
		p.last = n
		return human(r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%7.3fs  %9s", float64(now-m.t0)/1e9, rate(m.feed))
	for _, p := range m.current {
		if p.killed {
			fmt.Fprintf(&b, "  %9s %6s", "dead", "-")
			continue
		}
		fmt.Fprintf(&b, "  %9s %6d", rate(p), lag[p.child.Pid()])
	}
	fmt.Fprintf(&b, "  %9s %7d", rate(m.gateway), m.gateway.last)
	m.printf("%s\n", b.String())
}

// human formats a rate.
func human(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// summary prints what each process did and checks the invariants on
// the board and the ring counters, once every child has exited: the
// records no longer change, and are read without atomics.
func (m *market) summary() {
	feed := m.bd.proc(feedRec)
	published := feed.Count
	el := time.Duration(feed.Done - feed.Ready)
	m.printf("summary: the feed published %d quotes in %v (%s/s)\n", published, el.Round(time.Millisecond), human(float64(published)/el.Seconds()))
	if st := m.quotes.Stats(); st.MsgsIn != published {
		m.fail("quotes ring: MsgsIn %d, but the feed published %d", st.MsgsIn, published)
	}
	waits := "never waited for room"
	if feed.Waits > 0 {
		waits = fmt.Sprintf("waited for room %d times, %v in all, longest %v", feed.Waits,
			time.Duration(feed.WaitNs).Round(time.Microsecond), time.Duration(feed.MaxWaitNs).Round(time.Microsecond))
	}
	m.printf("  %-8s pid %-7d %d quotes; %s\n", "feed", m.feed.child.Pid(), published, waits)

	var sent, received uint64
	for k := range m.current {
		for _, p := range m.procs {
			if p.role == roleStrategy && p.strat == k {
				s, r := m.checkStrategy(p, published)
				sent += s
				received += r
			}
		}
	}

	gw := m.bd.proc(gatewayRec)
	m.printf("  %-8s pid %-7d %d orders from %d strategy processes, each strategy's in order, none twice; tick-to-gateway p50 %v p99 %v max %v\n",
		"gateway", m.gateway.child.Pid(), gw.Count, len(m.procs)-2,
		time.Duration(gw.LatP50).Round(time.Microsecond), time.Duration(gw.LatP99).Round(time.Microsecond), time.Duration(gw.LatMax).Round(time.Microsecond))
	if gw.Count != received {
		m.fail("gateway: %d orders, but the strategies' records say %d received", gw.Count, received)
	}
	ost := m.orders.Stats()
	m.printf("  %-8s %d sent by the strategies, %d received; the ring: %d pushed, %d popped, %d skipped (claims a killed process left), %d redelivered\n",
		"orders", sent, received, ost.MsgsIn, ost.MsgsOut, ost.Skipped, ost.Redelivered)
	if ost.MsgsOut != ost.MsgsIn || ost.MsgsIn != gw.Count+ost.Skipped || ost.Redelivered != 0 {
		m.fail("orders ring: pushed %d, popped %d, skipped %d, redelivered %d; the gateway received %d", ost.MsgsIn, ost.MsgsOut, ost.Skipped, ost.Redelivered, gw.Count)
	}
	// Only a killed strategy can leave a claim behind, and only one.
	if killed := btoi(m.killed != nil); ost.Skipped > uint64(killed) {
		m.fail("orders ring: %d skipped claims, with %d processes killed", ost.Skipped, killed)
	}
	if m.killed != nil && m.killed.restarted != nil {
		j := m.bd.proc(m.killed.restarted.rec).JoinedAt - 1
		if j < m.killed.published {
			m.fail("%s joined at Newest at #%d, before the feed's position at the kill (#%d)", m.killed.restarted.name, j, m.killed.published)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkStrategy prints strategy p's line and checks its quotes and
// orders; it returns the orders it sent and the orders the gateway got
// from it.
func (m *market) checkStrategy(p *proc, published uint64) (sent, received uint64) {
	r := m.bd.proc(p.rec)
	if r.JoinedAt == 0 {
		m.fail("%s never joined", p.name)
		return 0, 0
	}
	join := r.JoinedAt - 1
	from := "from #0"
	if p.newest {
		from = fmt.Sprintf("joined at Newest at #%d", join)
	}
	kind := "tethered"
	if p.lossy {
		kind = "lossy"
	}
	// The quotes it should have seen: from its join to the end of the
	// stream, or to its last one read if it was killed.
	end := published
	if p.killed {
		end = max(r.Last, join)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s pid %-7d %s, %s: ", p.name, p.child.Pid(), kind, from)
	if p.killed {
		fmt.Fprintf(&b, "killed after #%d; ", int64(r.Last)-1)
	}
	if r.Count > 0 {
		fmt.Fprintf(&b, "read %d quotes #%d..#%d", r.Count, r.First-1, r.Last-1)
	} else {
		b.WriteString("read no quote")
	}
	if p.lossy {
		fmt.Fprintf(&b, ", lost %d in %d laps, each accounted for by its LappedError", r.Missed, r.Laps)
	} else {
		b.WriteString(", none missing or torn")
	}
	switch {
	case end < join:
		m.fail("%s: joined at #%d, after the end #%d", p.name, join, end)
	case r.Count+r.Missed != end-join:
		m.fail("%s: read %d and lost %d quotes, want %d (#%d..#%d)", p.name, r.Count, r.Missed, end-join, join, int64(end)-1)
	case !p.lossy && r.Laps != 0:
		m.fail("%s: tethered, but lapped %d times", p.name, r.Laps)
	case r.Count > 0 && (r.Last != end || !p.lossy && r.First != join+1):
		m.fail("%s: read #%d..#%d, want #%d..#%d", p.name, r.First-1, r.Last-1, join, int64(end)-1)
	}

	sent, received = r.OrdSent, r.OrdRecv
	fmt.Fprintf(&b, "; %d orders sent", sent)
	if p.killed {
		// Killed between an order's Push and its OrdSent store, the order
		// reached the gateway; killed inside the Push, it may have or not.
		fmt.Fprintf(&b, ", %d received (%d in flight at the kill)", received, r.OrdAttempt-sent)
		if received < sent || received > r.OrdAttempt {
			m.fail("%s: %d orders sent and %d attempted, but the gateway received %d", p.name, sent, r.OrdAttempt, received)
		}
	} else {
		fmt.Fprintf(&b, ", %d received", received)
		if received != sent || r.OrdAttempt != sent {
			m.fail("%s: %d orders attempted, %d sent, %d received", p.name, r.OrdAttempt, sent, received)
		}
	}
	m.printf("  %s\n", b.String())
	return sent, received
}
