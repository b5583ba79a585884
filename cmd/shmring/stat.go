package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/bridge"
	"github.com/shmring/shmring/ring"
)

// shmring stat: each ring's counters, rates, peers and subscribers, once
// or every interval (--watch). Sampling is here; stat_render.go draws a
// sample as text.
//
// Everything is read through an arena opened read-only (openReadOnly) and
// ring.View, which claims no peer entry and stores nothing: stat cannot
// disturb what it watches. What it reads was written by peers that may be
// dead or hostile, so it is shown as found; a fault reading the mapping (a
// file truncated under it between two checks) is turned into an error
// (sample), never a crash.

const statDescription = `Stat shows, for every ring of ARENA (or the RINGs named), its kind and geometry,
its depth, messages and bytes in and out with their rates per second, full and
empty events, futex sleeps and wakes, registered waiters, messages lost,
skipped, redelivered and lapped, and its peer and subscriber tables.

Rates need two samples: stat takes them --sample apart (0: no rates). With
--watch it samples every interval (1s for --watch alone, or --watch=500ms) and
rates are over the interval; on a terminal it redraws in place, like top, until
interrupted; otherwise it prints one block per interval, each starting with an
RFC 3339 timestamp line. --json prints one JSON object per sample (with --watch,
one per line). Exit status 1 if the arena or a ring cannot be read, or the arena
disappears while watching.`

// Limits of the command line.
const (
	defaultWatch  = time.Second
	minWatch      = 10 * time.Millisecond // below it stat would be a busy loop
	defaultSample = 250 * time.Millisecond
)

// watchFlag is --watch with an optional interval: a boolean flag to the
// flag package (IsBoolFlag), so "--watch" alone is 1s, while "--watch=500ms"
// sets the interval.
type watchFlag struct {
	on       bool
	interval time.Duration
}

func (w *watchFlag) IsBoolFlag() bool { return true }

func (w *watchFlag) String() string {
	if w == nil || !w.on {
		return ""
	}
	return w.interval.String()
}

func (w *watchFlag) Set(s string) error {
	switch s {
	case "true":
		w.on, w.interval = true, defaultWatch
		return nil
	case "false":
		w.on = false
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want an interval such as 1s or 500ms")
	}
	if d < minWatch {
		return fmt.Errorf("interval %v is below %v", d, minWatch)
	}
	w.on, w.interval = true, d
	return nil
}

type statOptions struct {
	watch  watchFlag
	json   bool
	count  int
	sample time.Duration
}

func runStat(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("stat", "ARENA [RING...] [--watch[=1s]] [--json] [--count N] [--sample D]", statDescription, stderr)
	var o statOptions
	fs.Var(&o.watch, "watch", "sample every `interval` (1s when given alone) and redraw (terminal) or print one block each")
	fs.BoolVar(&o.json, "json", false, "print JSON: one object per sample (one per line with --watch)")
	fs.IntVar(&o.count, "count", 0, "with --watch, stop after `N` blocks (0: until interrupted)")
	fs.DurationVar(&o.sample, "sample", defaultSample, "time between the two samples rates are taken over (0: no rates); with --watch, before the first block")
	// --watch 500ms as well as --watch=500ms.
	args = joinValue(args, "watch", func(v string) bool { d, err := time.ParseDuration(v); return err == nil && d > 0 })
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageError(fs, "missing ARENA")
	case o.count < 0:
		return usageError(fs, "--count %d: want a count >= 0", o.count)
	case o.count > 0 && !o.watch.on:
		return usageError(fs, "--count needs --watch")
	case o.sample < 0:
		return usageError(fs, "--sample %v: want a duration >= 0", o.sample)
	}
	a, err := openReadOnly(pos[0])
	if err != nil {
		return err // arena errors name the file
	}
	defer a.Close()
	m, err := newStatMonitor(a, pos[1:])
	if err != nil {
		return err
	}
	defer m.close()
	first, err := m.sample() // unknown rings, a broken directory: before any wait
	if err != nil {
		if errors.Is(err, errNoSuchRing) {
			err = hintWatchValue(err, pos[1:])
		}
		return err
	}
	if o.watch.on {
		return m.watch(stdout, first, o)
	}
	return m.once(stdout, first, o)
}

// hintWatchValue adds a hint to an unknown ring that reads as an interval
// ("stat ARENA 500ms": the interval without --watch).
func hintWatchValue(err error, names []string) error {
	for _, n := range names {
		if _, perr := time.ParseDuration(n); perr == nil {
			return fmt.Errorf("%w (for an interval write --watch=%s)", err, n)
		}
	}
	return err
}

// Errors of stat.
var (
	errNoSuchRing   = errors.New("no such ring")
	errNotRing      = errors.New("region is not a ring")
	errArenaGone    = errors.New("arena disappeared")
	errArenaBroken  = errors.New("arena broke")
	errRingProblems = errors.New("some rings could not be read")
)

// statMonitor samples one arena's rings.
type statMonitor struct {
	a     *arena.Arena
	path  string
	file  os.FileInfo // the file opened, to notice it removed or replaced
	names []string    // the rings asked for; none: every ring
	views map[string]*ring.View
}

func newStatMonitor(a *arena.Arena, names []string) (*statMonitor, error) {
	fi, err := os.Stat(a.Path())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errArenaGone, a.Path(), err)
	}
	return &statMonitor{a: a, path: a.Path(), file: fi, names: names, views: map[string]*ring.View{}}, nil
}

func (m *statMonitor) close() {
	for _, v := range m.views {
		v.Close()
	}
}

// sample reads every ring once. An arena that can no longer be read (its
// file removed, replaced or truncated, its directory corrupt) is an error;
// a ring that cannot be read is reported in its ringReport.Error.
func (m *statMonitor) sample() (rep *statReport, err error) {
	// A file truncated under the mapping between CheckSize (in Regions) and
	// a read faults: turn the fault into an error (this goroutine only).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			rep, err = nil, fmt.Errorf("%w: %s: memory fault at %#x reading the mapping (file truncated?)", errArenaBroken, m.path, f.Addr())
		}
	}()
	fi, err := os.Stat(m.path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v", errArenaGone, m.path, err)
	case !os.SameFile(fi, m.file):
		return nil, fmt.Errorf("%w: %s was replaced by another file", errArenaGone, m.path)
	}
	regs, err := m.a.Regions() // validates the directory, and CheckSize
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errArenaBroken, m.path, err)
	}
	var chosen []*arena.Region
	if len(m.names) == 0 {
		for _, r := range regs {
			if isRingKind(r.Kind()) {
				chosen = append(chosen, r)
			}
		}
	} else {
		byName := map[string]*arena.Region{}
		for _, r := range regs {
			byName[r.Name()] = r
		}
		for _, n := range m.names {
			r, ok := byName[n]
			switch {
			case !ok:
				return nil, fmt.Errorf("%w %q in %s", errNoSuchRing, n, m.path)
			case !isRingKind(r.Kind()):
				return nil, fmt.Errorf("%q in %s: %w (kind %#x)", n, m.path, errNotRing, uint32(r.Kind()))
			}
			chosen = append(chosen, r)
		}
	}
	rep = &statReport{
		Arena: m.path,
		Time:  time.Now(),
		Size:  m.a.Size(),
		Rings: make([]ringReport, 0, len(chosen)),
	}
	rep.at = rep.Time
	rep.Time = rep.Time.Round(0) // no monotonic reading in the JSON
	for _, r := range chosen {
		rep.Rings = append(rep.Rings, m.sampleRing(r, rep.at))
	}
	if len(m.names) == 0 {
		for _, r := range regs {
			if r.Kind() == bridge.KindState {
				rep.Bridges = append(rep.Bridges, sampleBridge(r))
			}
		}
	}
	return rep, nil
}

// isRingKind reports whether a region kind is one of the ring kinds
// (ring.KindName knows them all, record rings included).
func isRingKind(k arena.Kind) bool {
	_, ok := ring.KindName(k)
	return ok
}

// sampleRing reads one ring through its View (opened at the first sample
// and kept).
func (m *statMonitor) sampleRing(r *arena.Region, now time.Time) ringReport {
	out := ringReport{Name: r.Name(), Offset: r.Offset(), Kind: kindName(r.Kind())}
	v := m.views[r.Name()]
	if v != nil && v.Offset() != r.Offset() { // cannot happen in one arena; be sure
		v.Close()
		v = nil
	}
	if v == nil {
		var err error
		if v, err = ring.OpenView(m.a, r.Name()); err != nil {
			out.Error = err.Error()
			return out
		}
		m.views[r.Name()] = v
	}
	cfg, st := v.Config(), v.Stats()
	out.Kind = v.KindName()
	out.Slots, out.SlotSize = cfg.Slots, cfg.SlotSize
	out.PeerEntries, out.SubscriberEntries = cfg.Peers, cfg.Subscribers
	out.Depth, out.Closed = st.Len, st.Closed
	out.MessagesIn, out.MessagesOut = st.MsgsIn, st.MsgsOut
	out.BytesIn, out.BytesOut = st.BytesIn, st.BytesOut
	out.FullEvents, out.EmptyEvents = st.FullEvents, st.EmptyEvents
	out.Sleeps, out.Wakes = st.Sleeps, st.Wakes
	out.NotEmptyWaiters, out.NotFullWaiters = st.NotEmptyWaiters, st.NotFullWaiters
	out.LivePeers, out.DeadPeers = st.Peers, st.DeadPeers
	// Registered waiters beyond what live entries say they have asleep
	// are registrations leaked by handles killed asleep (ring.Stats).
	out.WaiterLeak = waiterLeak(v, st)
	switch v.Kind() {
	case ring.KindMPMC:
		out.Lost, out.Redelivered = st.Skipped, st.Redelivered
	case ring.KindBroadcast:
		out.Skipped = st.Skipped
	case ring.KindRecords:
		// Skip records: reservations of gone handles passed over.
		out.Skipped = st.Skipped
		u := v.RecordUsage()
		out.Records = &recordsReport{
			Capacity: u.Capacity, Used: u.Used, Mirrored: u.Mirrored, MaxRecord: u.MaxRecord,
			Committed: u.Messages, Busy: u.Busy, Skip: u.Skip, Padding: u.Padding,
			Largest: u.Largest, Complete: u.Complete,
		}
	}
	out.Peers = make([]peerReport, 0)
	for _, p := range v.Peers() {
		pr := peerReport{
			Index: p.Index, PID: p.PID, Roles: p.Roles.String(), Alive: p.Alive,
			MsgsIn: p.MsgsIn, MsgsOut: p.MsgsOut, BytesIn: p.BytesIn, BytesOut: p.BytesOut,
		}
		pr.Attached, pr.LastActive = recorded(p.Attached), recorded(p.LastActive)
		out.Peers = append(out.Peers, pr)
	}
	out.Subscribers = make([]subscriberReport, 0)
	for _, s := range v.Subscribers() {
		out.Subscribers = append(out.Subscribers, subscriberReport{
			Index: s.Index, PID: s.PID, Alive: s.Alive, Lossy: s.Lossy,
			Cursor: s.Cursor, Lag: s.Lag, Delivered: s.Delivered, Bytes: s.Bytes,
			Lapped: s.Lapped, Missed: s.Missed,
		})
		out.Lapped += s.Lapped
		out.Missed += s.Missed
	}
	return out
}

// recorded is a peer entry's timestamp, nil if none was recorded (the
// library gives time.Unix(0, 0) for a zero word).
func recorded(t time.Time) *time.Time {
	if t.IsZero() || t.UnixNano() <= 0 {
		return nil
	}
	t = t.Round(0)
	return &t
}

// kindName names a region kind: a ring kind's name (ring.KindName),
// "raw", or the number.
func kindName(k arena.Kind) string {
	if n, ok := ring.KindName(k); ok {
		return n
	}
	if k == arena.KindRaw {
		return "raw"
	}
	return fmt.Sprintf("%#x", uint32(k))
}

// once takes a second sample --sample after the first (none if 0) and
// prints it with the rates between them.
func (m *statMonitor) once(stdout io.Writer, first *statReport, o statOptions) error {
	rep := first
	if o.sample > 0 {
		time.Sleep(o.sample)
		var err error
		if rep, err = m.sample(); err != nil {
			return err
		}
		rep.rates(first)
	}
	if o.json {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		var b bytes.Buffer
		renderStat(&b, rep)
		if _, err := stdout.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return rep.status()
}

// Terminal control sequences (ECMA-48) for --watch on a terminal.
const (
	termHome       = "\x1b[H"
	termClear      = "\x1b[2J"
	termHideCursor = "\x1b[?25l"
	termShowCursor = "\x1b[?25h"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// watch samples every interval until interrupted (SIGINT, SIGTERM: exit
// 0), --count blocks, or an error. The first block comes --sample after
// the start (at once without rates if 0).
func (m *statMonitor) watch(stdout io.Writer, prev *statReport, o statOptions) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)

	tty := !o.json && isTerminal(stdout)
	if tty {
		io.WriteString(stdout, termHideCursor)
		defer io.WriteString(stdout, termShowCursor)
	}
	first := min(o.sample, o.watch.interval) // before the first block
	for n := 0; o.count == 0 || n < o.count; n++ {
		wait := o.watch.interval
		if n == 0 {
			wait = first
		}
		cur := prev
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-sig:
				t.Stop()
				return nil
			case <-t.C:
			}
			var err error
			if cur, err = m.sample(); err != nil {
				return fmt.Errorf("while watching: %w", err)
			}
			cur.rates(prev)
		}
		if err := m.draw(stdout, cur, o, tty); err != nil {
			return err
		}
		prev = cur
	}
	return nil
}

// draw writes one block: a JSON line, a timestamped text block, or a
// whole terminal screen in one write.
func (m *statMonitor) draw(stdout io.Writer, rep *statReport, o statOptions, tty bool) error {
	switch {
	case o.json:
		return json.NewEncoder(stdout).Encode(rep) // compact: one line
	case tty:
		rows := 0
		if f, ok := stdout.(*os.File); ok {
			if _, h, err := term.GetSize(int(f.Fd())); err == nil {
				rows = h
			}
		}
		var b screen
		b.WriteString(termHome + termClear)
		fmt.Fprintf(&b, "shmring stat  every %v  %s  (interrupt to quit)\n", o.watch.interval, rep.Time.Format("15:04:05"))
		renderStat(&b, rep)
		_, err := stdout.Write(b.fit(rows))
		return err
	default:
		var b bytes.Buffer
		fmt.Fprintln(&b, rep.Time.Format(time.RFC3339))
		renderStat(&b, rep)
		fmt.Fprintln(&b)
		_, err := stdout.Write(b.Bytes())
		return err
	}
}

// status is the exit status of a sample: errRingProblems if a ring could
// not be read (its report says why).
func (r *statReport) status() error {
	for _, rr := range r.Rings {
		if rr.Error != "" {
			return errRingProblems
		}
	}
	return nil
}

// rates fills in each ring's rates since prev, the sample before.
func (r *statReport) rates(prev *statReport) {
	dt := r.at.Sub(prev.at).Seconds()
	if dt <= 0 {
		return
	}
	before := map[string]*ringReport{}
	for i := range prev.Rings {
		before[prev.Rings[i].Name] = &prev.Rings[i]
	}
	for i := range r.Rings {
		cur := &r.Rings[i]
		p := before[cur.Name]
		if p == nil || p.Offset != cur.Offset || cur.Error != "" || p.Error != "" {
			continue
		}
		cur.Rates = &rateReport{
			Window:      dt,
			MessagesIn:  perSecond(p.MessagesIn, cur.MessagesIn, dt),
			MessagesOut: perSecond(p.MessagesOut, cur.MessagesOut, dt),
			BytesIn:     perSecond(p.BytesIn, cur.BytesIn, dt),
			BytesOut:    perSecond(p.BytesOut, cur.BytesOut, dt),
		}
	}
}

// perSecond is the rate from a to b over dt seconds: 0 for a counter that
// went back (a broadcast ring's MsgsOut restarts at a subscriber's join).
func perSecond(a, b uint64, dt float64) float64 {
	if b < a {
		return 0
	}
	return float64(b-a) / dt
}

// statReport is one sample of an arena. The JSON names are the command's
// output contract: add fields, never rename them.
type statReport struct {
	Arena string       `json:"arena"` // the arena file's path
	Time  time.Time    `json:"time"`  // when the sample was taken
	Size  int64        `json:"size"`  // the arena's size in bytes
	Rings []ringReport `json:"rings"`
	// Bridges are the shmring bridge state regions of the arena (a
	// bridge's state file): its counters.
	Bridges []bridgeReport `json:"bridges,omitempty"`

	at time.Time // Time with its monotonic reading, for rates
}

// ringReport is one ring in a sample.
type ringReport struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`   // spsc, mpmc, broadcast or records
	Offset int64  `json:"offset"` // the region's offset in the arena file
	// Error says why the ring could not be read; the other fields are then
	// zero.
	Error             string `json:"error,omitempty"`
	Slots             int    `json:"slots"`              // the capacity in messages (0 for a record ring: see Records)
	SlotSize          int    `json:"slot_size"`          // the largest message (a record ring's largest record)
	PeerEntries       int    `json:"peer_entries"`       // the peer table's size, overflow entry included
	SubscriberEntries int    `json:"subscriber_entries"` // broadcast: the most subscribers at once
	Depth             uint64 `json:"depth"`              // ring.Stats.Len
	Closed            bool   `json:"closed"`
	MessagesIn        uint64 `json:"messages_in"`
	MessagesOut       uint64 `json:"messages_out"`
	BytesIn           uint64 `json:"bytes_in"`
	BytesOut          uint64 `json:"bytes_out"`
	// Rates are per second since the sample before; absent without one.
	Rates           *rateReport `json:"rates,omitempty"`
	FullEvents      uint64      `json:"full_events"`
	EmptyEvents     uint64      `json:"empty_events"`
	Sleeps          uint64      `json:"sleeps"` // futex sleeps
	Wakes           uint64      `json:"wakes"`  // futex wakes
	NotEmptyWaiters uint32      `json:"not_empty_waiters"`
	NotFullWaiters  uint32      `json:"not_full_waiters"`
	// WaiterLeak: waiters are registered and no live handle could be the
	// sleeper: registrations leaked by handles killed asleep.
	WaiterLeak bool `json:"waiter_leak"`
	LivePeers  int  `json:"live_peers"`
	DeadPeers  int  `json:"dead_peers"`
	// Lost: MPMC messages lost to killed producers (ring.Stats.Skipped);
	// Skipped: holes a broadcast producer's takeover passed over, or a
	// record ring's reservations of gone handles made skip records;
	// Redelivered: MPMC messages of killed consumers delivered again;
	// Lapped and Missed: summed over the broadcast subscribers.
	Lost        uint64             `json:"lost"`
	Skipped     uint64             `json:"skipped"`
	Redelivered uint64             `json:"redelivered"`
	Lapped      uint64             `json:"lapped"`
	Missed      uint64             `json:"missed"`
	Peers       []peerReport       `json:"peers"`
	Subscribers []subscriberReport `json:"subscribers"`
	// Records is a record ring's occupancy (absent for the other kinds).
	Records *recordsReport `json:"records,omitempty"`
}

// recordsReport is a record ring's occupancy (ring.RecordUsage): its
// capacity is bytes, and Depth counts its records.
type recordsReport struct {
	Capacity  uint64 `json:"capacity"`   // the data area in bytes
	Used      uint64 `json:"used"`       // bytes between the consumer and claim positions
	Mirrored  bool   `json:"mirrored"`   // the data area is mapped twice (no padding records)
	MaxRecord int    `json:"max_record"` // the largest record accepted (slot_size)
	// Committed, Busy, Skip, Padding: the records in the used bytes, by
	// state (committed: in flight, peeked ones included; busy: being
	// written).
	Committed int `json:"committed"`
	Busy      int `json:"busy"`
	Skip      int `json:"skip"`
	Padding   int `json:"padding"`
	// Largest is the longest payload in flight (a busy record's reserved
	// bytes).
	Largest uint64 `json:"largest"`
	// Complete: every record header in the used bytes was read (false
	// under traffic that moved past the walk, or on a damaged header:
	// shmring check).
	Complete bool `json:"complete"`
}

// rateReport are a ring's rates per second over Window seconds.
type rateReport struct {
	Window      float64 `json:"window"` // seconds
	MessagesIn  float64 `json:"messages_in"`
	MessagesOut float64 `json:"messages_out"`
	BytesIn     float64 `json:"bytes_in"`
	BytesOut    float64 `json:"bytes_out"`
}

// peerReport is one occupied entry of a ring's peer table.
type peerReport struct {
	Index      int        `json:"index"`
	PID        int        `json:"pid"`
	Roles      string     `json:"roles"` // ring.Role.String: "producer+consumer", "none", ...
	Alive      bool       `json:"alive"`
	Attached   *time.Time `json:"attached"`    // null if not recorded
	LastActive *time.Time `json:"last_active"` // null if never recorded
	MsgsIn     uint64     `json:"msgs_in"`
	MsgsOut    uint64     `json:"msgs_out"`
	BytesIn    uint64     `json:"bytes_in"`
	BytesOut   uint64     `json:"bytes_out"`
}

// subscriberReport is one occupied subscriber entry of a broadcast ring.
type subscriberReport struct {
	Index     int    `json:"index"`
	PID       int    `json:"pid"`
	Alive     bool   `json:"alive"`
	Lossy     bool   `json:"lossy"`
	Cursor    uint64 `json:"cursor"` // the next position it reads
	Lag       uint64 `json:"lag"`
	Delivered uint64 `json:"delivered"`
	Bytes     uint64 `json:"bytes"`
	Lapped    uint64 `json:"lapped"`
	Missed    uint64 `json:"missed"`
}

var _ flag.Value = (*watchFlag)(nil)

// waiterLeak reports whether the ring's waiter counts exceed the sleepers
// its live entries account for (ring.Peer.SleepingFull, SleepingEmpty), in
// st and again in a second look 1 ms later: a sleeper registers in the
// ring's count and its entry's one after the other, so one look can catch
// it between the two.
func waiterLeak(v *ring.View, st ring.Stats) bool {
	for look := 0; look < 2; look++ {
		if look > 0 {
			time.Sleep(time.Millisecond)
			st = v.Stats()
		}
		if st.NotEmptyWaiters+st.NotFullWaiters == 0 {
			return false
		}
		var full, empty uint32
		for _, p := range v.Peers() {
			if p.Alive {
				full += p.SleepingFull
				empty += p.SleepingEmpty
			}
		}
		if st.NotEmptyWaiters <= empty && st.NotFullWaiters <= full {
			return false
		}
	}
	return true
}

// bridgeReport is a bridge state region in a sample.
type bridgeReport struct {
	Name     string          `json:"name"`
	Role     string          `json:"role,omitempty"` // out or in
	Producer string          `json:"producer,omitempty"`
	Subject  string          `json:"subject,omitempty"`
	PID      int             `json:"pid,omitempty"`
	Spooled  uint64          `json:"spooled"` // out: messages held until acked
	Counters bridge.Counters `json:"counters"`
	Error    string          `json:"error,omitempty"`
}

func sampleBridge(r *arena.Region) bridgeReport {
	st, err := bridge.ReadState(r)
	if err != nil {
		return bridgeReport{Name: r.Name(), Error: err.Error()}
	}
	rep := bridgeReport{Name: r.Name(), Role: st.Role, Producer: st.Producer, Subject: st.Subject, PID: st.PID, Counters: st.Counters}
	if st.Tail >= st.Head {
		rep.Spooled = st.Tail - st.Head
	}
	return rep
}
