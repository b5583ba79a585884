package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// trafficArena creates an arena at path with one ring of each kind and runs
// known traffic through them, leaving handles open where the test needs
// live peers. Every value the tests expect exactly is one the ring documents
// as exact at that point: positions, counters of handles that detached or
// went to sleep (which publish them), laps and misses.
//
//	spsc  (8 slots of 64 B): 5 pushes of 10 B, 3 pops; both handles closed
//	      (the producer's Close ends the stream)
//	mpmc  (4 of 32 B): 4 pushes of 8 B, one push that finds it full, 1 pop;
//	      that handle detached, a second one attached and idle
//	bcast (4 of 16 B, 2 subscribers): a lossy subscriber from Oldest;
//	      6 pushes of 4 B (the producer detached), the subscriber lapped
//	      once (missing 2) and reading the 4 left, then asleep once
func trafficArena(t *testing.T, path string) (*arena.Arena, func()) {
	t.Helper()
	size, err := ring.ArenaSize([]ring.Spec{
		{Kind: ring.KindSPSC, Config: ring.Config{Slots: 8, SlotSize: 64}},
		{Kind: ring.KindMPMC, Config: ring.Config{Slots: 4, SlotSize: 32}},
		{Kind: ring.KindBroadcast, Config: ring.Config{Slots: 4, SlotSize: 16, Subscribers: 2}},
		{Kind: ring.KindRecords, Config: ring.Config{Capacity: 4096, SlotSize: 1024}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := arena.Create(path, size)
	if err != nil {
		t.Fatal(err)
	}
	var closers []func() error
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		a.Close()
	}
	ok := false
	defer func() {
		if !ok {
			cleanup()
		}
	}()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	p, err := ring.CreateSPSC(a, "spsc", ring.Config{Slots: 8, SlotSize: 64})
	must(err)
	c, err := ring.OpenSPSC(a, "spsc")
	must(err)
	buf := make([]byte, 64)
	for i := 0; i < 5; i++ {
		must(p.TryPush([]byte("0123456789")))
	}
	for i := 0; i < 3; i++ {
		_, err := c.TryPop(buf)
		must(err)
	}
	must(c.Close())
	must(p.Close())

	m, err := ring.CreateMPMC(a, "mpmc", ring.Config{Slots: 4, SlotSize: 32})
	must(err)
	idle, err := ring.OpenMPMC(a, "mpmc")
	must(err)
	closers = append(closers, idle.Close)
	for i := 0; i < 4; i++ {
		must(m.TryPush([]byte("abcdefgh")))
	}
	if err := m.TryPush([]byte("x")); !errors.Is(err, ring.ErrFull) {
		t.Fatalf("fifth push: %v, want ErrFull", err)
	}
	_, err = m.TryPop(buf)
	must(err)
	must(m.Detach())

	b, err := ring.CreateBroadcast(a, "bcast", ring.Config{Slots: 4, SlotSize: 16, Subscribers: 2})
	must(err)
	s, err := ring.Subscribe(a, "bcast", ring.SubscribeOptions{From: ring.Oldest, Lossy: true}, ring.WithWaitStrategy(ring.WaitBlock))
	must(err)
	closers = append(closers, s.Close)
	for i := 0; i < 6; i++ {
		must(b.TryPush([]byte("abcd")))
	}
	must(b.Detach())
	var lapped *ring.LappedError
	if _, err := s.TryPop(buf); !errors.As(err, &lapped) || lapped.Missed != 2 {
		t.Fatalf("first pop: %v, want lapped missing 2", err)
	}
	for i := 0; i < 4; i++ {
		_, err := s.TryPop(buf)
		must(err)
	}
	// A Pop on the empty ring sleeps, and publishes the counts first.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Pop(ctx, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pop on empty: %v", err)
	}

	// A record ring: records of 10, 20 and 0 bytes (32, 48 and 16 bytes
	// in the ring), the first consumed, and a reservation of 100 bytes
	// (128) its producer left without committing.
	rp, err := ring.CreateRecords(a, "recs", ring.Config{Capacity: 4096, SlotSize: 1024})
	must(err)
	for _, n := range []int{10, 20, 0} {
		must(rp.TryPush(make([]byte, n)))
	}
	_, err = rp.TryReserve(100)
	must(err)
	rc, err := ring.OpenRecords(a, "recs")
	must(err)
	_, err = rc.TryPop(buf)
	must(err)
	must(rc.Detach())
	must(rp.Detach())
	ok = true
	return a, cleanup
}

// scrape gathers c through a pedantic registry (which checks every metric
// against Describe's descriptors and finds duplicates) and returns every
// sample as `name{label="value",...}` (labels sorted) -> value.
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			sort.Strings(ls)
			key := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			default:
				t.Fatalf("%s: neither counter nor gauge", key)
			}
		}
	}
	return out
}

// series returns the keys of got for metric name whose labels include every
// one of want ("k=\"v\"").
func series(got map[string]float64, name string, want ...string) []string {
	var out []string
	for k := range got {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		all := true
		for _, w := range want {
			if !strings.Contains(k, w) {
				all = false
			}
		}
		if all {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestCollectExactValues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "traffic")
	_, cleanup := trafficArena(t, path)
	defer cleanup()

	c, err := New(Config{Arenas: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	got := scrape(t, c)
	ring := func(name, r, kind string) string {
		return fmt.Sprintf("shmring_ring_%s{arena=%q,kind=%q,ring=%q}", name, path, kind, r)
	}
	ringL := func(name, r, kind, k, v string) string {
		return fmt.Sprintf("shmring_ring_%s{arena=%q,kind=%q,ring=%q,%s=%q}", name, path, kind, r, k, v)
	}
	want := map[string]float64{
		`shmring_arena_up{arena="` + path + `"}`:      1,
		`shmring_arena_regions{arena="` + path + `"}`: 4,
		`shmring_scrape_errors_total{target="arena"}`: 0,
		`shmring_scrape_errors_total{target="ring"}`:  0,
		`shmring_scrape_errors_total{target="dir"}`:   0,

		ring("up", "spsc", "spsc"):                            1,
		ring("messages_in_total", "spsc", "spsc"):             5,
		ring("messages_out_total", "spsc", "spsc"):            3,
		ring("bytes_in_total", "spsc", "spsc"):                50,
		ring("bytes_out_total", "spsc", "spsc"):               30,
		ring("full_events_total", "spsc", "spsc"):             0,
		ring("empty_events_total", "spsc", "spsc"):            0,
		ring("futex_sleeps_total", "spsc", "spsc"):            0,
		ring("futex_wakes_total", "spsc", "spsc"):             0,
		ring("depth_messages", "spsc", "spsc"):                2,
		ring("capacity_messages", "spsc", "spsc"):             8,
		ring("slot_size_bytes", "spsc", "spsc"):               64,
		ring("closed", "spsc", "spsc"):                        1,
		ringL("peers", "spsc", "spsc", "state", "live"):       0,
		ringL("peers", "spsc", "spsc", "state", "dead"):       0,
		ringL("waiters", "spsc", "spsc", "side", "not_empty"): 0,
		ringL("waiters", "spsc", "spsc", "side", "not_full"):  0,

		ring("messages_in_total", "mpmc", "mpmc"):       4,
		ring("messages_out_total", "mpmc", "mpmc"):      1,
		ring("bytes_in_total", "mpmc", "mpmc"):          32,
		ring("bytes_out_total", "mpmc", "mpmc"):         8,
		ring("full_events_total", "mpmc", "mpmc"):       1,
		ring("empty_events_total", "mpmc", "mpmc"):      0,
		ring("skipped_total", "mpmc", "mpmc"):           0,
		ring("redelivered_total", "mpmc", "mpmc"):       0,
		ring("depth_messages", "mpmc", "mpmc"):          3,
		ring("capacity_messages", "mpmc", "mpmc"):       4,
		ring("slot_size_bytes", "mpmc", "mpmc"):         32,
		ring("closed", "mpmc", "mpmc"):                  0,
		ringL("peers", "mpmc", "mpmc", "state", "live"): 1,
		ringL("peers", "mpmc", "mpmc", "state", "dead"): 0,

		ring("messages_in_total", "bcast", "broadcast"):       6,
		ring("messages_out_total", "bcast", "broadcast"):      4,
		ring("bytes_in_total", "bcast", "broadcast"):          24,
		ring("skipped_total", "bcast", "broadcast"):           0,
		ring("lapped_total", "bcast", "broadcast"):            1,
		ring("missed_messages_total", "bcast", "broadcast"):   2,
		ring("capacity_messages", "bcast", "broadcast"):       4,
		ring("slot_size_bytes", "bcast", "broadcast"):         16,
		ringL("peers", "bcast", "broadcast", "state", "live"): 1,

		ring("up", "recs", "records"):                             1,
		ring("messages_in_total", "recs", "records"):              3,
		ring("messages_out_total", "recs", "records"):             1,
		ring("bytes_in_total", "recs", "records"):                 30,
		ring("bytes_out_total", "recs", "records"):                10,
		ring("skipped_total", "recs", "records"):                  0,
		ring("depth_messages", "recs", "records"):                 2,
		ring("slot_size_bytes", "recs", "records"):                1024,
		ring("capacity_bytes", "recs", "records"):                 4096,
		ring("used_bytes", "recs", "records"):                     192,
		ring("largest_record_bytes", "recs", "records"):           112,
		ringL("records", "recs", "records", "state", "committed"): 2,
		ringL("records", "recs", "records", "state", "busy"):      1,
		ringL("records", "recs", "records", "state", "skip"):      0,
		ringL("records", "recs", "records", "state", "padding"):   0,
		ringL("peers", "recs", "records", "state", "live"):        0,
	}
	if m := got[ring("mirrored", "recs", "records")]; m != 0 && m != 1 {
		t.Errorf("mirrored = %v", m)
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("no sample %s", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	// Kind-specific counters only where they apply.
	for _, k := range []string{ring("skipped_total", "spsc", "spsc"), ring("redelivered_total", "spsc", "spsc"),
		ring("lapped_total", "spsc", "spsc"), ring("lapped_total", "mpmc", "mpmc"), ring("redelivered_total", "bcast", "broadcast"),
		ring("capacity_messages", "recs", "records"), ring("redelivered_total", "recs", "records"), ring("capacity_bytes", "spsc", "spsc")} {
		if _, ok := got[k]; ok {
			t.Errorf("%s exported for a kind it does not apply to", k)
		}
	}
	if used, size := got[`shmring_arena_used_bytes{arena="`+path+`"}`], got[`shmring_arena_size_bytes{arena="`+path+`"}`]; used <= 0 || used > size {
		t.Errorf("arena used %v of size %v", used, size)
	}
	if ts := got[`shmring_arena_created_timestamp_seconds{arena="`+path+`"}`]; time.Since(time.Unix(int64(ts), 0)) > time.Hour {
		t.Errorf("arena created at %v", ts)
	}

	// Peers: the idle MPMC handle (no role yet) and the broadcast
	// subscriber, both of this process and alive; the SPSC ring's handles
	// and the detached ones are gone.
	pid := fmt.Sprintf("pid=%q", fmt.Sprint(os.Getpid()))
	if ks := series(got, "shmring_peer_up"); len(ks) != 2 {
		t.Errorf("peer_up series %v, want the idle mpmc handle and the subscriber", ks)
	}
	ks := series(got, "shmring_peer_up", `ring="mpmc"`, `role="none"`, pid)
	if len(ks) != 1 || got[ks[0]] != 1 {
		t.Errorf("idle mpmc peer: %v", ks)
	} else {
		for _, name := range []string{"shmring_peer_messages_in_total", "shmring_peer_messages_out_total", "shmring_peer_bytes_in_total", "shmring_peer_bytes_out_total"} {
			k := strings.Replace(ks[0], "shmring_peer_up", name, 1)
			if v, ok := got[k]; !ok || v != 0 {
				t.Errorf("%s = %v, %v; want 0", k, v, ok)
			}
		}
	}
	// The subscriber's entry is a peer too (its role ends in subscriber),
	// with no push counters.
	if ks := series(got, "shmring_peer_up", `ring="bcast"`, `subscriber"`, pid); len(ks) != 1 || got[ks[0]] != 1 {
		t.Errorf("subscriber's peer entry: %v", ks)
	} else if _, ok := got[strings.Replace(ks[0], "shmring_peer_up", "shmring_peer_messages_in_total", 1)]; ok {
		t.Errorf("subscriber's peer entry has messages_in")
	}
	if n := testutil.CollectAndCount(c, "shmring_subscriber_up"); n != 1 {
		t.Errorf("%d subscriber_up series, want 1", n)
	}
	sub := series(got, "shmring_subscriber_up", `ring="bcast"`, `lossy="true"`, pid)
	if len(sub) != 1 || got[sub[0]] != 1 {
		t.Fatalf("subscriber: %v", sub)
	}
	for name, v := range map[string]float64{
		"shmring_subscriber_lag_messages":          0,
		"shmring_subscriber_delivered_total":       4,
		"shmring_subscriber_bytes_total":           16,
		"shmring_subscriber_lapped_total":          1,
		"shmring_subscriber_missed_messages_total": 2,
	} {
		k := strings.Replace(sub[0], "shmring_subscriber_up", name, 1)
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// TestCollectLint: the metrics follow the Prometheus naming conventions, as
// promlint checks them (units, _total on counters only, help texts).
func TestCollectLint(t *testing.T) {
	dir := t.TempDir()
	_, cleanup := trafficArena(t, filepath.Join(dir, "lint"))
	defer cleanup()
	c, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// Every family the collector can send was sent at least once by this
	// arena, so the lint saw them all.
	families := map[string]bool{}
	for k := range scrape(t, c) {
		families[k[:strings.IndexByte(k, '{')]] = true
	}
	for _, d := range allDescs {
		name := descName(d)
		if !families[name] {
			t.Errorf("%s never sent by the traffic arena: not linted", name)
		}
	}
}

// descName digs the fully-qualified name out of a Desc's String.
func descName(d *prometheus.Desc) string {
	s := d.String()
	i := strings.Index(s, `fqName: "`)
	s = s[i+len(`fqName: "`):]
	return s[:strings.IndexByte(s, '"')]
}

// copyFile copies src to dst and then lets edit change the copy's bytes.
func copyFile(t *testing.T, src, dst string, edit func(b []byte)) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	edit(b)
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCollectBadFiles: a directory holding a good arena beside files that
// are not arenas, and arenas and rings that are broken, scrapes without
// failing: the foreign files are skipped, the broken ones reported down and
// counted, and none of them holds the scrape up for long.
func TestCollectBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	a, cleanup := trafficArena(t, good)
	defer cleanup()
	regions, err := a.Regions()
	if err != nil {
		t.Fatal(err)
	}
	off := map[string]int64{}
	for _, r := range regions {
		off[r.Name()] = r.Offset()
	}

	// Not arenas: skipped without a word.
	if err := os.WriteFile(filepath.Join(dir, "foreign.txt"), []byte("hello, not an arena\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blank"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(good, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shared"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Broken arenas: reported down.
	copyFile(t, good, filepath.Join(dir, "corrupt"), func(b []byte) { b[20] ^= 0xff }) // under the header checksum
	copyFile(t, good, filepath.Join(dir, "incomplete"), func(b []byte) {
		copy(b[arenaStateOffset:arenaStateOffset+4], []byte{0, 0, 0, 0}) // creator died before marking it ready
	})
	// An arena whose rings are broken: reported up, with those rings down.
	copyFile(t, good, filepath.Join(dir, "badrings"), func(b []byte) {
		b[off["spsc"]] ^= 0xff                                        // ring magic
		copy(b[off["mpmc"]+ringStateOffset:][:4], []byte{0, 0, 0, 0}) // ring never marked ready
	})
	// Group-writable: ours, and refused by Open's checks: reported.
	copyFile(t, good, filepath.Join(dir, "writable"), func([]byte) {})
	if err := os.Chmod(filepath.Join(dir, "writable"), 0o660); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	reported := map[string]error{}
	c, err := New(Config{Dir: dir, ReadyTimeout: 20 * time.Millisecond, OnError: func(a, r string, err error) {
		mu.Lock()
		defer mu.Unlock()
		reported[a+"/"+r] = err
	}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := scrape(t, c)
	// A ring not marked ready would cost OpenView its full second.
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("scrape took %v", d)
	}
	up := func(name string) (float64, bool) {
		v, ok := got[`shmring_arena_up{arena="`+name+`"}`]
		return v, ok
	}
	for _, name := range []string{"foreign.txt", "blank", "link", "subdir", "shared"} {
		if _, ok := up(name); ok {
			t.Errorf("%s reported; want it skipped", name)
		}
	}
	for name, want := range map[string]float64{"good": 1, "badrings": 1, "corrupt": 0, "incomplete": 0, "writable": 0} {
		if v, ok := up(name); !ok || v != want {
			t.Errorf("arena_up{%s} = %v (present %v), want %v", name, v, ok, want)
		}
	}
	for _, r := range []struct{ name, kind string }{{"spsc", "spsc"}, {"mpmc", "mpmc"}} {
		k := fmt.Sprintf(`shmring_ring_up{arena="badrings",kind=%q,ring=%q}`, r.kind, r.name)
		if v, ok := got[k]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", k, v, ok)
		}
	}
	if v := got[`shmring_ring_up{arena="badrings",kind="broadcast",ring="bcast"}`]; v != 1 {
		t.Errorf("the intact ring of badrings: up %v", v)
	}
	if v := got[`shmring_ring_messages_in_total{arena="badrings",kind="broadcast",ring="bcast"}`]; v != 6 {
		t.Errorf("the intact ring of badrings: messages_in %v", v)
	}
	if v := got[`shmring_scrape_errors_total{target="arena"}`]; v != 3 {
		t.Errorf("arena errors %v, want 3", v)
	}
	if v := got[`shmring_scrape_errors_total{target="ring"}`]; v != 2 {
		t.Errorf("ring errors %v, want 2", v)
	}
	mu.Lock()
	for key, target := range map[string]error{
		"corrupt/": arena.ErrCorrupt, "incomplete/": arena.ErrNotReady, "writable/": arena.ErrPermission,
		"badrings/spsc": ring.ErrKind, "badrings/mpmc": ring.ErrNotReady,
	} {
		if err := reported[key]; !errors.Is(err, target) {
			t.Errorf("OnError(%s) = %v, want %v", key, err, target)
		}
	}
	if len(reported) != 5 {
		t.Errorf("OnError calls %v, want 5", reported)
	}
	mu.Unlock()

	// The counter accumulates over scrapes.
	got = scrape(t, c)
	if v := got[`shmring_scrape_errors_total{target="arena"}`]; v != 6 {
		t.Errorf("arena errors after two scrapes %v, want 6", v)
	}
}

// arenaStateOffset is the arena header's State word (docs/layout.md), and
// ringStateOffset a ring header's (docs/ring.md).
const (
	arenaStateOffset = 128
	ringStateOffset  = 124
)

// TestCollectNotServedStale: an arena removed and recreated between scrapes
// is read afresh; one named explicitly and missing is reported down.
func TestCollectNotServedStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "again")
	c, err := New(Config{Arenas: []string{path, path}}) // duplicates collapse
	if err != nil {
		t.Fatal(err)
	}
	key := `shmring_ring_messages_in_total{arena="` + path + `",kind="spsc",ring="spsc"}`
	got := scrape(t, c)
	if v, ok := got[`shmring_arena_up{arena="`+path+`"}`]; !ok || v != 0 {
		t.Errorf("missing arena: up %v (present %v)", v, ok)
	}
	_, cleanup := trafficArena(t, path)
	if got = scrape(t, c); got[key] != 5 {
		t.Errorf("first arena: %s = %v", key, got[key])
	}
	cleanup()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	b, err := arena.Create(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	q, err := ring.CreateSPSC(b, "spsc", ring.Config{Slots: 2, SlotSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.TryPush([]byte("x")); err != nil {
		t.Fatal(err)
	}
	got = scrape(t, c)
	if got[key] != 1 || got[`shmring_arena_regions{arena="`+path+`"}`] != 1 {
		t.Errorf("recreated arena: %s = %v, regions %v", key, got[key], got[`shmring_arena_regions{arena="`+path+`"}`])
	}
	if _, ok := got[`shmring_ring_up{arena="`+path+`",kind="mpmc",ring="mpmc"}`]; ok {
		t.Error("a ring of the removed arena is still served")
	}
}

func TestNewInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"empty name", Config{Arenas: []string{""}}},
		{"dotdot", Config{Arenas: []string{"../x"}}},
		{"not utf-8", Config{Arenas: []string{"a\xff"}}},
		{"arenas and dir", Config{Arenas: []string{"a"}, Dir: "/tmp"}},
		{"negative timeout", Config{ReadyTimeout: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, ErrInvalid) {
				t.Errorf("New(%+v) = %v, want ErrInvalid", tc.cfg, err)
			}
		})
	}
}

// TestCollectDirMissing: a directory that cannot be listed is a counted
// error, not a failed scrape.
func TestCollectDirMissing(t *testing.T) {
	var calls int
	c, err := New(Config{Dir: filepath.Join(t.TempDir(), "nope"), OnError: func(a, r string, err error) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	got := scrape(t, c)
	if got[`shmring_scrape_errors_total{target="dir"}`] != 1 || calls != 1 {
		t.Errorf("dir errors %v, OnError calls %d; want 1, 1", got[`shmring_scrape_errors_total{target="dir"}`], calls)
	}
}
