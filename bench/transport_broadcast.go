package bench

import (
	"fmt"
	"os"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// broadcastTransport is shmring's broadcast ring: the parent produces on a
// broadcast ring that each peer process joins as a tethered subscriber,
// and every subscriber answers on an SPSC ring of its own, all in one
// arena file. The parent receives one message from each return ring and
// checks they agree (ringConn). With one subscriber, a ping-pong is one
// broadcast ring out and one SPSC ring back, with the SPSC rows' sizes,
// so its row compares with theirs. Only ring's and arena's exported API
// is used.
//
// wait is the parent's strategy (its pushes, and its pops of the return
// rings); subWait the subscribers' (their pops, and their pushes on their
// return rings).
type broadcastTransport struct {
	wait, subWait ring.WaitStrategy
}

func (broadcastTransport) name() string { return "broadcast" }

// returnRing names subscriber i's ring back to the producer: base (the
// spec's Tx) and the subscriber's index.
func returnRing(base string, i int) string { return fmt.Sprintf("%s-%d", base, i) }

func (t broadcastTransport) open(e *engine, spec *peerSpec) (*endpoint, error) {
	n := max(1, spec.Peers)
	slots := ringSlots(spec.Mode, spec.Size)
	bcfg := ring.Config{Slots: slots, SlotSize: spec.Size, Subscribers: n}
	rcfg := ring.Config{Slots: slots, SlotSize: spec.Size}
	bsize, err := ring.Size(ring.KindBroadcast, bcfg, 128)
	if err != nil {
		return nil, err
	}
	rsize, err := ring.Size(ring.KindSPSC, rcfg, 128)
	if err != nil {
		return nil, err
	}
	path := e.arenaPath()
	a, err := arena.Create(path, bsize+int64(n)*rsize+1<<20, arena.WithPrefault())
	if err != nil {
		return nil, err
	}
	// Unlinked once the peers have attached, as ringTransport's.
	remove := func() { arena.Remove(path, arena.WithForce()) }
	fail := func(err error) (*endpoint, error) {
		a.Close()
		remove()
		return nil, err
	}
	tx, err := ring.CreateBroadcast(a, ringA2B, bcfg)
	if err != nil {
		return fail(err)
	}
	rx := make([]receiver, n)
	for i := range rx {
		if rx[i], err = ring.Create(a, returnRing(ringB2A, i), ring.KindSPSC, rcfg); err != nil {
			return fail(err)
		}
	}
	spec.Arena, spec.Tx, spec.Rx = path, ringB2A, ringA2B
	spec.Wait = t.subWait.String()
	c := &arenaConn{ringConn: newRingConn(tx, rx, t.wait, spec.deadline()), a: a}
	return &endpoint{conn: c, cleanup: remove}, nil
}

// attach subscribes to the broadcast ring the spec names, from its oldest
// message (the producer sends nothing before every subscriber's hello, so
// Oldest and Newest see the same stream), and opens this subscriber's
// return ring. The arena stays mapped until the process exits.
func (broadcastTransport) attach(spec peerSpec, _ []*os.File) (conn, error) {
	w, err := ring.ParseWaitStrategy(spec.Wait)
	if err != nil {
		return nil, err
	}
	a, err := arena.Open(spec.Arena)
	if err != nil {
		return nil, err
	}
	rx, err := ring.Subscribe(a, spec.Rx, ring.SubscribeOptions{From: ring.Oldest})
	if err != nil {
		return nil, err
	}
	tx, err := ring.Open(a, returnRing(spec.Tx, spec.Index))
	if err != nil {
		return nil, err
	}
	return newRingConn(tx, []receiver{rx}, w, spec.deadline()), nil
}
