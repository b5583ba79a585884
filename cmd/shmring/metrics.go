package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shmring/shmring/metrics"
)

// `shmring metrics`: the Prometheus exporter. The collector (package
// metrics) reads the arenas read-only at each scrape; this file only serves
// it over HTTP until SIGINT or SIGTERM.

const metricsDescription = `Serve the counters of every ring of the named arenas (or of every arena in
--dir, default /dev/shm, found afresh at each scrape) at /metrics in the
Prometheus text format: per ring its messages, bytes, events, depth and
geometry, per peer and per subscriber their counters. Arenas are opened
read-only at each scrape; one that is missing or broken is reported as
shmring_arena_up 0 (a broken ring as shmring_ring_up 0), and each distinct
problem is logged once on stderr. The listen address is logged on stderr.
Exits 0 on SIGINT or SIGTERM, 1 if it cannot listen.`

const defaultMetricsListen = "127.0.0.1:9464"

func runMetrics(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("metrics", "[--listen ADDR] [--dir DIR] [--go-metrics] [ARENA...]", metricsDescription, stderr)
	listen := fs.String("listen", defaultMetricsListen, "`address` (host:port) to serve /metrics on; port 0 picks a free one")
	dir := fs.String("dir", "", "`directory` whose arenas are exported when no ARENA is named (default /dev/shm)")
	goMetrics := fs.Bool("go-metrics", false, "also export the exporter's own Go runtime and process metrics")
	arenas, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usageError(fs, "--listen %q: %v", *listen, err)
	}
	if *dir != "" && len(arenas) > 0 {
		return usageError(fs, "--dir and ARENA arguments exclude each other")
	}
	errw := &lockedWriter{w: stderr}
	errLog := &scrapeLog{w: errw, last: map[string]string{}}
	c, err := metrics.New(metrics.Config{Arenas: arenas, Dir: *dir, ReadyTimeout: readyTimeout, OnError: errLog.report})
	if err != nil {
		return usageError(fs, "%v", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	if *goMetrics {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("cannot listen: %w", err)
	}
	// Catch the signals before saying where we listen: whoever reads that
	// line may signal at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveMetrics(ctx, ln, reg, errw)
}

// serveMetrics serves reg's metrics at /metrics (and a page linking to it at
// /) on ln until ctx is done, then shuts the server down, letting scrapes
// under way finish (for at most shutdownTimeout). It logs the address and
// the server's errors on stderr, which must be safe for concurrent writes.
func serveMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry, stderr io.Writer) error {
	logger := log.New(stderr, "shmring metrics: ", 0)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: logger,
		// A metric that fails to gather is left out, not the whole page.
		ErrorHandling: promhttp.ContinueOnError,
		// Each scrape maps every arena: a stampede must not multiply that.
		MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, indexPage)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	fmt.Fprintf(stderr, "shmring metrics: listening on http://%s/metrics\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served: // the listener failed
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close() // scrapes still running: cut them off
		err = nil
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("serve: %w", serr)
	}
	fmt.Fprintln(stderr, "shmring metrics: stopped")
	return err
}

// shutdownTimeout bounds how long a stopping exporter waits for scrapes
// under way.
const shutdownTimeout = 5 * time.Second

const indexPage = `<!DOCTYPE html>
<html><head><title>shmring metrics</title></head>
<body><h1>shmring metrics</h1><p><a href="/metrics">/metrics</a></p></body></html>
`

// scrapeLog logs each arena's and ring's scrape problem on stderr once: a
// problem that persists is logged again only when its message changes.
type scrapeLog struct {
	mu   sync.Mutex
	w    io.Writer
	last map[string]string // arena "\x00" ring -> last message logged
}

// maxLogged bounds scrapeLog's memory when arenas come and go: past it the
// log forgets what it said (and may say it again).
const maxLogged = 4096

func (l *scrapeLog) report(arena, ring string, err error) {
	key, msg := arena+"\x00"+ring, err.Error()
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.last[key]; ok && prev == msg {
		return
	}
	if len(l.last) >= maxLogged {
		clear(l.last)
	}
	l.last[key] = msg
	switch {
	case arena == "":
		fmt.Fprintf(l.w, "shmring metrics: %s\n", msg)
	case ring == "":
		fmt.Fprintf(l.w, "shmring metrics: arena %s: %s\n", arena, msg)
	default:
		fmt.Fprintf(l.w, "shmring metrics: arena %s: ring %s: %s\n", arena, ring, msg)
	}
}

// lockedWriter serialises writes from the server's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
