package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// metricsProducerRole is the other process of TestMetricsEndToEnd: it
// pushes metricsMsgSize-byte messages into an MPMC ring, a few at a time
// with a pause between, until the stream is closed.
const metricsProducerRole = "metrics-mpmc-producer"

const metricsMsgSize = 24

func init() { roles[metricsProducerRole] = metricsProducer }

func metricsProducer(args []string) error {
	a := xproc.ParseArgs(args)
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	defer ar.Close()
	q, err := ring.OpenMPMC(ar, a["ring"])
	if err != nil {
		return err
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg := make([]byte, metricsMsgSize)
	for i := 0; ; i++ {
		if err := q.Push(ctx, msg); err != nil {
			if errors.Is(err, ring.ErrClosed) {
				return nil
			}
			return err
		}
		if i%32 == 31 {
			time.Sleep(time.Millisecond) // a trickle, not a saturated core
		}
	}
}

// startMetrics runs `shmring metrics args...` in the background and returns
// the address it listens on, and a channel that receives its exit status.
func startMetrics(t *testing.T, args ...string) (string, <-chan int, *syncBuffer) {
	t.Helper()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(append([]string{"metrics"}, args...), &stdout, &stderr) }()
	re := regexp.MustCompile(`listening on http://([^/\s]+)/metrics`)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], done, &stderr
		}
		select {
		case code := <-done:
			t.Fatalf("shmring metrics exited %d before listening: %s", code, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("shmring metrics did not say where it listens: %q", stderr.String())
	return "", nil, nil
}

// stopMetrics sends the process SIGTERM, which the running command has
// caught, and checks it exits 0.
func stopMetrics(t *testing.T, done <-chan int, stderr *syncBuffer) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d after SIGTERM, want 0: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shmring metrics did not stop on SIGTERM")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// families scrapes url and parses the text format.
func families(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return mfs
}

// sample finds the value of the metric of family name whose labels include
// want (name -> value), and reports whether there is exactly one.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	var v float64
	n := 0
	for _, m := range mfs[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, w := range want {
			if have[k] != w {
				match = false
			}
		}
		if match {
			n++
			v = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return v, n == 1
}

// TestMetricsEndToEnd serves an arena whose three rings carry traffic (an
// SPSC and a broadcast ring between goroutines, an MPMC ring fed by another
// process), scrapes /metrics over HTTP several times, and checks that the
// counters move between scrapes and agree with ring.Inspect read just
// before and just after each scrape: every counter is non-decreasing in
// shared memory, so before <= scraped <= after; and the byte counts are
// within the documented publication lag (64 operations per live handle) of
// the exact message counts.
func TestMetricsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "e2e")
	cfg := ring.Config{Slots: 64, SlotSize: 64}
	size, err := ring.ArenaSize([]ring.Spec{{Kind: ring.KindSPSC, Config: cfg}, {Kind: ring.KindMPMC, Config: cfg}, {Kind: ring.KindBroadcast, Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := arena.Create(path, size)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sp, err := ring.CreateSPSC(a, "spsc", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sc, err := ring.OpenSPSC(a, "spsc")
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	mc, err := ring.CreateMPMC(a, "mpmc", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	bp, err := ring.CreateBroadcast(a, "bcast", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	bs, err := ring.Subscribe(a, "bcast", ring.SubscribeOptions{Lossy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	msg := make([]byte, metricsMsgSize)
	produce := func(push func([]byte) error) {
		for i := 0; ctx.Err() == nil; i++ {
			if err := push(msg); err != nil && !errors.Is(err, ring.ErrFull) {
				t.Errorf("push: %v", err)
				return
			}
			if i%32 == 31 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	consume := func(name string, pop func(context.Context, []byte) (int, error)) {
		buf := make([]byte, cfg.SlotSize)
		for {
			_, err := pop(ctx, buf)
			switch {
			case err == nil, errors.Is(err, ring.ErrLapped):
			case ctx.Err() != nil, errors.Is(err, io.EOF):
				return
			default:
				t.Errorf("%s: pop: %v", name, err)
				return
			}
		}
	}
	wg.Go(func() { produce(sp.TryPush) })
	wg.Go(func() { produce(bp.TryPush) })
	wg.Go(func() { consume("spsc", sc.Pop) })
	wg.Go(func() { consume("mpmc", mc.Pop) })
	wg.Go(func() { consume("bcast", bs.Pop) })
	child := xproc.StartT(t, metricsProducerRole, "path="+path, "ring=mpmc")

	addr, done, stderr := startMetrics(t, "--listen", "127.0.0.1:0", path)
	url := "http://" + addr + "/metrics"

	rings := []struct{ name, kind string }{{"spsc", "spsc"}, {"mpmc", "mpmc"}, {"bcast", "broadcast"}}
	inspect := func() map[string]ring.Stats {
		out := map[string]ring.Stats{}
		for _, r := range rings {
			st, err := ring.Inspect(a, r.name)
			if err != nil {
				t.Fatal(err)
			}
			out[r.name] = st
		}
		return out
	}
	counters := []struct {
		metric string
		field  func(ring.Stats) uint64
	}{
		{"shmring_ring_messages_in_total", func(s ring.Stats) uint64 { return s.MsgsIn }},
		{"shmring_ring_messages_out_total", func(s ring.Stats) uint64 { return s.MsgsOut }},
		{"shmring_ring_bytes_in_total", func(s ring.Stats) uint64 { return s.BytesIn }},
		{"shmring_ring_bytes_out_total", func(s ring.Stats) uint64 { return s.BytesOut }},
		{"shmring_ring_full_events_total", func(s ring.Stats) uint64 { return s.FullEvents }},
		{"shmring_ring_empty_events_total", func(s ring.Stats) uint64 { return s.EmptyEvents }},
		{"shmring_ring_futex_sleeps_total", func(s ring.Stats) uint64 { return s.Sleeps }},
		{"shmring_ring_futex_wakes_total", func(s ring.Stats) uint64 { return s.Wakes }},
	}
	// lag is the documented slack of the summed counters: 64 operations
	// per live handle (plus an MPMC claim not yet committed).
	lag := func(s ring.Stats) float64 { return float64(65 * s.Peers) }

	last := map[string]float64{} // ring -> messages_in / out at the previous scrape
	const scrapes = 3
	for i := 0; i < scrapes; i++ {
		// Let every ring move well past the last scrape first.
		deadline := time.Now().Add(10 * time.Second)
		for {
			moved := true
			for name, st := range inspect() {
				if float64(st.MsgsIn) < last[name+"/in"]+200 || float64(st.MsgsOut) < last[name+"/out"]+200 {
					moved = false
				}
			}
			if moved {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("scrape %d: traffic did not move: %+v", i, inspect())
			}
			time.Sleep(5 * time.Millisecond)
		}

		before := inspect()
		mfs := families(t, url)
		after := inspect()
		for _, r := range rings {
			l := map[string]string{"arena": path, "ring": r.name, "kind": r.kind}
			if v, ok := sample(mfs, "shmring_ring_up", l); !ok || v != 1 {
				t.Errorf("scrape %d: %s up %v (found %v)", i, r.name, v, ok)
			}
			got := map[string]float64{}
			for _, c := range counters {
				v, ok := sample(mfs, c.metric, l)
				if !ok {
					t.Errorf("scrape %d: no %s for %s", i, c.metric, r.name)
					continue
				}
				got[c.metric] = v
				if lo, hi := float64(c.field(before[r.name])), float64(c.field(after[r.name])); v < lo || v > hi {
					t.Errorf("scrape %d: %s{ring=%s} = %v, not within Inspect's [%v, %v]", i, c.metric, r.name, v, lo, hi)
				}
			}
			in, out := got["shmring_ring_messages_in_total"], got["shmring_ring_messages_out_total"]
			if in <= last[r.name+"/in"] || out <= last[r.name+"/out"] {
				t.Errorf("scrape %d: %s did not move: in %v out %v, before %v %v", i, r.name, in, out, last[r.name+"/in"], last[r.name+"/out"])
			}
			last[r.name+"/in"], last[r.name+"/out"] = in, out
			// Bytes against the exact message counts: never ahead, behind
			// by at most the publication lag.
			bytesIn := got["shmring_ring_bytes_in_total"] / metricsMsgSize
			if hi, lo := float64(after[r.name].MsgsIn), float64(before[r.name].MsgsIn)-lag(before[r.name]); bytesIn > hi || bytesIn < lo {
				t.Errorf("scrape %d: %s bytes_in is %v messages' worth, want within [%v, %v]", i, r.name, bytesIn, lo, hi)
			}
			if r.kind != "broadcast" { // broadcast's messages_out lags as its bytes do
				bytesOut := got["shmring_ring_bytes_out_total"] / metricsMsgSize
				if hi, lo := float64(after[r.name].MsgsOut), float64(before[r.name].MsgsOut)-lag(before[r.name]); bytesOut > hi || bytesOut < lo {
					t.Errorf("scrape %d: %s bytes_out is %v messages' worth, want within [%v, %v]", i, r.name, bytesOut, lo, hi)
				}
			}
			if v, ok := sample(mfs, "shmring_ring_capacity_messages", l); !ok || v != float64(cfg.Slots) {
				t.Errorf("scrape %d: %s capacity %v", i, r.name, v)
			}
		}
		// The other process's producer and our subscriber are listed.
		pl := map[string]string{"arena": path, "ring": "mpmc", "kind": "mpmc", "pid": strconv.Itoa(child.Pid()), "role": "producer"}
		if v, ok := sample(mfs, "shmring_peer_up", pl); !ok || v != 1 {
			t.Errorf("scrape %d: the child's producer: up %v (found %v)", i, v, ok)
		}
		sl := map[string]string{"arena": path, "ring": "bcast", "pid": strconv.Itoa(os.Getpid()), "lossy": "true"}
		if v, ok := sample(mfs, "shmring_subscriber_up", sl); !ok || v != 1 {
			t.Errorf("scrape %d: the subscriber: up %v (found %v)", i, v, ok)
		}
		if _, ok := sample(mfs, "shmring_subscriber_lag_messages", sl); !ok {
			t.Errorf("scrape %d: no subscriber lag", i)
		}
	}

	if code, body := get(t, "http://"+addr+"/"); code != http.StatusOK || !strings.Contains(body, `href="/metrics"`) {
		t.Errorf("GET /: %d %q", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", code)
	}
	stopMetrics(t, done, stderr)

	// The child stops when the stream is closed.
	if err := mc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	xproc.WaitAll(t, time.Now().Add(10*time.Second), []*xproc.Child{child}, nil)
}

// TestMetricsDiscovery: with no ARENA, the arenas of --dir are served, a
// broken one as down (and logged once however often it is scraped), and
// --go-metrics adds the exporter's own runtime metrics.
func TestMetricsDiscovery(t *testing.T) {
	dir := t.TempDir()
	a, err := arena.Create(filepath.Join(dir, "good"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	q, err := ring.CreateSPSC(a, "q", ring.Config{Slots: 4, SlotSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an arena"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "good"))
	if err != nil {
		t.Fatal(err)
	}
	b[20] ^= 0xff // under the header checksum
	if err := os.WriteFile(filepath.Join(dir, "corrupt"), b, 0o600); err != nil {
		t.Fatal(err)
	}

	addr, done, stderr := startMetrics(t, "--listen", "127.0.0.1:0", "--dir", dir, "--go-metrics")
	url := "http://" + addr + "/metrics"
	var mfs map[string]*dto.MetricFamily
	for range 2 {
		mfs = families(t, url)
	}
	for name, want := range map[string]float64{"good": 1, "corrupt": 0} {
		if v, ok := sample(mfs, "shmring_arena_up", map[string]string{"arena": name}); !ok || v != want {
			t.Errorf("arena_up{%s} = %v (found %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := sample(mfs, "shmring_arena_up", map[string]string{"arena": "notes.txt"}); ok {
		t.Error("a foreign file is reported")
	}
	if v, ok := sample(mfs, "shmring_scrape_errors_total", map[string]string{"target": "arena"}); !ok || v != 2 {
		t.Errorf("arena scrape errors %v after two scrapes, want 2", v)
	}
	if mfs["go_goroutines"] == nil || mfs["process_open_fds"] == nil {
		t.Error("--go-metrics: no go_goroutines or process_open_fds")
	}
	stopMetrics(t, done, stderr)
	if n := strings.Count(stderr.String(), "arena corrupt:"); n != 1 {
		t.Errorf("the corrupt arena logged %d times, want once:\n%s", n, stderr.String())
	}
}

// TestMetricsCommandLine: bad command lines exit 2 before listening; an
// address that cannot be listened on exits 1.
func TestMetricsCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined"},
		{"listen without port", []string{"--listen", "localhost"}, "--listen"},
		{"listen without value", []string{"--listen"}, "needs an argument"},
		{"dir and arenas", []string{"--dir", t.TempDir(), "x"}, "exclude each other"},
		{"empty arena name", []string{""}, "bad name"},
		{"dotdot arena name", []string{"a/../b"}, "bad name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"metrics"}, tc.args...), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "usage: shmring metrics") {
				t.Errorf("stderr lacks %q and the usage:\n%s", tc.want, stderr.String())
			}
		})
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"metrics", "--listen", taken.Addr().String()}, &stdout, &stderr); code != exitFailure {
		t.Errorf("listening on a taken port: exit %d, want 1; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "cannot listen") {
		t.Errorf("stderr: %q", stderr.String())
	}

	stdout.Reset()
	if code := run([]string{"help", "metrics"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "-listen") {
		t.Errorf("help metrics: exit %d\n%s", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "metrics") {
		t.Errorf("help: exit %d\n%s", code, stdout.String())
	}
}
