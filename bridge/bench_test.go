package bridge

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shmring/shmring/ring"
)

// BenchmarkHop measures one hop ring -> NATS -> ring through Out and In
// against nats.go publishing straight to a subscriber, in the same run,
// over one in-process nats-server on loopback (go test -bench Hop
// ./bridge; docs/scale-out.md has a run). The rings are heap rings in
// this process: a cross-process ring hop costs well under a microsecond
// (docs/benchmarks.md), noise beside the network's.
//
//   - stream/*: b.N messages of 64 bytes as fast as they go: msgs/s;
//   - latency/*: one message at a time, the next sent once the previous
//     arrived (closed loop): the one-way time of a hop, with percentiles
//     (p50-ns, p99-ns, p99.9-ns).
func BenchmarkHop(b *testing.B) {
	for _, mode := range []string{"stream", "latency"} {
		for _, js := range []bool{false, true} {
			kind := map[bool]string{false: "core", true: "jetstream"}[js]
			b.Run(mode+"/nats-direct/"+kind, func(b *testing.B) { benchDirect(b, js, mode == "latency") })
			b.Run(mode+"/bridge/"+kind, func(b *testing.B) { benchBridge(b, js, mode == "latency") })
		}
	}
}

const benchMsg = 64

func stamp(buf []byte) { binary.LittleEndian.PutUint64(buf, uint64(time.Now().UnixNano())) }

func since(buf []byte) time.Duration {
	return time.Duration(time.Now().UnixNano() - int64(binary.LittleEndian.Uint64(buf)))
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))]) }
	b.ReportMetric(q(0.5), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
	b.ReportMetric(q(0.999), "p99.9-ns")
}

// benchDirect: nats.go publish (core, or JetStream async with 1024 acks in
// flight) to a subscriber (core, or a pull consumer) in the same process.
func benchDirect(b *testing.B, js bool, closedLoop bool) {
	ns := startServer(b)
	pub, err := Connect(ns.url(), ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := Connect(ns.url(), ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	got := make(chan []byte, 4096)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var publish func([]byte) error
	if js {
		j, _ := jetstream.New(pub, jetstream.WithPublishAsyncMaxPending(1024))
		if _, err := ensureStream(ctx, j, "B", "b"); err != nil {
			b.Fatal(err)
		}
		publish = func(p []byte) error { _, err := j.PublishAsync("b", p); return err }
		sj, _ := jetstream.New(sub)
		cons, err := sj.CreateOrUpdateConsumer(ctx, "B", jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			b.Fatal(err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { got <- m.Data(); m.Ack() })
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
	} else {
		publish = func(p []byte) error { return pub.Publish("b", p) }
		s, err := sub.Subscribe("b", func(m *nats.Msg) { got <- m.Data })
		if err != nil {
			b.Fatal(err)
		}
		s.SetPendingLimits(-1, -1)
		sub.Flush()
	}
	buf := make([]byte, benchMsg)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	if closedLoop {
		for range b.N {
			stamp(buf)
			if err := publish(buf); err != nil {
				b.Fatal(err)
			}
			if !js {
				pub.Flush()
			}
			select {
			case m := <-got:
				lat = append(lat, since(m))
			case <-ctx.Done():
				b.Fatal("timed out")
			}
		}
	} else {
		go func() {
			for range b.N {
				if publish(buf) != nil {
					return
				}
			}
			pub.Flush()
		}()
		for range b.N {
			select {
			case <-got:
			case <-ctx.Done():
				b.Fatal("timed out")
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	reportLatency(b, lat)
}

// benchBridge: heap ring -> Out -> nats-server -> In -> heap ring.
func benchBridge(b *testing.B, js bool, closedLoop bool) {
	ns := startServer(b)
	src, _, err := ring.NewHeap(ring.KindSPSC, ring.Config{Slots: 4096, SlotSize: benchMsg})
	if err != nil {
		b.Fatal(err)
	}
	dst, _, err := ring.NewHeap(ring.KindSPSC, ring.Config{Slots: 4096, SlotSize: benchMsg})
	if err != nil {
		b.Fatal(err)
	}
	ncOut, _ := Connect(ns.url(), ConnectOptions{})
	defer ncOut.Close()
	ncIn, _ := Connect(ns.url(), ConnectOptions{})
	defer ncIn.Close()
	o, err := NewOut(ncOut, src, OutConfig{Subject: "b", JetStream: js, Stream: "B", Producer: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ready := make(chan struct{})
	in, err := NewIn(ncIn, dst.(Target), InConfig{Subject: "b", JetStream: js, Stream: "B", Durable: "d",
		Ready: func() { close(ready) }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- in.Run(runCtx) }()
	<-ready
	go func() { done <- o.Run(runCtx) }()
	buf := make([]byte, benchMsg)
	rbuf := make([]byte, benchMsg)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	if closedLoop {
		for range b.N {
			stamp(buf)
			if err := src.Push(ctx, buf); err != nil {
				b.Fatal(err)
			}
			if _, err := dst.Pop(ctx, rbuf); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, since(rbuf))
		}
	} else {
		go func() {
			for range b.N {
				if src.Push(ctx, buf) != nil {
					return
				}
			}
		}()
		for range b.N {
			if _, err := dst.Pop(ctx, rbuf); err != nil {
				b.Fatal(fmt.Errorf("pop: %w (out %v, in %v)", err, o.Counters(), in.Counters()))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	reportLatency(b, lat)
	stop()
	<-done
	<-done
	o.Close()
	in.Close()
}
