package ring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// exampleArena creates an arena in a fresh temporary directory and returns
// it with a function that closes and removes it.
func exampleArena() (*arena.Arena, func(), error) {
	dir, err := os.MkdirTemp("", "shmring-example")
	if err != nil {
		return nil, nil, err
	}
	a, err := arena.Create(filepath.Join(dir, "arena"), 1<<20)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return a, func() { a.Close(); os.RemoveAll(dir) }, nil
}

func ExampleCreateSPSC() {
	dir, err := os.MkdirTemp("", "shmring-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "quotes") // a bare "quotes" would mean /dev/shm/quotes

	// The producer's process creates the arena and the ring.
	a, err := arena.Create(path, 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	prod, err := ring.CreateSPSC(a, "ticks", ring.Config{Slots: 64, SlotSize: 128})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The consumer's process opens both by name; here it is the same
	// process with a mapping of its own.
	b, err := arena.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	cons, err := ring.OpenSPSC(b, "ticks")
	if err != nil {
		fmt.Println(err)
		return
	}

	if err := prod.TryPush([]byte("EURUSD 1.0842 1.0843")); err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	buf := make([]byte, cons.SlotSize())
	n, err := cons.Pop(ctx, buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", buf[:n])

	_, err = cons.TryPop(buf)
	fmt.Println(err)
	// Output:
	// EURUSD 1.0842 1.0843
	// ring: empty
}

func ExampleMPMC_TryPushBatch() {
	a, cleanup, err := exampleArena()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()
	r, err := ring.CreateMPMC(a, "jobs", ring.Config{Slots: 4, SlotSize: 32})
	if err != nil {
		fmt.Println(err)
		return
	}

	jobs := [][]byte{[]byte("job1"), []byte("job2"), []byte("job3"), []byte("job4"), []byte("job5"), []byte("job6")}
	// One CAS claims as many slots as are free: four of the six.
	n, err := r.TryPushBatch(jobs)
	fmt.Println("pushed", n, err)
	_, err = r.TryPushBatch(jobs[n:])
	fmt.Println("then", err)

	// Pop up to three at once; each buffer needs the capacity for its
	// message and is resliced to its length.
	bufs := make([][]byte, 3)
	for i := range bufs {
		bufs[i] = make([]byte, r.SlotSize())
	}
	k, err := r.TryPopBatch(bufs)
	fmt.Printf("popped %d %v: %s %s %s\n", k, err, bufs[0], bufs[1], bufs[2])

	n2, err := r.TryPushBatch(jobs[n:])
	fmt.Println("pushed", n2, err)
	fmt.Println("queued", r.Len())
	// Output:
	// pushed 4 <nil>
	// then ring: full
	// popped 3 <nil>: job1 job2 job3
	// pushed 2 <nil>
	// queued 3
}

func ExampleSPSC_TryReserve() {
	a, cleanup, err := exampleArena()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()
	r, err := ring.CreateSPSC(a, "prices", ring.Config{Slots: 8, SlotSize: 64})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Producer: reserve a whole slot, encode straight into shared memory,
	// and commit the length actually written. Buf has capacity SlotSize,
	// so appending within it never reallocates.
	res, err := r.TryReserve(r.SlotSize())
	if err != nil {
		fmt.Println(err)
		return
	}
	b := append(res.Buf[:0], "BTCUSD "...)
	b = strconv.AppendFloat(b, 97012.5, 'f', 1, 64)
	if err := r.Commit(res, len(b)); err != nil {
		fmt.Println(err)
		return
	}

	// Consumer: look at the message in place, then hand the slot back.
	m, err := r.TryPeek()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (%d bytes)\n", m.Data, len(m.Data))
	if err := r.Release(m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("left:", r.Len())
	// Output:
	// BTCUSD 97012.5 (14 bytes)
	// left: 0
}

func ExampleSPSC_Close() {
	a, cleanup, err := exampleArena()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()
	w, err := ring.CreateSPSC(a, "orders", ring.Config{Slots: 8, SlotSize: 32})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := ring.OpenSPSC(a, "orders") // the consumer's handle (another process, usually)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []string{"buy 100", "sell 40"} {
		if err := w.TryPush([]byte(s)); err != nil {
			fmt.Println(err)
			return
		}
	}

	// The producer's Close ends the stream, as closing the write end of a
	// pipe does: no more pushes, but what was committed is still
	// delivered, and then every Pop returns io.EOF. (CloseWrite ends it
	// from any handle without releasing the handle.)
	w.Close()
	fmt.Println(r.IsClosed())

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	buf := make([]byte, r.SlotSize())
	for {
		n, err := r.Pop(ctx, buf)
		if err == io.EOF {
			fmt.Println("end of stream")
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", buf[:n])
	}
	// The consumer's Close only releases its handle.
	r.Close()
	// Output:
	// true
	// buy 100
	// sell 40
	// end of stream
}

func ExampleSubscribe() {
	a, done, err := exampleArena()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done()
	feed, err := ring.CreateBroadcast(a, "quotes", ring.Config{Slots: 8, SlotSize: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Two strategies (in their own processes, usually): one tethered,
	// which the feed waits for, and one lossy, which it never waits for.
	strict, err := ring.Subscribe(a, "quotes", ring.SubscribeOptions{From: ring.Oldest})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer strict.Close()
	relaxed, err := ring.Subscribe(a, "quotes", ring.SubscribeOptions{From: ring.Oldest, Lossy: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer relaxed.Close()

	for i := 0; ; i++ {
		if err := feed.TryPush([]byte("quote " + strconv.Itoa(i))); err != nil {
			fmt.Println("push", i, "->", err) // the tethered subscriber is 8 behind
			break
		}
	}
	buf := make([]byte, 64)
	n, _ := strict.TryPop(buf)
	fmt.Printf("strict reads %q, lag %d\n", buf[:n], strict.Lag())
	// The tethered subscriber made room for one more, which laps the
	// lossy one, which has read nothing.
	if err := feed.TryPush([]byte("quote 8")); err != nil {
		fmt.Println(err)
	}
	var lap *ring.LappedError
	if _, err := relaxed.TryPop(buf); errors.As(err, &lap) {
		fmt.Println("relaxed:", err)
	}
	n, _ = relaxed.TryPop(buf)
	fmt.Printf("relaxed reads %q\n", buf[:n])
	feed.Close()
	k := 0
	for {
		if _, err := strict.TryPop(buf); err == io.EOF {
			break
		}
		k++
	}
	fmt.Println("strict read", k, "more, then io.EOF")
	// Output:
	// push 8 -> ring: full
	// strict reads "quote 0", lag 7
	// relaxed: ring: subscriber lapped (1 missed)
	// relaxed reads "quote 1"
	// strict read 8 more, then io.EOF
}

// A record ring holds frames of any size up to its largest record in
// Capacity bytes: a producer reserves a frame, writes it in place and
// commits it; the consumer peeks it in place (several at a time if it
// pipelines) and releases it.
func ExampleCreateRecords() {
	a, done, err := exampleArena()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done()
	r, err := ring.CreateRecords(a, "frames", ring.Config{Capacity: 64 << 10, SlotSize: 16 << 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	ctx := context.Background()
	for _, n := range []int{100, 9000, 3} {
		res, err := r.Reserve(ctx, n) // a frame of n bytes, written in place
		if err != nil {
			fmt.Println(err)
			return
		}
		for i := range res.Buf {
			res.Buf[i] = byte(n)
		}
		if err := r.Commit(res, n); err != nil {
			fmt.Println(err)
			return
		}
	}
	r.CloseWrite()
	for {
		m, err := r.Peek(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(len(m.Data), m.Data[0] == byte(len(m.Data)))
		r.Release(m)
	}
	// Output:
	// 100 true
	// 9000 true
	// 3 true
}
