package ring

import (
	"context"

	"github.com/shmring/shmring/arena"
)

// Ring is the method set SPSC and MPMC share, for code that works with
// either (benchmarks, tools, tests).
type Ring interface {
	TryPush(msg []byte) error
	TryPop(dst []byte) (int, error)
	Push(ctx context.Context, msg []byte) error
	Pop(ctx context.Context, dst []byte) (int, error)

	TryPushBatch(msgs [][]byte) (int, error)
	TryPopBatch(bufs [][]byte) (int, error)
	PushBatch(ctx context.Context, msgs [][]byte) (int, error)
	PopBatch(ctx context.Context, bufs [][]byte) (int, error)

	TryReserve(n int) (Reservation, error)
	Reserve(ctx context.Context, n int) (Reservation, error)
	Commit(res Reservation, n int) error
	TryPeek() (Message, error)
	Peek(ctx context.Context) (Message, error)
	Release(m Message) error

	Close() error
	IsClosed() bool
	Len() int
	Slots() int
	SlotSize() int
	Stats() Stats
	SetWaitStrategy(w WaitStrategy)
	WaitStrategy() WaitStrategy
	Region() *arena.Region
	Detach() error
}

var (
	_ Ring = (*SPSC)(nil)
	_ Ring = (*MPMC)(nil)
)
