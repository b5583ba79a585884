package ring

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shmring/shmring/arena"
)

// TestArenaSize: an arena of ArenaSize bytes holds exactly the rings it
// was computed for, and one page less does not (the size is the smallest
// page multiple that works), across random mixes of kinds and configs.
func TestArenaSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 11))
	kinds := []arena.Kind{KindSPSC, KindMPMC, KindBroadcast}
	page := int64(os.Getpagesize())
	for trial := 0; trial < 40; trial++ {
		var specs []Spec
		for n := 1 + rng.IntN(5); n > 0; n-- {
			k := kinds[rng.IntN(3)]
			cfg := Config{Slots: 1 << (1 + rng.IntN(10)), SlotSize: 8 + rng.IntN(3000)}
			if k == KindBroadcast {
				cfg.Subscribers = 1 + rng.IntN(8)
			}
			specs = append(specs, Spec{k, cfg})
		}
		opts := []arena.Option{arena.WithDirCapacity(8 + rng.IntN(200))}
		if rng.IntN(2) == 0 {
			opts = append(opts, arena.WithPadUnit(64<<rng.IntN(3)))
		}
		size, err := ArenaSize(specs, opts...)
		if err != nil {
			t.Fatal(err)
		}
		fill := func(size int64) error {
			p := filepath.Join(t.TempDir(), fmt.Sprint("a", trial))
			a, err := arena.Create(p, size, opts...)
			if err != nil {
				return err
			}
			defer a.Close()
			for i, s := range specs {
				name := fmt.Sprint("r", i)
				if s.Kind == KindBroadcast {
					b, err := CreateBroadcast(a, name, s.Config)
					if err != nil {
						return err
					}
					b.Close()
					continue
				}
				r, err := Create(a, name, s.Kind, s.Config)
				if err != nil {
					return err
				}
				r.Close()
			}
			return nil
		}
		if err := fill(size); err != nil {
			t.Fatalf("trial %d: %v in an arena of ArenaSize %d for %+v", trial, err, size, specs)
		}
		if err := fill(size - page); !errors.Is(err, arena.ErrNoSpace) && !errors.Is(err, arena.ErrInvalid) {
			t.Fatalf("trial %d: an arena one page smaller than ArenaSize (%d) held them: %v", trial, size, err)
		}
	}
	if _, err := ArenaSize([]Spec{{Kind: 7}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ArenaSize of a non-ring kind: %v", err)
	}
}

func ExampleArenaSize() {
	size, err := ArenaSize([]Spec{
		{KindSPSC, Config{Slots: 1024, SlotSize: 256}},
		{KindBroadcast, Config{Slots: 4096, SlotSize: 64, Subscribers: 8}},
	}, arena.WithPadUnit(128))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(size)
	// Output: 618496
}
