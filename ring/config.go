package ring

import (
	"fmt"
	"math/bits"
)

// Config is the geometry of a new ring.
type Config struct {
	// Slots is the number of messages the ring holds: a power of two, at
	// least 2 and at most 1<<30. 0 for a record ring (KindRecords), whose
	// capacity is Capacity bytes.
	Slots int
	// SlotSize is the largest message in bytes, 1 .. 1<<30. Messages of
	// any length from 0 to SlotSize are accepted. For a record ring it is
	// the largest record, at most Capacity/2 - 16.
	SlotSize int
	// Capacity is, for a record ring (KindRecords) only, the size of its
	// data area in bytes: a multiple of 4096 from 4096 (MinRecordCapacity)
	// to 1<<34 (a power of two is a little faster: no division per
	// record). Each record takes its length plus a 16-byte header, rounded
	// up to 16. 0 for the other kinds.
	Capacity int
	// Peers is the number of entries in the ring's table of attached
	// handles (each holds one handle's pid, start time, heartbeat and
	// counters). 0 means DefaultPeers. Handles beyond it share an overflow
	// entry.
	Peers int
	// Subscribers is, for a broadcast ring, the most subscribers attached
	// at once: each has an entry of its own (its cursor and counters)
	// beside the Peers entries. 0 means DefaultSubscribers. Must be 0 for
	// the other kinds.
	Subscribers int
}

// Limits.
const (
	MaxSlots     = 1 << 30
	MaxSlotSize  = 1 << 30
	DefaultPeers = 16
	// DefaultSubscribers is a broadcast ring's Config.Subscribers when 0.
	DefaultSubscribers = 16
	MaxPeers           = 1024
	maxRingBytes       = 1 << 44
	// MinRecordCapacity is the smallest Config.Capacity of a record ring.
	MinRecordCapacity = 4096
	maxRecordCapacity = 1 << 34 // the header's Slots (Capacity/16) is 32 bits
)

func (c Config) withDefaults() Config {
	if c.Peers == 0 {
		c.Peers = DefaultPeers
	}
	return c
}

func (c Config) validate() error {
	if c.Slots < 2 || c.Slots > MaxSlots || bits.OnesCount(uint(c.Slots)) != 1 {
		return fmt.Errorf("%w: Slots %d must be a power of two in [2,%d]", ErrInvalid, c.Slots, MaxSlots)
	}
	if c.SlotSize < 1 || c.SlotSize > MaxSlotSize {
		return fmt.Errorf("%w: SlotSize %d must be in [1,%d]", ErrInvalid, c.SlotSize, MaxSlotSize)
	}
	if c.Peers < 1 || c.Peers > MaxPeers {
		return fmt.Errorf("%w: Peers %d must be in [1,%d]", ErrInvalid, c.Peers, MaxPeers)
	}
	return nil
}

// validateKind checks a config for a ring of kind k (after withDefaults).
func (c Config) validateKind(k ringKind) error {
	if k == kindRecords {
		return c.validateRecords()
	}
	if c.Capacity != 0 {
		return fmt.Errorf("%w: Capacity %d on a %v ring (only record rings have a byte capacity; use Slots)", ErrInvalid, c.Capacity, k)
	}
	if err := c.validate(); err != nil {
		return err
	}
	return c.validateSubscribers(k)
}

// validateRecords checks a record ring's config.
func (c Config) validateRecords() error {
	if c.Slots != 0 {
		return fmt.Errorf("%w: Slots %d on a record ring (its capacity is Capacity bytes)", ErrInvalid, c.Slots)
	}
	if c.Subscribers != 0 {
		return fmt.Errorf("%w: Subscribers %d on a record ring (only broadcast rings have subscribers)", ErrInvalid, c.Subscribers)
	}
	if c.Capacity < MinRecordCapacity || c.Capacity > maxRecordCapacity || c.Capacity%recordDataAlign != 0 {
		return fmt.Errorf("%w: Capacity %d must be a multiple of %d in [%d,%d]", ErrInvalid, c.Capacity, recordDataAlign, MinRecordCapacity, maxRecordCapacity)
	}
	if maxRec := c.Capacity/2 - recordHeaderSize; c.SlotSize < 1 || c.SlotSize > maxRec || c.SlotSize > MaxSlotSize {
		return fmt.Errorf("%w: SlotSize (the largest record) %d must be in [1,%d] for Capacity %d", ErrInvalid, c.SlotSize, min(maxRec, MaxSlotSize), c.Capacity)
	}
	if c.Peers < 1 || c.Peers > MaxPeers {
		return fmt.Errorf("%w: Peers %d must be in [1,%d]", ErrInvalid, c.Peers, MaxPeers)
	}
	return nil
}

// validateSubscribers checks Subscribers for kind k (after withDefaults
// and validate): in [1, MaxPeers] for a broadcast ring, 0 otherwise.
func (c Config) validateSubscribers(k ringKind) error {
	if k != kindBroadcast {
		if c.Subscribers != 0 {
			return fmt.Errorf("%w: Subscribers %d on a %v ring (only broadcast rings have subscribers)", ErrInvalid, c.Subscribers, k)
		}
		return nil
	}
	if c.Subscribers < 1 || c.Subscribers > MaxPeers {
		return fmt.Errorf("%w: Subscribers %d must be in [1,%d]", ErrInvalid, c.Subscribers, MaxPeers)
	}
	return nil
}
