package bench

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config selects what a run measures.
type Config struct {
	// LatencyDuration is how long each ping-pong runs after warm-up.
	LatencyDuration time.Duration
	// ThroughputDuration is how long each one-way stream runs per size.
	ThroughputDuration time.Duration
	// Warmup runs before each latency measurement; not recorded.
	Warmup time.Duration
	// LatencySize is the message size of the ping-pong, each way.
	LatencySize int
	// Sizes are the message sizes of the throughput runs.
	Sizes []int
	// Only restricts the run to mechanisms whose name (or alias, such as
	// "streamfloor") contains one of these substrings, or whose alias is
	// one of them ("c": the C peer's rows) (empty: all; see selected).
	Only []string
	// CPUs are the CPUs the two sides are pinned to; -1 disables pinning.
	CPUs [2]int
	// Dir is where the arena file goes (default /dev/shm).
	Dir string
	// IdleProbe is how long the blocking strategies' idle CPU probe lasts.
	IdleProbe time.Duration
}

// DefaultConfig is the default run: under 60 seconds on 2 cores.
func DefaultConfig() Config {
	return Config{
		LatencyDuration:    time.Second,
		ThroughputDuration: 400 * time.Millisecond,
		Warmup:             200 * time.Millisecond,
		LatencySize:        64,
		Sizes:              []int{8, 64, 512, 4096, 65536},
		CPUs:               [2]int{0, 1},
		Dir:                "/dev/shm",
		IdleProbe:          time.Second,
	}
}

// Scale sets both durations from one total-duration knob: d is the
// latency duration per mechanism, throughput runs get 0.4 d per size.
func (c *Config) Scale(d time.Duration) {
	c.LatencyDuration = d
	c.ThroughputDuration = d * 2 / 5
	c.Warmup = min(d/5, 200*time.Millisecond)
}

// ParseSizes parses "8,64,4K,64KiB".
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToUpper(f))
		if f == "" {
			continue
		}
		mult := 1
		for _, suf := range []struct {
			s string
			m int
		}{{"KIB", 1024}, {"KB", 1024}, {"K", 1024}, {"MIB", 1 << 20}, {"M", 1 << 20}, {"B", 1}} {
			if strings.HasSuffix(f, suf.s) {
				f, mult = strings.TrimSuffix(f, suf.s), suf.m
				break
			}
		}
		n, err := strconv.Atoi(f)
		if err != nil || n*mult < 8 || n*mult > 1<<22 {
			return nil, fmt.Errorf("%w: size %q (want 8 bytes .. 4 MiB)", ErrConfig, f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no sizes", ErrConfig)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (c *Config) validate() error {
	if c.LatencyDuration <= 0 || c.ThroughputDuration <= 0 || c.Warmup < 0 {
		return fmt.Errorf("%w: durations must be positive", ErrConfig)
	}
	if c.LatencySize < 8 || c.LatencySize > 1<<16 {
		return fmt.Errorf("%w: latency size %d (want 8..65536)", ErrConfig, c.LatencySize)
	}
	if len(c.Sizes) == 0 {
		return fmt.Errorf("%w: no throughput sizes", ErrConfig)
	}
	for _, s := range c.Sizes {
		if s < 8 || s > 1<<22 {
			return fmt.Errorf("%w: size %d", ErrConfig, s)
		}
	}
	n := runtime.NumCPU()
	for _, cpu := range c.CPUs {
		if cpu >= n {
			return fmt.Errorf("%w: CPU %d does not exist (%d CPUs)", ErrConfig, cpu, n)
		}
	}
	return nil
}

// selected reports whether m is selected by c.Only: an entry that is an
// alias ("streamfloor", "records", "c") selects exactly the rows with that
// alias; any other entry selects the rows whose name or alias contains it.
// (A short alias such as "c" would otherwise match most names.)
func (c *Config) selected(m mechanism) bool {
	if len(c.Only) == 0 {
		return true
	}
	for _, o := range c.Only {
		switch {
		case o == "":
		case isAlias(o):
			if m.alias == o {
				return true
			}
		case strings.Contains(m.name, o) || m.alias != "" && strings.Contains(m.alias, o):
			return true
		}
	}
	return false
}

// isAlias reports whether s is the alias of a row of either table.
func isAlias(s string) bool {
	for _, m := range mechanisms() {
		if m.alias == s {
			return true
		}
	}
	return s == frameAlias
}
