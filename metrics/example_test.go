package metrics_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/metrics"
	"github.com/shmring/shmring/ring"
)

// ExampleNew registers a Collector for every arena of a directory (in a
// real exporter, leave Dir empty for /dev/shm) and gathers it once, as a
// scrape of promhttp.HandlerFor(reg, ...) would.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "shmring-metrics-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	a, err := arena.Create(filepath.Join(dir, "orders"), 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	q, err := ring.CreateSPSC(a, "fills", ring.Config{Slots: 16, SlotSize: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	for range 3 {
		q.TryPush([]byte("fill"))
	}

	c, err := metrics.New(metrics.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "shmring_ring_messages_in_total", "shmring_ring_depth_messages", "shmring_arena_up":
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				fmt.Printf("%s{%s} %v\n", mf.GetName(), strings.Join(labels, ","), v)
			}
		}
	}
	// Output:
	// shmring_arena_up{arena=orders} 1
	// shmring_ring_depth_messages{arena=orders,kind=spsc,ring=fills} 3
	// shmring_ring_messages_in_total{arena=orders,kind=spsc,ring=fills} 3
}
