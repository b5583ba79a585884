package fuzz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
)

// Soak messages carry their stream (one producer's output on one ring),
// their sequence number in it, their own length and a CRC-32C of the rest,
// so a consumer can check integrity, order and exactly-once delivery from
// the message alone:
//
//	0       stream uint32
//	4       length uint32 (of the whole message)
//	8       seq    uint64
//	16      filler derived from (stream, seq)
//	len-4   CRC-32C (Castagnoli) of bytes [0, len-4)
//
// Little-endian. MinMessage bytes at least.
const MinMessage = 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Message decoding errors.
var (
	ErrShortMessage = errors.New("message shorter than its header")
	ErrLength       = errors.New("message length field does not match its length")
	ErrChecksum     = errors.New("message checksum mismatch")
)

// EncodeMessage writes message seq of stream, n bytes long
// (MinMessage <= n <= len(buf)), into buf and returns it.
func EncodeMessage(buf []byte, stream uint32, seq uint64, n int) []byte {
	m := buf[:n]
	binary.LittleEndian.PutUint32(m[0:], stream)
	binary.LittleEndian.PutUint32(m[4:], uint32(n))
	binary.LittleEndian.PutUint64(m[8:], seq)
	x := seq*0x9e3779b97f4a7c15 ^ uint64(stream)
	i := 16
	for ; i+8 <= n-4; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(m[i:], x)
	}
	for ; i < n-4; i++ {
		m[i] = byte(x >> (8 * (i & 7)))
	}
	binary.LittleEndian.PutUint32(m[n-4:], crc32.Checksum(m[:n-4], castagnoli))
	return m
}

// DecodeMessage checks m and returns its stream and sequence number.
func DecodeMessage(m []byte) (stream uint32, seq uint64, err error) {
	if len(m) < MinMessage {
		return 0, 0, fmt.Errorf("%w: %d bytes", ErrShortMessage, len(m))
	}
	if n := binary.LittleEndian.Uint32(m[4:]); n != uint32(len(m)) {
		return 0, 0, fmt.Errorf("%w: field %d, message %d bytes", ErrLength, n, len(m))
	}
	if crc32.Checksum(m[:len(m)-4], castagnoli) != binary.LittleEndian.Uint32(m[len(m)-4:]) {
		return 0, 0, fmt.Errorf("%w (%d bytes)", ErrChecksum, len(m))
	}
	return binary.LittleEndian.Uint32(m[0:]), binary.LittleEndian.Uint64(m[8:]), nil
}

// MessageSize draws a message length for a ring of slotSize-byte slots
// (at least MinMessage): mostly small (up to 64 bytes), some medium (up to
// 256), a few up to the slot size, so that most messages are cheap and
// every size class still occurs.
func MessageSize(rng *rand.Rand, slotSize int) int {
	hi := slotSize
	switch r := rng.IntN(10); {
	case r < 5:
		hi = min(hi, 64)
	case r < 9:
		hi = min(hi, 256)
	}
	return MinMessage + rng.IntN(hi-MinMessage+1)
}

// RecordSize draws a message length for a record ring whose largest
// record is maxLen bytes (at least MinMessage): like MessageSize mostly
// small, but a fifth of them above 2048 bytes (when maxLen allows), where
// a record ring copies the payload outside its claim lock and commits it
// apart (ring.Records), and now and then the largest record or one byte
// either side of 2048.
func RecordSize(rng *rand.Rand, maxLen int) int {
	pick := func(lo, hi int) int {
		hi = min(hi, maxLen)
		lo = min(max(lo, MinMessage), hi)
		return lo + rng.IntN(hi-lo+1)
	}
	switch r := rng.IntN(100); {
	case r < 45:
		return pick(MinMessage, 64)
	case r < 65:
		return pick(65, 256)
	case r < 78:
		return pick(257, 2048)
	case r < 80:
		return pick(2047, 2050)
	case r < 95:
		return pick(2049, 8192)
	case r < 99:
		return pick(8193, maxLen)
	}
	return maxLen
}
