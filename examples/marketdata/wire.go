package main

// The two wire records: a quote (feed to strategies, on the broadcast
// ring) and an order (strategies to the gateway, on the MPMC ring). Both
// are fixed-size little-endian records that end with a CRC-32C of the
// bytes before it, so that a reader can tell a whole record from a torn
// one (half of one quote and half of the next): the broadcast ring's
// seqlock promises that a subscriber never gets a torn quote, and the
// checksum is how the strategies check it.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"

	"golang.org/x/sys/unix"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// quote is the feed's record, 48 bytes:
//
//	0   Seq     uint64   quote number: 0, 1, 2, ... (the feed is the ring's
//	                     only producer from position 0, so it is also the
//	                     quote's position in the broadcast ring)
//	8   Symbol  [8]byte  ASCII, NUL-padded
//	16  Bid     int64    price in units of 1/10000
//	24  Ask     int64    price in units of 1/10000
//	32  SentNs  int64    CLOCK_MONOTONIC nanoseconds when published
//	40  Sum     uint32   CRC-32C of bytes 0..40
//	44  (zero)  uint32
type quote struct {
	Seq    uint64
	Symbol [8]byte
	Bid    int64
	Ask    int64
	SentNs int64
}

const quoteSize = 48

func (q *quote) encode(b []byte) {
	_ = b[quoteSize-1] // one bounds check
	binary.LittleEndian.PutUint64(b[0:], q.Seq)
	copy(b[8:16], q.Symbol[:])
	binary.LittleEndian.PutUint64(b[16:], uint64(q.Bid))
	binary.LittleEndian.PutUint64(b[24:], uint64(q.Ask))
	binary.LittleEndian.PutUint64(b[32:], uint64(q.SentNs))
	binary.LittleEndian.PutUint32(b[40:], crc32.Checksum(b[:40], castagnoli))
	binary.LittleEndian.PutUint32(b[44:], 0)
}

// decode reads a quote and checks its length, its checksum and that its
// prices make sense; an error says the quote is torn or garbage.
func (q *quote) decode(b []byte) error {
	if len(b) != quoteSize {
		return fmt.Errorf("quote of %d bytes, want %d", len(b), quoteSize)
	}
	if got, want := binary.LittleEndian.Uint32(b[40:]), crc32.Checksum(b[:40], castagnoli); got != want {
		return fmt.Errorf("torn quote (checksum %#x, want %#x): % x", got, want, b)
	}
	q.Seq = binary.LittleEndian.Uint64(b[0:])
	copy(q.Symbol[:], b[8:16])
	q.Bid = int64(binary.LittleEndian.Uint64(b[16:]))
	q.Ask = int64(binary.LittleEndian.Uint64(b[24:]))
	q.SentNs = int64(binary.LittleEndian.Uint64(b[32:]))
	if q.Bid <= 0 || q.Ask <= q.Bid {
		return fmt.Errorf("quote %d: %s bid %d ask %d", q.Seq, symbol(q.Symbol), q.Bid, q.Ask)
	}
	return nil
}

// order is a strategy's record, 64 bytes:
//
//	0   From     uint32   the sender's record in the board (one per strategy process)
//	4   Side     uint32   1 buy, 2 sell
//	8   ID       uint64   the sender's order number: 0, 1, 2, ...
//	16  QuoteSeq uint64   the quote that triggered it
//	24  Symbol   [8]byte
//	32  Price    int64    limit price in units of 1/10000
//	40  Qty      int64
//	48  QuoteNs  int64    the quote's SentNs (tick-to-trade latency at the gateway)
//	56  Sum      uint32   CRC-32C of bytes 0..56
//	60  (zero)   uint32
type order struct {
	From     uint32
	Side     uint32
	ID       uint64
	QuoteSeq uint64
	Symbol   [8]byte
	Price    int64
	Qty      int64
	QuoteNs  int64
}

const (
	orderSize = 64
	buy       = 1
	sell      = 2
)

func (o *order) encode(b []byte) {
	_ = b[orderSize-1]
	binary.LittleEndian.PutUint32(b[0:], o.From)
	binary.LittleEndian.PutUint32(b[4:], o.Side)
	binary.LittleEndian.PutUint64(b[8:], o.ID)
	binary.LittleEndian.PutUint64(b[16:], o.QuoteSeq)
	copy(b[24:32], o.Symbol[:])
	binary.LittleEndian.PutUint64(b[32:], uint64(o.Price))
	binary.LittleEndian.PutUint64(b[40:], uint64(o.Qty))
	binary.LittleEndian.PutUint64(b[48:], uint64(o.QuoteNs))
	binary.LittleEndian.PutUint32(b[56:], crc32.Checksum(b[:56], castagnoli))
	binary.LittleEndian.PutUint32(b[60:], 0)
}

func (o *order) decode(b []byte) error {
	if len(b) != orderSize {
		return fmt.Errorf("order of %d bytes, want %d", len(b), orderSize)
	}
	if got, want := binary.LittleEndian.Uint32(b[56:]), crc32.Checksum(b[:56], castagnoli); got != want {
		return fmt.Errorf("torn order (checksum %#x, want %#x): % x", got, want, b)
	}
	o.From = binary.LittleEndian.Uint32(b[0:])
	o.Side = binary.LittleEndian.Uint32(b[4:])
	o.ID = binary.LittleEndian.Uint64(b[8:])
	o.QuoteSeq = binary.LittleEndian.Uint64(b[16:])
	copy(o.Symbol[:], b[24:32])
	o.Price = int64(binary.LittleEndian.Uint64(b[32:]))
	o.Qty = int64(binary.LittleEndian.Uint64(b[40:]))
	o.QuoteNs = int64(binary.LittleEndian.Uint64(b[48:]))
	if o.Side != buy && o.Side != sell || o.Price <= 0 || o.Qty <= 0 {
		return fmt.Errorf("order %d from %d: side %d price %d qty %d", o.ID, o.From, o.Side, o.Price, o.Qty)
	}
	return nil
}

// prices is a deterministic random walk of a few instruments' prices.
type prices struct {
	rng  *rand.Rand
	syms [][8]byte
	mid  []int64
}

func newPrices() *prices {
	p := &prices{rng: rand.New(rand.NewPCG(1, 2))}
	for _, s := range []struct {
		sym string
		mid int64
	}{{"AAPL", 2_274_500}, {"MSFT", 4_151_200}, {"NVDA", 1_389_900}, {"EURUSD", 10_842}, {"BTCUSD", 970_125_000}} {
		var b [8]byte
		copy(b[:], s.sym)
		p.syms = append(p.syms, b)
		p.mid = append(p.mid, s.mid)
	}
	return p
}

// next moves one instrument's price and fills q's symbol and prices.
func (p *prices) next(q *quote) {
	i := p.rng.IntN(len(p.syms))
	p.mid[i] += p.rng.Int64N(21) - 10
	p.mid[i] = max(p.mid[i], 10)
	half := 1 + p.rng.Int64N(3)
	q.Symbol, q.Bid, q.Ask = p.syms[i], p.mid[i]-half, p.mid[i]+half
}

func symbol(s [8]byte) string {
	n := 0
	for n < len(s) && s[n] != 0 {
		n++
	}
	return string(s[:n])
}

// monoNow reads CLOCK_MONOTONIC, the clock every process on the machine
// shares (Go's own monotonic readings are relative to each process's
// start and cannot be compared across processes).
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err) // CLOCK_MONOTONIC is always available
	}
	return ts.Nano()
}
