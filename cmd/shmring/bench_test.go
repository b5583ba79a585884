package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmring/shmring/bench"
	"github.com/shmring/shmring/internal/xproc"
)

// TestMain plays the roles main does: the bench harness re-executes this
// test binary as its peer.
func TestMain(m *testing.M) { xproc.Main(m, roles) }

// TestBenchEndToEnd runs `shmring bench` in a short mode and checks the
// table, the JSON and the plot are produced and well formed. It makes no
// timing assertion.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every mechanism across processes")
	}
	dir := t.TempDir()
	common := []string{"--duration", "60ms", "--sizes", "64,4K", "--dir", dir}

	var out, errOut bytes.Buffer
	svg := filepath.Join(dir, "bench.svg")
	if code := run(append([]string{"bench", "--plot", svg}, common...), &out, &errOut); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	table := out.String()
	for _, want := range []string{"shmring-spsc/spin", "shmring-mpmc/block", "shmring-broadcast/spin", "shmring-broadcast-2sub/adaptive",
		"floor (cache line)", "unix-seqpacket", "tcp-loopback", "pipe", "go-chan", "p99.99", "Targets"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "error") {
		t.Errorf("a measurement failed:\n%s", table)
	}
	b, err := os.ReadFile(svg)
	if err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Fatalf("plot %s: %v (%d bytes)", svg, err, len(b))
	}

	out.Reset()
	errOut.Reset()
	pngPath := filepath.Join(dir, "bench.png")
	args := append([]string{"bench", "--json", "--only", "spsc/spin,unix-stream", "--plot", pngPath}, common...)
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r bench.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if len(r.Latency) < 3 || len(r.Throughput) != 4 {
		t.Fatalf("JSON has %d latency and %d throughput rows", len(r.Latency), len(r.Throughput))
	}
	for _, l := range r.Latency {
		if l.Error != "" || l.Samples == 0 || l.P50 <= 0 || l.Max < l.P50 {
			t.Errorf("latency row %+v", l)
		}
	}
	for _, tr := range r.Throughput {
		if tr.Error != "" || tr.Messages == 0 || tr.MBPerSec <= 0 {
			t.Errorf("throughput row %+v", tr)
		}
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cfg, err := png.DecodeConfig(f); err != nil || cfg.Width == 0 {
		t.Fatalf("png: %v", err)
	}
	// The arena files are gone.
	left, _ := filepath.Glob(filepath.Join(dir, "shmring-bench-*"))
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestBenchOnlyBroadcast runs the broadcast rows alone (`--only
// broadcast`) as JSON: the 1-subscriber RTT row with its floor, and the 1-
// and 2-subscriber-process throughput rows, each acknowledged in full by
// every subscriber. It makes no timing assertion.
func TestBenchOnlyBroadcast(t *testing.T) {
	if testing.Short() {
		t.Skip("runs broadcast subscribers across processes")
	}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"bench", "--json", "--only", "broadcast", "--duration", "60ms", "--sizes", "64", "--dir", dir}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r bench.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	var latency, rates []string
	for _, l := range r.Latency {
		latency = append(latency, l.Mechanism)
		if l.Error != "" || l.Samples == 0 || l.P50 <= 0 {
			t.Errorf("latency row %+v", l)
		}
	}
	for _, tr := range r.Throughput {
		rates = append(rates, tr.Mechanism)
		if !strings.Contains(tr.Mechanism, "broadcast") || tr.Error != "" || tr.Messages == 0 {
			t.Errorf("throughput row %+v", tr)
		}
	}
	want := []string{"floor (cache line)", "shmring-broadcast/spin"}
	if strings.Join(latency, ",") != strings.Join(want, ",") {
		t.Errorf("latency rows %q, want %q", latency, want)
	} else if r.Latency[1].FloorP50 <= 0 {
		t.Errorf("broadcast RTT row without its floor: %+v", r.Latency[1])
	}
	want = []string{"shmring-broadcast/spin", "shmring-broadcast/adaptive", "shmring-broadcast-2sub/spin", "shmring-broadcast-2sub/adaptive"}
	if strings.Join(rates, ",") != strings.Join(want, ",") {
		t.Errorf("throughput rows %q, want %q", rates, want)
	}
	found := false
	for _, tg := range r.Targets {
		found = found || strings.Contains(tg.Name, "2 subscriber processes vs 1")
	}
	if !found {
		t.Errorf("no 2-subscriber target in %+v", r.Targets)
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--sizes", "3"},
		{"bench", "--cpus", "0"},
		{"bench", "--plot", "x.gif"},
		{"bench", "extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
