package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/shmring/shmring/bench"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("bench", "[flags]",
		"Bench measures cross-process round-trip latency and one-way throughput of shmring's\n"+
			"rings against a Go channel, pipes, Unix sockets and TCP loopback, and against three\n"+
			"floors: a cache line bounced with plain atomics, a bare futex ping-pong, and the\n"+
			"simplest batched ring streaming (\"stream floor\", in turn with SPSC busy-spin), in\n"+
			"one run, each side pinned to its own CPU. Round trips are reported as per-sample\n"+
			"percentiles (a clock read each) and as batch means (\"mean\": one clock read per\n"+
			"batch of up to 1,000), on which the ratios to the floors are based. The frame rows\n"+
			"(--only records) stream 1-8 MiB and 64 B-64 KiB frames through a record ring, the\n"+
			"fixed-slot SPSC ring and a Unix socket, and time their hand-off at 1, 4 and 8 MiB.\n"+
			"The C peer rows (--only c; skipped with a warning without gcc) build c/bench/cpeer.c\n"+
			"and run it as the SPSC busy-spin peer: the ping-pong and 64 B streams both ways,\n"+
			"each beside the same measurement with the Go peer (\"vs Go\").\n"+
			"The default run takes about a minute.", stderr)
	def := bench.DefaultConfig()
	duration := flags.Duration("duration", def.LatencyDuration, "latency run per mechanism (throughput runs get 0.4x per size)")
	sizes := flags.String("sizes", "8,64,512,4K,64K", "throughput message sizes")
	only := flags.String("only", "", "comma-separated substrings: measure only matching mechanisms (e.g. spsc,unix; futex and streamfloor name the floors; records the record ring's frame rows; c the C peer's rows)")
	cpus := flags.String("cpus", "0,1", "the two CPUs to pin the sides to, or \"none\"")
	dir := flags.String("dir", def.Dir, "directory for the arena files (removed when done)")
	latSize := flags.Int("msg", def.LatencySize, "latency message size in bytes")
	asJSON := flags.Bool("json", false, "print the report as JSON instead of a table")
	plot := flags.String("plot", "", "also draw the latency distribution and throughput by size to FILE (.svg or .png)")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 0 {
		fmt.Fprintf(stderr, "shmring bench: unexpected argument %q\n", flags.Arg(0))
		flags.Usage()
		return errUsage
	}
	cfg := def
	cfg.Scale(*duration)
	cfg.Dir, cfg.LatencySize = *dir, *latSize
	var err error
	if cfg.Sizes, err = bench.ParseSizes(*sizes); err != nil {
		fmt.Fprintf(stderr, "shmring bench: %v\n", err)
		return errUsage
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if cfg.CPUs, err = parseCPUs(*cpus); err != nil {
		fmt.Fprintf(stderr, "shmring bench: %v\n", err)
		return errUsage
	}
	if *plot != "" && !strings.HasSuffix(*plot, ".svg") && !strings.HasSuffix(*plot, ".png") {
		fmt.Fprintf(stderr, "shmring bench: --plot wants a .svg or .png file\n")
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var prog bench.Progress = bench.NopProgress()
	if f, ok := stderr.(*os.File); ok {
		prog = bench.NewProgress(f, bench.Steps(cfg))
	}
	r, err := bench.Run(ctx, cfg, prog)
	if err != nil && r == nil {
		return err
	}
	if *asJSON {
		if werr := r.WriteJSON(stdout); werr != nil {
			return werr
		}
	} else if werr := r.WriteTable(stdout); werr != nil {
		return werr
	}
	if *plot != "" {
		if perr := r.Plot(*plot); perr != nil {
			return perr
		}
		fmt.Fprintf(stderr, "shmring bench: plot written to %s\n", *plot)
	}
	if err != nil {
		return fmt.Errorf("bench interrupted: %w", err)
	}
	fmt.Fprintf(stderr, "shmring bench: %s\n", r.Summary())
	return nil
}

func parseCPUs(s string) ([2]int, error) {
	if s == "none" {
		return [2]int{-1, -1}, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return [2]int{}, fmt.Errorf("--cpus wants two CPUs like 0,1, or none")
	}
	var out [2]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return out, fmt.Errorf("--cpus: bad CPU %q", p)
		}
		out[i] = n
	}
	return out, nil
}
