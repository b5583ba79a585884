package main

import (
	"testing"
	"unsafe"
)

// TestLedgerLayout pins the ledger records to the offsets ledger.go
// documents: children and the supervisor are the same binary, but a
// record that changed shape silently would still be read by whoever
// decodes a kept arena.
func TestLedgerLayout(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uintptr
	}{
		{"ledgerHeader", unsafe.Sizeof(ledgerHeader{}), 128},
		{"ledgerHeader.Stop", unsafe.Offsetof(ledgerHeader{}.Stop), 24},
		{"ringRecord", unsafe.Sizeof(ringRecord{}), 128},
		{"ringRecord.HoldConsumers", unsafe.Offsetof(ringRecord{}.HoldConsumers), 8},
		{"producerRecord", unsafe.Sizeof(producerRecord{}), 128},
		{"producerRecord.Attempt", unsafe.Offsetof(producerRecord{}.Attempt), 16},
		{"producerRecord.Inc", unsafe.Offsetof(producerRecord{}.Inc), 28},
		{"producerRecord.Started", unsafe.Offsetof(producerRecord{}.Started), 32},
		{"producerRecord.Base", unsafe.Offsetof(producerRecord{}.Base), 40},
		{"producerRecord.Reserved", unsafe.Offsetof(producerRecord{}.Reserved), 48},
		{"consumerRecord", unsafe.Sizeof(consumerRecord{}), 256},
		{"consumerRecord.Head", unsafe.Offsetof(consumerRecord{}.Head), 24},
		{"consumerRecord.ClaimHead", unsafe.Offsetof(consumerRecord{}.ClaimHead), 56},
		{"consumerRecord.Started", unsafe.Offsetof(consumerRecord{}.Started), 64},
		{"consumerRecord.Join", unsafe.Offsetof(consumerRecord{}.Join), 72},
		{"consumerRecord.Mismatch", unsafe.Offsetof(consumerRecord{}.Mismatch), 80},
		{"consumerRecord.HeldFrom", unsafe.Offsetof(consumerRecord{}.HeldFrom), 88},
		{"consumerRecord.Read", unsafe.Offsetof(consumerRecord{}.Read), 128},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	g := ledgerGeometry{Rings: 3, Producers: 4, Consumers: 4}
	if got, want := g.size(), int64(128+3*128+4*128+4*256+4*journalCap*8); got != want {
		t.Errorf("size %d, want %d", got, want)
	}
	mem := make([]uint64, g.size()/8)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
	if _, err := newLedger(buf, g); err != nil {
		t.Fatal(err)
	}
	if _, err := openLedger(buf, g); err != nil {
		t.Fatal(err)
	}
	if _, err := openLedger(buf, ledgerGeometry{Rings: 3, Producers: 4, Consumers: 3}); err == nil {
		t.Error("a ledger opened with another geometry")
	}
	for stream, seq := range map[uint32]uint64{0: 0, 7: 12345, 65535: seqMask} {
		if s, n := splitEntry(journalEntry(stream, seq)); s != stream || n != seq {
			t.Errorf("entry (%d, %d) came back as (%d, %d)", stream, seq, s, n)
		}
	}
}
