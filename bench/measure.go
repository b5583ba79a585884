package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// percentiles plotted for every latency row.
var distribution = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, int64(10*time.Second), 3) }

func rowFrom(name string, h *hdrhistogram.Histogram) LatencyRow {
	row := LatencyRow{Mechanism: name, Samples: h.TotalCount(), Mean: h.Mean(), IdleCPU: -1,
		P50: float64(h.ValueAtQuantile(50)), P90: float64(h.ValueAtQuantile(90)), P99: float64(h.ValueAtQuantile(99)),
		P999: float64(h.ValueAtQuantile(99.9)), P9999: float64(h.ValueAtQuantile(99.99)), Max: float64(h.Max())}
	for _, p := range distribution {
		v := float64(h.ValueAtQuantile(p))
		if p == 100 {
			v = float64(h.Max())
		}
		row.Distribution = append(row.Distribution, Point{Percentile: p, Nanos: v})
	}
	return row
}

// timeRoundTrips calls roundTrip for warmup without recording, then for
// dur in latencyRounds rounds (batch.go), each a percentile slice, which
// records each call's time between two clock reads in h, then a batch
// slice, which records batch means: the time of a batch of round trips
// between one clock read before and one after, over their count. The
// batch size is fixed after the first percentile slice from its p50
// (batchSize). Both slices check the clock and ctx between samples (every
// 64 round trips) or batches, and run at least one of them. The
// mechanisms and the floors share it, so they are timed alike.
func timeRoundTrips(ctx context.Context, warmup, dur time.Duration, h *hdrhistogram.Histogram, roundTrip func() error) (*batchMeans, error) {
	warm := time.Now().Add(warmup)
	for time.Now().Before(warm) {
		if err := roundTrip(); err != nil {
			return nil, err
		}
	}
	slice := dur / (2 * latencyRounds)
	bm := &batchMeans{}
	for round := 0; round < latencyRounds && ctx.Err() == nil; round++ {
		if err := samples(ctx, slice, h, roundTrip); err != nil {
			return nil, err
		}
		if round == 0 {
			bm.size = batchSize(float64(h.ValueAtQuantile(50)))
		}
		if err := batches(ctx, slice, bm, roundTrip); err != nil {
			return nil, err
		}
	}
	return bm, nil
}

// samples is one percentile slice of timeRoundTrips.
func samples(ctx context.Context, dur time.Duration, h *hdrhistogram.Histogram, roundTrip func() error) error {
	end := time.Now().Add(dur)
	for i := 0; ; i++ {
		t0 := time.Now()
		if err := roundTrip(); err != nil {
			return err
		}
		t1 := time.Now()
		h.RecordValue(t1.Sub(t0).Nanoseconds())
		if i&63 == 0 && (t1.After(end) || ctx.Err() != nil) {
			return nil
		}
	}
}

// batches is one batch slice of timeRoundTrips: no clock read inside a
// batch.
func batches(ctx context.Context, dur time.Duration, bm *batchMeans, roundTrip func() error) error {
	end := time.Now().Add(dur)
	for {
		t0 := time.Now()
		for i := 0; i < bm.size; i++ {
			if err := roundTrip(); err != nil {
				return err
			}
		}
		t1 := time.Now()
		bm.add(t1.Sub(t0))
		if t1.After(end) || ctx.Err() != nil {
			return nil
		}
	}
}

// latency runs the ping-pong of m.
func (e *engine) latency(ctx context.Context, m mechanism) LatencyRow {
	e.prog.Step("latency " + m.name)
	row := LatencyRow{Mechanism: m.name, IdleCPU: -1}
	budget := e.cfg.Warmup + e.cfg.LatencyDuration
	if m.idleProbe {
		budget += e.cfg.IdleProbe
	}
	if err := pinThread(e.cfg.CPUs[0]); err != nil {
		row.Error = err.Error()
		return row
	}
	defer unpinThread()
	s, err := e.start(ctx, m, modeEcho, e.cfg.LatencySize, budget)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	h := newHist()
	msg, buf := make([]byte, e.cfg.LatencySize), make([]byte, e.cfg.LatencySize)
	msg[0] = opData
	roundTrip := func() error {
		if err := s.c.send(msg); err != nil {
			return err
		}
		return s.c.recv(buf)
	}
	var bm *batchMeans
	err = func() error {
		if bm, err = timeRoundTrips(ctx, e.cfg.Warmup, e.cfg.LatencyDuration, h, roundTrip); err != nil {
			return err
		}
		if m.idleProbe {
			msg[0] = opIdle
			if err := roundTrip(); err != nil {
				return err
			}
			select {
			case <-time.After(e.cfg.IdleProbe):
			case <-ctx.Done():
			}
		}
		msg[0] = opStop
		return s.c.send(msg)
	}()
	if err != nil {
		row.Error = s.fail(err).Error()
		return row
	}
	res, err := s.finish()
	row = rowFrom(m.name, h)
	bm.apply(&row)
	if err != nil {
		row.Error = err.Error()
	}
	if m.idleProbe && res.IdleWall > 0 {
		row.IdleCPU = float64(res.IdleCPU) / float64(res.IdleWall)
	}
	return row
}

// throughput streams size-byte messages one way for dur: from the parent
// to the peer, or with m.source from the peer to the parent.
func (e *engine) throughput(ctx context.Context, m mechanism, size int, dur time.Duration) ThroughputRow {
	e.prog.Step(fmt.Sprintf("throughput %s %d B", m.name, size))
	row := ThroughputRow{Mechanism: m.name, Size: size}
	if err := pinThread(e.cfg.CPUs[0]); err != nil {
		row.Error = err.Error()
		return row
	}
	defer unpinThread()
	mode := modeSink
	if m.source {
		mode = modeSource
	}
	s, err := e.start(ctx, m, mode, size, dur)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	var sent int64
	start := time.Now()
	if m.source {
		sent, err = receiveStream(s.c, size)
	} else {
		sent, err = sendStream(ctx, s.c, size, start.Add(dur))
	}
	elapsed := time.Since(start).Seconds()
	if err != nil {
		row.Error = s.fail(err).Error()
		return row
	}
	if _, err := s.finish(); err != nil {
		row.Error = err.Error()
		return row
	}
	row.Messages, row.Seconds = sent, elapsed
	row.MsgsPerSec = float64(sent) / elapsed
	row.MBPerSec = row.MsgsPerSec * float64(size) / 1e6
	return row
}

// sendStream sends size-byte data messages on c until end (or ctx ends),
// then a stop message, and checks the peer's ack; it returns the count.
func sendStream(ctx context.Context, c conn, size int, end time.Time) (int64, error) {
	msg, buf := make([]byte, size), make([]byte, size)
	msg[0] = opData
	var sent int64
	for check := max(1, 65536/size); ; {
		for i := 0; i < check; i++ {
			if err := c.send(msg); err != nil {
				return sent, err
			}
		}
		sent += int64(check)
		if time.Now().After(end) || ctx.Err() != nil {
			break
		}
	}
	msg[0] = opStop
	if err := c.send(msg); err != nil {
		return sent, err
	}
	if d, ok := c.(discarder); ok {
		op, n, err := d.discard(size)
		if err == nil && (op != opAck || int64(n) != sent) {
			err = fmt.Errorf("peer acknowledged %d messages (op %d), sent %d", n, op, sent)
		}
		return sent, err
	}
	if err := c.recv(buf); err != nil {
		return sent, err
	}
	if buf[0] != opAck || int64(getCount(buf)) != sent {
		return sent, fmt.Errorf("peer acknowledged %d messages, sent %d", getCount(buf), sent)
	}
	return sent, nil
}

// receiveStream consumes the peer's stream on c (modeSource): data
// messages, then an ack whose count must be theirs; it returns the count.
// A conn that can consume in place does (Peek/Release), as a sink peer's.
func receiveStream(c conn, size int) (int64, error) {
	var got int64
	buf := make([]byte, size)
	d, canDiscard := c.(discarder)
	for {
		var op byte
		var n uint64
		if canDiscard {
			var err error
			if op, n, err = d.discard(size); err != nil {
				return got, err
			}
		} else {
			if err := c.recv(buf); err != nil {
				return got, err
			}
			op, n = buf[0], getCount(buf)
		}
		switch op {
		case opData:
			got++
		case opAck:
			if int64(n) != got {
				return got, fmt.Errorf("peer sent %d messages, received %d", n, got)
			}
			return got, nil
		default:
			return got, fmt.Errorf("%w: op %d in a stream", errShort, op)
		}
	}
}
