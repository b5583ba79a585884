package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shmring/shmring/arena"
)

// Config says which arenas a Collector exports.
type Config struct {
	// Arenas are the arenas to export, as names or paths (arena.Resolve:
	// a bare name is a file of /dev/shm). Each is reported at every
	// scrape, as down while it is missing or unreadable, under its name as
	// given here (the arena label). Empty: discover the arenas of Dir at
	// each scrape.
	Arenas []string
	// Dir is the directory whose arenas are exported when Arenas is empty
	// (default arena.ShmDir, /dev/shm). Each is labelled with its file's
	// base name. It must be empty when Arenas is not.
	Dir string
	// ReadyTimeout bounds how long a scrape waits for an arena whose
	// header does not validate yet (arena.WithReadyTimeout): a corrupt
	// header costs a scrape this much. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// OpenOptions are added to the options of arena.Peek and arena.Open:
	// arena.WithAllowOwner, arena.WithAllowShared.
	OpenOptions []arena.Option
	// OnError, if not nil, is told about each arena (ring == "") and ring
	// that a scrape could not read, and why (dir: a directory that could
	// not be listed, with arena == ""). It may be called from several
	// goroutines at once, and must not block.
	OnError func(arena, ring string, err error)
}

// DefaultReadyTimeout is Config.ReadyTimeout's default: short, since a
// scrape is waiting, and a creator writes its header in microseconds.
const DefaultReadyTimeout = 100 * time.Millisecond

// parallel is how many arenas a scrape reads at once: enough that a few
// corrupt arenas, each costing ReadyTimeout, do not add up, few enough that
// a scrape does not take over the machine.
const parallel = 4

// Collector is a prometheus.Collector over shmring arenas. It is an
// "unchecked" collector in one respect only: the set of series changes with
// the arenas, rings and peers it finds, but every metric it sends is
// described by Describe.
type Collector struct {
	cfg     Config
	targets []target // Config.Arenas, resolved; nil: discover Dir
	dir     string

	// Scrape errors over the collector's life, per target.
	dirErrors, arenaErrors, ringErrors atomic.Uint64
}

// target is one arena to scrape: its label and path.
type target struct {
	label, path string
	explicit    bool // named in Config.Arenas: report it even when it is no arena
}

// New returns a Collector for cfg. It fails with ErrInvalid for a name in
// cfg.Arenas that arena.Resolve refuses or that is not UTF-8, for a
// negative ReadyTimeout, and for Arenas and Dir given together. Names are
// deduplicated; an arena that does not exist yet is not an error (it is
// reported down until it does).
func New(cfg Config) (*Collector, error) {
	c := &Collector{cfg: cfg}
	if cfg.ReadyTimeout < 0 {
		return nil, fmt.Errorf("%w: negative ready timeout %v", ErrInvalid, cfg.ReadyTimeout)
	}
	if c.cfg.ReadyTimeout == 0 {
		c.cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if len(cfg.Arenas) > 0 && cfg.Dir != "" {
		return nil, fmt.Errorf("%w: Arenas and Dir are exclusive", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, name := range cfg.Arenas {
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("%w: arena name %q is not UTF-8", ErrInvalid, name)
		}
		path, err := arena.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("%w: arena %q: %w", ErrInvalid, name, err)
		}
		if !seen[name] {
			seen[name] = true
			c.targets = append(c.targets, target{label: name, path: path, explicit: true})
		}
	}
	c.dir = cfg.Dir
	if c.dir == "" {
		c.dir = arena.ShmDir
	}
	return c, nil
}

// Describe sends the descriptor of every metric the Collector may send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect reads every arena and sends its metrics; see the package
// documentation for what a scrape does. It never fails: what it cannot read
// it reports as down.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	targets := c.targets
	if targets == nil {
		targets = c.discover()
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, t := range targets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.collectArena(ch, t)
		})
	}
	wg.Wait()
	for _, e := range []struct {
		target string
		n      *atomic.Uint64
	}{{"dir", &c.dirErrors}, {"arena", &c.arenaErrors}, {"ring", &c.ringErrors}} {
		ch <- prometheus.MustNewConstMetric(scrapeErrors, prometheus.CounterValue, float64(e.n.Load()), e.target)
	}
}

// discover lists the candidate files of the directory: its regular files
// (by the directory entry's type, so no system call each). Peek sorts them
// further.
func (c *Collector) discover() []target {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		c.dirErrors.Add(1)
		c.report("", "", err)
		// ReadDir returns the entries it read before the error.
	}
	var out []target
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(c.dir, e.Name())
		if !strings.Contains(path, "/") {
			path = "./" + path // Dir "." must not turn names into /dev/shm ones
		}
		out = append(out, target{label: labelOf(e.Name()), path: path})
	}
	return out
}

// labelOf is a file name as a label value, which must be UTF-8: a name that
// is not is quoted Go-style (escaping its invalid bytes), so that distinct
// names stay distinct.
func labelOf(name string) string {
	if utf8.ValidString(name) {
		return name
	}
	return strconv.QuoteToASCII(name)
}

func (c *Collector) report(arenaLabel, ring string, err error) {
	if c.cfg.OnError != nil {
		c.cfg.OnError(arenaLabel, ring, err)
	}
}

// arenaError counts and reports an arena that could not be read.
func (c *Collector) arenaError(ch chan<- prometheus.Metric, t target, err error) {
	c.arenaErrors.Add(1)
	c.report(t.label, "", err)
	gauge(ch, arenaUp, 0, t.label)
}

// gauge and counter send one constant metric. The label values are
// UTF-8 (labelOf, New) and their number is the descriptor's, so
// NewConstMetric cannot fail; should it, the metric is dropped rather than
// the scrape.
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	send(ch, d, prometheus.GaugeValue, v, labels)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	send(ch, d, prometheus.CounterValue, float64(v), labels)
}

func send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
