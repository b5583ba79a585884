package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shortCConfig is a brief --only c run into dir: a few tens of
// milliseconds per measurement, pinned as a real run is when there are
// two CPUs.
func shortCConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Scale(60 * time.Millisecond)
	cfg.Sizes = []int{4096} // the C streams run at 64 B whatever this says
	cfg.Only = []string{cAlias}
	cfg.Dir = dir
	return cfg
}

// TestCPeerRows runs the C peer's rows briefly (when gcc is installed):
// the harness builds c/bench/cpeer.c, the C program answers the
// ping-pong, sinks a Go producer's stream and sources a stream to the Go
// consumer, each count checked by the other side, and every row carries
// its Go twin's figure and the ratio to it. It makes no timing assertion.
func TestCPeerRows(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is not installed: the C peer's rows are skipped (TestCPeerMissing checks how)")
	}
	if testing.Short() {
		t.Skip("builds the C peer and runs it across processes")
	}
	dir := t.TempDir()
	r, err := Run(context.Background(), shortCConfig(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) > 0 && strings.Contains(strings.Join(r.Warnings, "\n"), "C peer") {
		t.Fatalf("warnings: %q", r.Warnings)
	}
	var lat []string
	for _, l := range r.Latency {
		lat = append(lat, l.Mechanism)
		if l.Error != "" {
			t.Errorf("latency row %s: %s", l.Mechanism, l.Error)
		}
	}
	if got, want := strings.Join(lat, ","), nameFloor+","+nameCPingPong; got != want {
		t.Fatalf("latency rows %q, want %q", got, want)
	}
	if l := r.Latency[1]; l.Samples == 0 || l.P50 <= 0 || l.BatchMeanP50 <= 0 || l.GoBatchMean <= 0 || l.VsGo <= 0 {
		t.Errorf("C ping-pong row without its figures or its Go twin's: %+v", l)
	}
	var rates []string
	for _, tr := range r.Throughput {
		rates = append(rates, tr.Mechanism)
		if tr.Error != "" || tr.Size != cStreamSize || tr.Messages == 0 || tr.Runs != altRuns || tr.GoMsgsPerSec <= 0 || tr.VsGo <= 0 {
			t.Errorf("throughput row %+v", tr)
		}
	}
	if got, want := strings.Join(rates, ","), nameCSink+","+nameCSource; got != want {
		t.Errorf("throughput rows %q, want %q", got, want)
	}
	var info int
	for _, tg := range r.Targets {
		if strings.Contains(tg.Name, "C ") && tg.Info {
			info++
		}
	}
	if info != 3 {
		t.Errorf("%d C peer figures among the targets, want 3: %+v", info, r.Targets)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "shmring-bench-*"))
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestCPeerMissing: without gcc the C rows are skipped with a warning
// saying so, and the run succeeds.
func TestCPeerMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no gcc on it
	cfg := shortCConfig(t.TempDir())
	cfg.Scale(20 * time.Millisecond)
	r, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Latency {
		if l.Mechanism != nameFloor {
			t.Errorf("latency row %s measured without a C peer", l.Mechanism)
		} else if l.Error != "" {
			t.Errorf("floor row: %s", l.Error)
		}
	}
	if len(r.Throughput) != 0 {
		t.Errorf("throughput rows without a C peer: %+v", r.Throughput)
	}
	if w := strings.Join(r.Warnings, "\n"); !strings.Contains(w, "C peer rows (--only c) skipped") || !strings.Contains(w, "gcc is not installed") {
		t.Errorf("warnings %q", r.Warnings)
	}
}

// TestBuildCPeer: the sources are found from this package's directory,
// the program builds, and its usage is refused with status 2; without
// gcc the error is errNoCPeer.
func TestBuildCPeer(t *testing.T) {
	if src := cpeerSources(); src == "" || !fileExists(filepath.Join(src, "bench", "cpeer.c")) {
		t.Fatalf("C sources not found: %q", src)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		if _, _, err := buildCPeer(context.Background()); !errors.Is(err, errNoCPeer) {
			t.Fatalf("without gcc: %v, want errNoCPeer", err)
		}
		t.Skip("gcc is not installed")
	}
	path, remove, err := buildCPeer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = exec.Command(path).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("cpeer without arguments: %v, want exit status 2", err)
	}
	remove()
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("build directory left: %v", err)
	}
}

// TestPairGo checks the C rows' ratios to their Go twins, and that a
// failed twin or row records none.
func TestPairGo(t *testing.T) {
	row := LatencyRow{BatchMeanP50: 300}
	pairGo(&row, LatencyRow{BatchMeanP50: 250})
	if row.GoBatchMean != 250 || row.VsGo != 1.2 {
		t.Errorf("pairGo: %+v", row)
	}
	row = LatencyRow{BatchMeanP50: 300}
	pairGo(&row, LatencyRow{BatchMeanP50: 250, Error: "x"})
	if row.GoBatchMean != 0 || row.VsGo != 0 {
		t.Errorf("pairGo with a failed twin: %+v", row)
	}
	tr := ThroughputRow{MsgsPerSec: 6e6}
	pairGoRate(&tr, ThroughputRow{MsgsPerSec: 4e6})
	if tr.GoMsgsPerSec != 4e6 || tr.VsGo != 1.5 {
		t.Errorf("pairGoRate: %+v", tr)
	}
	tr = ThroughputRow{Error: "x"}
	pairGoRate(&tr, ThroughputRow{MsgsPerSec: 4e6})
	if tr.VsGo != 0 {
		t.Errorf("pairGoRate on a failed row: %+v", tr)
	}
}

// TestRenderCPeerRows: a C row's Go twin and "vs Go" sit under their
// headers, beside the Go rows, which leave those cells empty.
func TestRenderCPeerRows(t *testing.T) {
	r := &Report{
		Settings: Settings{LatencySize: 64},
		Latency: []LatencyRow{
			{Mechanism: nameSPSCSpin, Samples: 10, P50: 400, BatchMeanP50: 330, IdleCPU: -1},
			{Mechanism: nameCPingPong, Samples: 10, P50: 390, BatchMeanP50: 320, IdleCPU: -1, GoBatchMean: 340, VsGo: 320.0 / 340},
		},
		Throughput: []ThroughputRow{
			{Mechanism: nameSPSCSpin, Size: 64, MsgsPerSec: 5e6, MBPerSec: 320, Runs: 3},
			{Mechanism: nameCSource, Size: 64, MsgsPerSec: 4.5e6, MBPerSec: 288, Runs: 3, GoMsgsPerSec: 5e6, VsGo: 0.9},
		},
	}
	out := renderTable(t, r)
	lat := section(t, out, "Round-trip latency")
	if got := cellUnder(lat[0], lat[2], "vs Go"); got != "0.94x" {
		t.Errorf("latency vs Go %q, want 0.94x:\n%s", got, out)
	}
	if got := cellUnder(lat[0], lat[2], "Go mean"); got != "340 ns" {
		t.Errorf("latency Go mean %q, want 340 ns:\n%s", got, out)
	}
	if got := cellUnder(lat[0], lat[1], "vs Go"); got != "" {
		t.Errorf("the Go row has vs Go %q", got)
	}
	tp := section(t, out, "One-way throughput")
	if got := cellUnder(tp[0], tp[2], "vs Go"); got != "0.90x" {
		t.Errorf("throughput vs Go %q, want 0.90x:\n%s", got, out)
	}
	if got := cellUnder(tp[0], tp[2], "Go msgs/s"); got != "5.00 M/s" {
		t.Errorf("throughput Go msgs/s %q, want 5.00 M/s:\n%s", got, out)
	}
}
