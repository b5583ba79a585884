package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// Roles the stat and tail tests start in other processes.
func init() {
	roles["shmring-run"] = shmringRunRole
	roles["stat-mpmc-producer"] = statProducerRole
	roles["stat-die-reserving"] = statDieReservingRole
	roles["stat-sleep-pop"] = statSleepPopRole
}

// shmringRunRole runs the command line given as its arguments, as main
// would (stdout and stderr are the child's), failing on a non-zero exit.
func shmringRunRole(args []string) error {
	if code := run(args, os.Stdout, os.Stderr); code != exitOK {
		return fmt.Errorf("exit status %d", code)
	}
	return nil
}

// statProducerRole pushes 16-byte messages into the MPMC ring ring= of
// arena= until the stream is closed, pausing a millisecond every 32 so as
// not to take a core of a small machine.
func statProducerRole(args []string) error {
	kv := xproc.ParseArgs(args)
	a, err := arena.Open(kv["arena"])
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := ring.OpenMPMC(a, kv["ring"])
	if err != nil {
		return err
	}
	defer r.Close()
	msg := []byte("order 0123456789")
	for i := 0; ; i++ {
		if err := r.Push(context.Background(), msg); err != nil {
			if errors.Is(err, ring.ErrClosed) {
				return nil
			}
			return err
		}
		if i%32 == 31 {
			time.Sleep(time.Millisecond)
		}
	}
}

// statDieReservingRole reserves a slot of the MPMC ring ring= of arena=,
// says "reserved" and waits to be killed, leaving its claim behind.
func statDieReservingRole(args []string) error {
	kv := xproc.ParseArgs(args)
	a, err := arena.Open(kv["arena"])
	if err != nil {
		return err
	}
	r, err := ring.OpenMPMC(a, kv["ring"])
	if err != nil {
		return err
	}
	if _, err := r.TryReserve(8); err != nil {
		return err
	}
	fmt.Println("reserved")
	time.Sleep(time.Minute)
	return errors.New("not killed")
}

// statSleepPopRole pops from the MPMC ring ring= of arena= with the
// WaitBlock strategy, asleep in the futex at once, until killed.
func statSleepPopRole(args []string) error {
	kv := xproc.ParseArgs(args)
	a, err := arena.Open(kv["arena"])
	if err != nil {
		return err
	}
	r, err := ring.OpenMPMC(a, kv["ring"], ring.WithWaitStrategy(ring.WaitBlock))
	if err != nil {
		return err
	}
	_, err = r.Pop(context.Background(), make([]byte, 64))
	return fmt.Errorf("Pop returned: %v", err)
}

// statFixture is an arena in a temporary directory with an MPMC ring
// "orders", a broadcast ring "feed", an SPSC ring "ctl" and a raw region
// "blob", and the creator's handles on the rings.
type statFixture struct {
	path   string
	a      *arena.Arena
	orders *ring.MPMC
	feed   *ring.Broadcast
	ctl    *ring.SPSC
}

func newStatFixture(t *testing.T) *statFixture {
	t.Helper()
	cfgs := map[string]ring.Config{
		"orders": {Slots: 64, SlotSize: 64},
		"feed":   {Slots: 64, SlotSize: 64, Subscribers: 4},
		"ctl":    {Slots: 16, SlotSize: 32},
	}
	size, err := ring.ArenaSize([]ring.Spec{
		{Kind: ring.KindMPMC, Config: cfgs["orders"]},
		{Kind: ring.KindBroadcast, Config: cfgs["feed"]},
		{Kind: ring.KindSPSC, Config: cfgs["ctl"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &statFixture{path: filepath.Join(t.TempDir(), "arena")}
	if f.a, err = arena.Create(f.path, size+64<<10); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.a.Close() })
	if f.orders, err = ring.CreateMPMC(f.a, "orders", cfgs["orders"]); err != nil {
		t.Fatal(err)
	}
	if f.feed, err = ring.CreateBroadcast(f.a, "feed", cfgs["feed"]); err != nil {
		t.Fatal(err)
	}
	if f.ctl, err = ring.CreateSPSC(f.a, "ctl", cfgs["ctl"]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Alloc("blob", 4096, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.orders.Close()
		f.feed.Close()
		f.ctl.Close()
	})
	return f
}

// runStatJSON runs stat with args and decodes its one JSON object
// strictly, failing the test on an exit status other than 0.
func runStatJSON(t *testing.T, args ...string) statReport {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"stat", "--json"}, args...), &stdout, &stderr); code != exitOK {
		t.Fatalf("stat %q: exit status %d\nstderr: %s", args, code, stderr.String())
	}
	return decodeStat(t, stdout.Bytes())
}

func decodeStat(t *testing.T, b []byte) statReport {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rep statReport
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stat JSON: %v\n%s", err, b)
	}
	return rep
}

func findRing(t *testing.T, rep statReport, name string) ringReport {
	t.Helper()
	for _, r := range rep.Rings {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no ring %q in the report (rings: %v)", name, ringNames(rep))
	return ringReport{}
}

func ringNames(rep statReport) []string {
	var names []string
	for _, r := range rep.Rings {
		names = append(names, r.Name)
	}
	return names
}

// waitUntil polls cond every millisecond until it holds, failing the test
// after a few seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func inspect(t *testing.T, a *arena.Arena, name string) ring.Stats {
	t.Helper()
	st, err := ring.Inspect(a, name)
	if err != nil {
		t.Fatalf("Inspect(%q): %v", name, err)
	}
	return st
}

// TestStatTraffic runs stat while messages flow: an MPMC ring fed by a
// producer in another process and drained by a goroutine here, a
// broadcast ring with a producer goroutine, a tethered subscriber that
// reads and a lossy one that does not. Every counter stat reports lies
// between ring.Inspect's before and after it (they only grow), the rates
// of the moving rings are positive, and the peer and subscriber tables
// name the processes and roles involved.
func TestStatTraffic(t *testing.T) {
	f := newStatFixture(t)
	// The SPSC ring holds three messages nobody reads.
	for range 3 {
		if err := f.ctl.TryPush([]byte("ctl!")); err != nil {
			t.Fatal(err)
		}
	}

	producer := xproc.StartT(t, "stat-mpmc-producer", "arena="+f.path, "ring=orders")
	tethered, err := ring.Subscribe(f.a, "feed", ring.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tethered.Close()
	lossy, err := ring.Subscribe(f.a, "feed", ring.SubscribeOptions{Lossy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lossy.Close()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { // the MPMC consumer, until the stream ends
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			if _, err := f.orders.Pop(context.Background(), buf); err != nil {
				if err != io.EOF {
					errs <- fmt.Errorf("orders Pop: %w", err)
				}
				return
			}
		}
	}()
	go func() { // the broadcast producer, paced
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				f.feed.CloseWrite()
				return
			default:
			}
			if err := f.feed.Push(context.Background(), []byte(fmt.Sprintf("tick %d", i))); err != nil {
				errs <- fmt.Errorf("feed Push: %w", err)
				return
			}
			if i%32 == 31 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	go func() { // the tethered subscriber, until the stream ends
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			if _, err := tethered.Pop(context.Background(), buf); err != nil {
				if err != io.EOF {
					errs <- fmt.Errorf("feed subscriber Pop: %w", err)
				}
				return
			}
		}
	}()
	defer func() {
		close(stop)
		f.orders.CloseWrite()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if err := producer.WaitUntil(time.Now().Add(5 * time.Second)); err != nil {
			t.Error(err)
		}
	}()

	waitUntil(t, "traffic on orders and feed", func() bool {
		return inspect(t, f.a, "orders").MsgsOut > 100 && inspect(t, f.a, "feed").MsgsOut > 100
	})
	names := []string{"orders", "feed", "ctl"}
	before := map[string]ring.Stats{}
	for _, n := range names {
		before[n] = inspect(t, f.a, n)
	}
	rep := runStatJSON(t, f.path)
	after := map[string]ring.Stats{}
	for _, n := range names {
		after[n] = inspect(t, f.a, n)
	}

	if got := ringNames(rep); strings.Join(got, ",") != "orders,feed,ctl" {
		t.Errorf("rings %v, want orders, feed, ctl (blob is not a ring)", got)
	}
	if rep.Arena != f.path || rep.Size != f.a.Size() {
		t.Errorf("arena %q size %d, want %q %d", rep.Arena, rep.Size, f.path, f.a.Size())
	}
	for _, n := range names {
		r, b, a := findRing(t, rep, n), before[n], after[n]
		for _, c := range []struct {
			name          string
			got, min, max uint64
		}{
			{"messages_in", r.MessagesIn, b.MsgsIn, a.MsgsIn},
			{"messages_out", r.MessagesOut, b.MsgsOut, a.MsgsOut},
			{"bytes_in", r.BytesIn, b.BytesIn, a.BytesIn},
			{"bytes_out", r.BytesOut, b.BytesOut, a.BytesOut},
			{"full_events", r.FullEvents, b.FullEvents, a.FullEvents},
			{"empty_events", r.EmptyEvents, b.EmptyEvents, a.EmptyEvents},
			{"sleeps", r.Sleeps, b.Sleeps, a.Sleeps},
			{"wakes", r.Wakes, b.Wakes, a.Wakes},
		} {
			if c.got < c.min || c.got > c.max {
				t.Errorf("%s %s = %d, want it between Inspect's %d before and %d after", n, c.name, c.got, c.min, c.max)
			}
		}
		if r.Rates == nil {
			t.Fatalf("%s: no rates", n)
		}
		if w := r.Rates.Window; w < 0.2 || w > 5 {
			t.Errorf("%s: rate window %vs, want about the 250ms --sample", n, w)
		}
		if r.Depth > uint64(r.Slots) {
			t.Errorf("%s: depth %d > %d slots", n, r.Depth, r.Slots)
		}
	}

	orders := findRing(t, rep, "orders")
	if orders.Kind != "mpmc" || orders.Slots != 64 || orders.SlotSize != 64 || orders.PeerEntries != ring.DefaultPeers {
		t.Errorf("orders geometry: %+v", orders)
	}
	if orders.Rates.MessagesIn <= 0 || orders.Rates.MessagesOut <= 0 || orders.Rates.BytesIn <= 0 {
		t.Errorf("orders rates %+v, want them > 0 while traffic flows", *orders.Rates)
	}
	wantPeer := func(ring ringReport, pid int, role string) {
		t.Helper()
		for _, p := range ring.Peers {
			if p.PID == pid && strings.Contains(p.Roles, role) && p.Alive {
				return
			}
		}
		t.Errorf("%s: no live peer of pid %d with role %s in %+v", ring.Name, pid, role, ring.Peers)
	}
	wantPeer(orders, producer.Pid(), "producer")
	wantPeer(orders, os.Getpid(), "consumer")

	feed := findRing(t, rep, "feed")
	if feed.Kind != "broadcast" || feed.SubscriberEntries != 4 {
		t.Errorf("feed geometry: %+v", feed)
	}
	if feed.Rates.MessagesIn <= 0 {
		t.Errorf("feed rates %+v, want messages_in > 0", *feed.Rates)
	}
	wantPeer(feed, os.Getpid(), "producer")
	if len(feed.Subscribers) != 2 {
		t.Fatalf("feed subscribers %+v, want 2", feed.Subscribers)
	}
	var sawLossy, sawTethered bool
	for _, s := range feed.Subscribers {
		if s.PID != os.Getpid() || !s.Alive {
			t.Errorf("subscriber %+v: want pid %d, alive", s, os.Getpid())
		}
		if s.Lossy {
			sawLossy = true
			if s.Lag == 0 || s.Delivered != 0 {
				t.Errorf("the lossy subscriber reads nothing: %+v, want lag > 0 and nothing delivered", s)
			}
		} else {
			sawTethered = true
			if s.Lag > 64 {
				t.Errorf("tethered subscriber lag %d > 64 slots", s.Lag)
			}
		}
	}
	if !sawLossy || !sawTethered {
		t.Errorf("subscribers %+v: want one lossy and one tethered", feed.Subscribers)
	}

	ctl := findRing(t, rep, "ctl")
	if ctl.Kind != "spsc" || ctl.Depth != 3 || ctl.MessagesIn != 3 || ctl.MessagesOut != 0 || ctl.Closed {
		t.Errorf("ctl: %+v, want spsc, 3 messages in and queued, open", ctl)
	}
	if ctl.Rates.MessagesIn != 0 {
		t.Errorf("ctl rate %v, want 0 for a ring with no traffic", ctl.Rates.MessagesIn)
	}
}

// TestStatQuiet checks every number against the library on rings that
// hold still (so equality is exact), in JSON and in the text form: depth,
// counts, a closed ring, peers and subscribers.
func TestStatQuiet(t *testing.T) {
	f := newStatFixture(t)
	for i := range 10 {
		if err := f.orders.TryPush([]byte(fmt.Sprintf("msg%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	for range 4 {
		if _, err := f.orders.TryPop(buf); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.orders.TryPop(buf[:1]); !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("TryPop into a short buffer: %v", err)
	}
	sub, err := ring.Subscribe(f.a, "feed", ring.SubscribeOptions{Lossy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 5 {
		if err := f.feed.TryPush([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sub.TryPop(buf); err != nil {
		t.Fatal(err)
	}
	if err := f.ctl.TryPush([]byte("x")); err != nil {
		t.Fatal(err)
	}
	f.ctl.CloseWrite()

	rep := runStatJSON(t, f.path, "--sample=0")
	for _, name := range []string{"orders", "feed", "ctl"} {
		r := findRing(t, rep, name)
		if r.Rates != nil {
			t.Errorf("%s: rates %+v with --sample=0", name, r.Rates)
		}
		v, err := ring.OpenView(f.a, name)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		st, cfg := v.Stats(), v.Config()
		want := ringReport{
			Name: name, Kind: v.KindName(), Offset: v.Offset(),
			Slots: cfg.Slots, SlotSize: cfg.SlotSize, PeerEntries: cfg.Peers, SubscriberEntries: cfg.Subscribers,
			Depth: st.Len, Closed: st.Closed,
			MessagesIn: st.MsgsIn, MessagesOut: st.MsgsOut, BytesIn: st.BytesIn, BytesOut: st.BytesOut,
			FullEvents: st.FullEvents, EmptyEvents: st.EmptyEvents, Sleeps: st.Sleeps, Wakes: st.Wakes,
			NotEmptyWaiters: st.NotEmptyWaiters, NotFullWaiters: st.NotFullWaiters,
			LivePeers: st.Peers, DeadPeers: st.DeadPeers,
		}
		if name == "orders" {
			want.Lost, want.Redelivered = st.Skipped, st.Redelivered
		} else if name == "feed" {
			want.Skipped = st.Skipped
		}
		got := r
		got.Peers, got.Subscribers = nil, nil
		got.Lapped, got.Missed = 0, 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
		peers := v.Peers()
		if len(r.Peers) != len(peers) {
			t.Fatalf("%s: %d peers, want %d", name, len(r.Peers), len(peers))
		}
		for i, p := range peers {
			g := r.Peers[i]
			if g.Index != p.Index || g.PID != p.PID || g.Roles != p.Roles.String() || g.Alive != p.Alive ||
				g.MsgsIn != p.MsgsIn || g.MsgsOut != p.MsgsOut || g.BytesIn != p.BytesIn || g.BytesOut != p.BytesOut {
				t.Errorf("%s peer %d: %+v, want %+v", name, i, g, p)
			}
		}
		subs := v.Subscribers()
		if len(r.Subscribers) != len(subs) {
			t.Fatalf("%s: %d subscribers, want %d", name, len(r.Subscribers), len(subs))
		}
		for i, s := range subs {
			want := subscriberReport{Index: s.Index, PID: s.PID, Alive: s.Alive, Lossy: s.Lossy, Cursor: s.Cursor,
				Lag: s.Lag, Delivered: s.Delivered, Bytes: s.Bytes, Lapped: s.Lapped, Missed: s.Missed}
			if r.Subscribers[i] != want {
				t.Errorf("%s subscriber %d: %+v, want %+v", name, i, r.Subscribers[i], want)
			}
		}
	}
	orders, feed, ctl := findRing(t, rep, "orders"), findRing(t, rep, "feed"), findRing(t, rep, "ctl")
	if orders.MessagesIn != 10 || orders.MessagesOut != 4 || orders.Depth != 6 || orders.Closed {
		t.Errorf("orders: %+v, want 10 in, 4 out, depth 6, open", orders)
	}
	if feed.MessagesIn != 5 || len(feed.Subscribers) != 1 || feed.Subscribers[0].Lag != 4 || !feed.Subscribers[0].Lossy {
		t.Errorf("feed: %+v, want 5 in and one lossy subscriber 4 behind", feed)
	}
	if !ctl.Closed || ctl.Depth != 1 {
		t.Errorf("ctl: %+v, want closed with 1 message", ctl)
	}

	// The text form shows the same numbers.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"stat", f.path, "--sample=0"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("stat: exit status %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	t.Logf("shmring stat:\n%s", out)
	for _, want := range []string{
		"arena " + f.path + "  ",
		"3 rings  no rates\n",
		"\norders  mpmc  64 slots x 64 B  16 peer entries\n",
		"\n  depth       6 of 64\n",
		fmt.Sprintf("\n  messages    in 10  out 4\n  bytes       in %d  out %d\n", orders.BytesIn, orders.BytesOut),
		fmt.Sprintf("\n  events      %d full  %d empty\n", orders.FullEvents, orders.EmptyEvents),
		"\nfeed  broadcast  64 slots x 64 B  16 peer entries  4 subscriber entries\n",
		"\n  subscribers 1 of 4 entries\n",
		"    INDEX  PID", "LAST ACTIVE",
		"\nctl  spsc  16 slots x 32 B",
		"\n  closed      yes\n",
		"\n  losses      0 lost  0 skipped  0 redelivered  0 lapped  0 missed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	// The subscriber's row: index, pid, alive, lossy, cursor, lag,
	// delivered, lapped, missed.
	wantRow := fmt.Sprintf("%d %d yes yes 1 4 %d 0 0", feed.Subscribers[0].Index, os.Getpid(), feed.Subscribers[0].Delivered)
	found := false
	for _, line := range strings.Split(out, "\n") {
		found = found || strings.Join(strings.Fields(line), " ") == wantRow
	}
	if !found {
		t.Errorf("no subscriber row %q", wantRow)
	}
	if strings.Contains(out, "blob") {
		t.Error("text output shows the raw region blob")
	}
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimRight(line, " ") != line {
			t.Errorf("line %d has trailing blanks: %q", i+1, line)
		}
	}
}

// TestStatLost: a producer killed holding an MPMC reservation leaves a
// claim that the consumer turns into a skip record; stat reports it as
// lost, and the dead producer's entry as dead.
func TestStatLost(t *testing.T) {
	f := newStatFixture(t)
	child := xproc.StartT(t, "stat-die-reserving", "arena="+f.path, "ring=orders")
	xproc.WaitFor(t, "the reservation", child, func() bool { return strings.Contains(child.Stdout(), "reserved") })
	child.Kill()
	if err := f.orders.TryPush([]byte("after")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, 64)
	n, err := f.orders.Pop(ctx, buf) // passes over the dead claim
	if err != nil || string(buf[:n]) != "after" {
		t.Fatalf("Pop = %q, %v; want the message after the dead claim", buf[:n], err)
	}
	r := findRing(t, runStatJSON(t, f.path, "orders", "--sample=0"), "orders")
	if r.Lost != 1 || r.Skipped != 0 {
		t.Errorf("lost %d skipped %d, want 1 message lost to the killed producer", r.Lost, r.Skipped)
	}
	if st := inspect(t, f.a, "orders"); r.Lost != st.Skipped {
		t.Errorf("lost %d, Inspect's Skipped %d", r.Lost, st.Skipped)
	}
	dead := false
	for _, p := range r.Peers {
		dead = dead || (p.PID == child.Pid() && !p.Alive)
	}
	if !dead && r.DeadPeers == 0 {
		t.Errorf("peers %+v: the killed producer is neither listed dead nor reclaimed", r.Peers)
	}
}

// TestStatNamedRings: named rings are shown alone and in the order given.
func TestStatNamedRings(t *testing.T) {
	f := newStatFixture(t)
	rep := runStatJSON(t, f.path, "ctl", "--sample=0", "orders")
	if got := strings.Join(ringNames(rep), ","); got != "ctl,orders" {
		t.Errorf("rings %s, want ctl,orders", got)
	}
}

// TestStatFailures: exit statuses and messages of a stat that cannot run.
func TestStatFailures(t *testing.T) {
	f := newStatFixture(t)
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign")
	if err := os.WriteFile(foreign, bytes.Repeat([]byte("not an arena at all "), 400), 0o600); err != nil {
		t.Fatal(err)
	}
	// An arena whose header checksum no longer matches: copy the fixture's
	// file and flip a byte of the header's CreatorPID (offset 68).
	broken := filepath.Join(dir, "broken")
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	b[68] ^= 0xff
	if err := os.WriteFile(broken, b, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr []string
	}{
		{"unknown ring", []string{f.path, "nope"}, exitFailure, []string{`no such ring "nope" in ` + f.path}},
		{"one unknown among known", []string{f.path, "orders", "nope", "--sample=0"}, exitFailure, []string{`no such ring "nope"`}},
		{"not a ring", []string{f.path, "blob"}, exitFailure, []string{`"blob" in ` + f.path + ": region is not a ring"}},
		{"interval as a ring name", []string{f.path, "500ms"}, exitFailure, []string{`no such ring "500ms"`, "--watch=500ms"}},
		{"interval after --watch", []string{f.path, "--watch", "1ms"}, exitUsage, []string{"below 10ms"}}, // read as --watch=1ms
		{"missing arena", []string{filepath.Join(dir, "missing")}, exitFailure, []string{"shmring stat: ", "not found"}},
		{"foreign file", []string{foreign}, exitFailure, []string{"shmring stat: ", "not an arena"}},
		{"corrupt arena", []string{broken}, exitFailure, []string{"shmring stat: ", "checksum"}},
		{"empty file", []string{empty}, exitFailure, []string{"shmring stat: ", "not ready"}},
		{"a directory", []string{dir}, exitFailure, []string{"shmring stat: "}},
		{"no arena", nil, exitUsage, []string{"missing ARENA", "usage: shmring stat"}},
		{"bad flag", []string{f.path, "--bogus"}, exitUsage, []string{"flag provided but not defined: -bogus"}},
		{"bad interval", []string{f.path, "--watch=soon"}, exitUsage, []string{"invalid boolean value \"soon\" for -watch: want an interval"}},
		{"tiny interval", []string{f.path, "--watch=1ms"}, exitUsage, []string{"below 10ms"}},
		{"negative count", []string{f.path, "--watch", "--count", "-1"}, exitUsage, []string{"--count -1"}},
		{"count without watch", []string{f.path, "--count", "2"}, exitUsage, []string{"--count needs --watch"}},
		{"negative sample", []string{f.path, "--sample=-1s"}, exitUsage, []string{"--sample -1s"}},
		{"bad sample", []string{f.path, "--sample=x"}, exitUsage, []string{"invalid value \"x\" for flag -sample"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(append([]string{"stat"}, tt.args...), &stdout, &stderr); got != tt.want {
				t.Errorf("exit status %d, want %d\nstderr: %s", got, tt.want, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
				}
			}
		})
	}
}

// TestStatRingError: a ring whose header is broken is reported, with the
// others, and the exit status is 1.
func TestStatRingError(t *testing.T) {
	f := newStatFixture(t)
	reg, err := f.a.Lookup("ctl")
	if err != nil {
		t.Fatal(err)
	}
	copy(reg.Bytes()[:8], "garbage!") // the ring header's magic
	var stdout, stderr bytes.Buffer
	if code := run([]string{"stat", f.path, "--json", "--sample=0"}, &stdout, &stderr); code != exitFailure {
		t.Fatalf("exit status %d, want 1\nstderr: %s", code, stderr.String())
	}
	rep := decodeStat(t, stdout.Bytes())
	if r := findRing(t, rep, "ctl"); r.Error == "" || r.Kind != "spsc" {
		t.Errorf("ctl: %+v, want an error", r)
	}
	if r := findRing(t, rep, "orders"); r.Error != "" || r.Slots != 64 {
		t.Errorf("orders: %+v, want it read", r)
	}
	stdout.Reset()
	if code := run([]string{"stat", f.path, "ctl", "--sample=0"}, &stdout, &stderr); code != exitFailure {
		t.Fatalf("text: exit status %d, want 1", code)
	}
	if !strings.Contains(stdout.String(), "ctl  spsc  cannot be read: ") {
		t.Errorf("text output %q does not say ctl cannot be read", stdout.String())
	}
}

func TestWatchFlag(t *testing.T) {
	tests := []struct {
		args   []string
		on     bool
		want   time.Duration
		errMsg string
	}{
		{nil, false, 0, ""},
		{[]string{"--watch"}, true, time.Second, ""},
		{[]string{"-watch"}, true, time.Second, ""},
		{[]string{"--watch=500ms"}, true, 500 * time.Millisecond, ""},
		{[]string{"--watch=2m"}, true, 2 * time.Minute, ""},
		{[]string{"--watch=true"}, true, time.Second, ""},
		{[]string{"--watch", "--watch=false"}, false, time.Second, ""},
		{[]string{"--watch=0"}, false, 0, "below"},
		{[]string{"--watch=-1s"}, false, 0, "below"},
		{[]string{"--watch=often"}, false, 0, "want an interval"},
	}
	for _, tt := range tests {
		var w watchFlag
		fs := newFlagSet("stat", "", "", io.Discard)
		fs.Var(&w, "watch", "")
		err := fs.Parse(tt.args)
		switch {
		case tt.errMsg != "":
			if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
				t.Errorf("%q: error %v, want one containing %q", tt.args, err, tt.errMsg)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case w.on != tt.on || (tt.on && w.interval != tt.want):
			t.Errorf("%q: on %v interval %v, want %v %v", tt.args, w.on, w.interval, tt.on, tt.want)
		}
	}
}

func TestRenderHelpers(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	for _, tt := range []struct {
		t    *time.Time
		want string
	}{
		{nil, "never"},
		{at(0), "now"},
		{at(3 * time.Second), "3s ago"},
		{at(125 * time.Second), "2m05s ago"},
		{at(5*time.Hour + 7*time.Minute), "5h07m ago"},
		{at(72 * time.Hour), "3d ago"},
		{at(-time.Hour), "in the future"},
	} {
		if got := renderAgo(now, tt.t); got != tt.want {
			t.Errorf("renderAgo(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1 << 20: "1.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := renderBytes(n); got != want {
			t.Errorf("renderBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 950.4: "950", 12345: "12.3k", 4.567e6: "4.57M", 2e9: "2.00G"} {
		if got := renderCount(v); got != want {
			t.Errorf("renderCount(%v) = %q, want %q", v, got, want)
		}
	}
	for s, want := range map[string]string{"orders": "orders", "a b": `"a b"`, "\x1b[2J": `"\x1b[2J"`, "": `""`} {
		if got := renderName(s); got != want {
			t.Errorf("renderName(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestScreenFit(t *testing.T) {
	var s screen
	for i := range 10 {
		fmt.Fprintf(&s, "line %d\n", i)
	}
	full := s.String()
	for _, tt := range []struct {
		rows int
		want string
	}{
		{0, full},
		{1, full},
		{11, full},
		{40, full},
		{5, "line 0\nline 1\nline 2\nline 3\n... 6 more lines: enlarge the window or name the rings"},
	} {
		if got := string(s.fit(tt.rows)); got != tt.want {
			t.Errorf("fit(%d) = %q, want %q", tt.rows, got, tt.want)
		}
	}
}

// TestStatWaiterLeak: a consumer asleep in the futex is a registered
// waiter, not a leak; killed asleep, with no live handle left to repair
// it, its registration is flagged as leaked.
func TestStatWaiterLeak(t *testing.T) {
	f := newStatFixture(t)
	f.orders.Close() // no handle of this process on the ring
	child := xproc.StartT(t, "stat-sleep-pop", "arena="+f.path, "ring=orders")
	waitUntil(t, "the consumer asleep", func() bool { return inspect(t, f.a, "orders").NotEmptyWaiters == 1 })
	r := findRing(t, runStatJSON(t, f.path, "orders", "--sample=0"), "orders")
	if r.NotEmptyWaiters != 1 || r.WaiterLeak || r.LivePeers != 1 {
		t.Errorf("with the consumer asleep: %d waiters, leak %v, %d live peers; want 1, false, 1", r.NotEmptyWaiters, r.WaiterLeak, r.LivePeers)
	}
	child.Kill()
	r = findRing(t, runStatJSON(t, f.path, "orders", "--sample=0"), "orders")
	if r.NotEmptyWaiters != 1 || !r.WaiterLeak || r.LivePeers != 0 {
		t.Errorf("with the consumer killed asleep: %d waiters, leak %v, %d live peers; want 1, true, 0", r.NotEmptyWaiters, r.WaiterLeak, r.LivePeers)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"stat", f.path, "orders", "--sample=0"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	if want := "\n  waiters     1 not-empty  0 not-full  LEAKED: no live handle to be asleep\n"; !strings.Contains(stdout.String(), want) {
		t.Errorf("text output lacks %q:\n%s", want, stdout.String())
	}
}
