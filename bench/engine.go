package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/internal/cpu"
)

// Steps returns how many measurements Run will make with cfg, for a
// progress display.
func Steps(cfg Config) int {
	n := 1 // the leading floor row
	for _, m := range mechanisms() {
		if !cfg.selected(m.name) {
			continue
		}
		if m.latency {
			n++
			if m.floorPair {
				n++
			}
		}
		if m.stream {
			n += len(cfg.Sizes)
		}
	}
	return n
}

// Run measures every selected mechanism and returns the report. ctx
// cancels the run between (and, through deadlines, within) measurements;
// arena files are unlinked as soon as the peer has opened them, so an
// interrupted run leaves nothing in /dev/shm.
func Run(ctx context.Context, cfg Config, prog Progress) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if prog == nil {
		prog = NopProgress()
	}
	defer prog.Done()
	e := &engine{cfg: cfg, prog: prog}
	r := &Report{Started: time.Now()}
	info := cpu.Detect()
	r.Machine = Machine{CPU: info.Brand, LogicalCPU: runtime.NumCPU(), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Kernel: kernelRelease(), CPUs: cfg.CPUs}
	r.Settings = Settings{LatencyDuration: cfg.LatencyDuration.Seconds(), ThroughputDuration: cfg.ThroughputDuration.Seconds(),
		LatencySize: cfg.LatencySize, Sizes: cfg.Sizes, Only: cfg.Only}
	if runtime.NumCPU() < 2 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("only %d CPU: both sides share it, so spinning mechanisms measure the scheduler, not the hand-off", runtime.NumCPU()))
		e.cfg.CPUs = [2]int{-1, -1}
		r.Machine.CPUs = e.cfg.CPUs
	}
	for _, m := range mechanisms() {
		if cfg.selected(m.name) && m.peerCount()+1 > runtime.NumCPU() {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s runs %d processes on %d CPUs: its %d peer processes share the peer's CPU",
				m.name, m.peerCount()+1, runtime.NumCPU(), m.peerCount()))
		}
	}
	if runtime.GOOS != "linux" {
		r.Warnings = append(r.Warnings, "CPU pinning and futexes are Linux-only; numbers here are not comparable")
	}

	// Latency.
	floorRow := e.floor(ctx, "")
	r.Latency = append(r.Latency, floorRow)
	for _, m := range mechanisms() {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if !m.latency || !cfg.selected(m.name) {
			continue
		}
		var fl LatencyRow
		if m.floorPair {
			fl = e.floor(ctx, m.name)
		}
		row := e.latency(ctx, m)
		if m.floorPair && fl.Error == "" && fl.P50 > 0 {
			row.FloorP50 = fl.P50
			row.VsFloor = row.P50 / fl.P50
		}
		r.Latency = append(r.Latency, row)
	}
	// Throughput.
	for _, size := range cfg.Sizes {
		for _, m := range mechanisms() {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			if !m.stream || !cfg.selected(m.name) {
				continue
			}
			r.Throughput = append(r.Throughput, e.throughput(ctx, m, size))
		}
	}
	ratios(r)
	r.Targets = targets(r)
	r.Elapsed = time.Since(r.Started).Seconds()
	return r, ctx.Err()
}

// engine is one run's state: the configuration, the progress display and
// the counter that names arena files.
type engine struct {
	cfg  Config
	prog Progress
	seq  atomic.Int64
}

// arenaPath names a fresh arena file for one measurement.
func (e *engine) arenaPath() string {
	return filepath.Join(e.cfg.Dir, fmt.Sprintf("shmring-bench-%d-%d", os.Getpid(), e.seq.Add(1)))
}
