package fuzz_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/ring"
)

// Record a concurrent history on an MPMC ring over heap memory and check
// it against the bounded queue with Vyukov's relaxations.
func Example() {
	cfg := ring.Config{Slots: 2, SlotSize: fuzz.MsgLen}
	size, _ := ring.Size(ring.KindMPMC, cfg, 128)
	r, err := ring.NewMPMC(make([]byte, size), cfg, 128)
	if err != nil {
		panic(err)
	}
	rec := fuzz.NewRecorder(fuzz.ProcessClock())
	var wg sync.WaitGroup
	for id := range 3 {
		c := rec.Client(id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := fuzz.Workload{Ops: 20, PushBias: 0.5, CloseAt: -1}
			if err := c.Run(r, rand.New(rand.NewPCG(1, uint64(id))), w); err != nil {
				panic(err)
			}
		}()
	}
	wg.Wait()
	if err := rec.Client(3).Drain(r, cfg.Slots+1); err != nil {
		panic(err)
	}
	err = fuzz.Check(fuzz.QueueModel(cfg.Slots, fuzz.Vyukov), rec.Ops(), 10*time.Second)
	fmt.Println("linearizable:", err == nil)
	// Output: linearizable: true
}

// A history in which a pushed message vanished: the pop after the push
// returned finds the ring empty, and nothing else was in progress.
func ExampleQueueModel() {
	v := fuzz.MakeValue(0, 0)
	ops := []fuzz.Op{
		{Client: 0, Kind: fuzz.OpPush, Value: v, Result: fuzz.ResOK, Call: 0, Return: 10},
		{Client: 1, Kind: fuzz.OpPop, Result: fuzz.ResEmpty, Call: 20, Return: 30},
	}
	fmt.Println(fuzz.IsLinearizable(fuzz.QueueModel(2, fuzz.Vyukov), ops, time.Second))
	// Output: false
}
