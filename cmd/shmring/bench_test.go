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
	for _, want := range []string{"shmring-spsc/spin", "shmring-mpmc/block", "floor (cache line)", "unix-seqpacket",
		"tcp-loopback", "pipe", "go-chan", "p99.99", "Targets"} {
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
