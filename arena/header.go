package arena

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Layout constants. docs/layout.md is the byte-exact description of these
// records; TestLayoutOffsets pins every offset below to it.
const (
	// Magic is the first 8 bytes of every arena file.
	Magic = "SHMRING\x00"
	// VersionMajor changes on any incompatible layout change; Open refuses
	// another major.
	VersionMajor = 1
	// VersionMinor changes on compatible additions (new reserved bytes put
	// to use in a way old readers may ignore).
	VersionMinor = 0
	// byteOrderMark is stored as a native uint32; read back on a host of the
	// other byte order it becomes 0x04030201.
	byteOrderMark = 0x01020304

	// HeaderSize is the size of the arena header at offset 0.
	HeaderSize = 256
	// DirEntrySize is the size of one directory entry.
	DirEntrySize = 128
	// MaxNameLen is the longest region name, in bytes.
	MaxNameLen = 63

	// stateReady is the value of the header's and an entry's State word once
	// fully initialised ("REDY" in little-endian bytes). A random or zero
	// word is never mistaken for it.
	stateReady = 0x59444552

	// DefaultDirCapacity is the number of directory entries of a new arena.
	DefaultDirCapacity = 64
	// MaxDirCapacity bounds the directory so a corrupt header cannot make
	// Open scan gigabytes.
	MaxDirCapacity = 1 << 16

	// maxSize bounds the arena size we agree to map (64 TiB).
	maxSize = 1 << 46
	// minPad and maxPad bound the recorded padding unit.
	minPad, maxPad = 64, 4096
	// minPage and maxPage bound the recorded page size (4 KiB .. 1 GiB).
	minPage, maxPage = 4096, 1 << 30
	// minAlign is the smallest region alignment: every region can hold an
	// 8-byte atomic at its start.
	minAlign = 8
)

// Feature bits, with ext4's three classes. IncompatFeatures bits that this
// build does not know make Open fail with ErrVersion. RoCompatFeatures bits
// that it does not know let Open map the arena and read its directory, but
// make Alloc fail with ErrVersion: such a feature changes what a writer of
// the directory must do. CompatFeatures bits are informational.
const (
	// knownIncompat is the set of incompatible feature bits this build
	// understands. None are defined yet.
	knownIncompat uint64 = 0
	// knownRoCompat is the set of read-only-compatible feature bits this
	// build understands. None are defined yet.
	knownRoCompat uint64 = 0
)

// header is the arena header at offset 0 of the file, exactly HeaderSize
// bytes, all integers little-endian (the native order of every supported
// host; a big-endian host refuses the arena with ErrByteOrder).
//
// Bytes [0,124) are written once by the creator before State is set and are
// covered by Checksum; bytes [128,256) are mutable and accessed atomically.
type header struct {
	Magic            [8]byte  // 0
	VersionMajor     uint16   // 8
	VersionMinor     uint16   // 10
	ByteOrder        uint32   // 12
	IncompatFeatures uint64   // 16
	CompatFeatures   uint64   // 24
	TotalSize        uint64   // 32: file and mapping size in bytes
	PageSize         uint32   // 40: page size the arena was sized with
	PadUnit          uint32   // 44: padding unit for hot fields (64 or 128 ...)
	HeaderSize       uint32   // 48: = HeaderSize
	DirEntrySize     uint32   // 52: = DirEntrySize
	DirOffset        uint64   // 56: = HeaderSize
	DirCapacity      uint32   // 64: number of directory entries
	CreatorPID       uint32   // 68
	CreatedUnixNano  int64    // 72
	DataOffset       uint64   // 80: first byte regions may use
	RoCompatFeatures uint64   // 88: unknown bits: read, but do not allocate
	_                [28]byte // 96: reserved, zero
	Checksum         uint32   // 124: CRC-32C (Castagnoli) of bytes [0,124)

	// Mutable part, its own 128 bytes.
	State         uint32    // 128: atomic; 0 while initialising, stateReady after
	DirCount      uint32    // 132: atomic; entries [0,DirCount) are published
	AllocNext     uint64    // 136: atomic; next free byte (offset) in the data area
	DirGeneration uint64    // 144: atomic; incremented after each publish
	_             [104]byte // 152: reserved, zero
}

// dirEntry is one directory entry, DirEntrySize bytes. Bytes [0,120) are
// written once, under the directory lock, before State is set; they are
// covered by Checksum. Flags and the reserved words are zero, kept for
// future per-region fields.
type dirEntry struct {
	Name            [64]byte // 0: NUL-padded, 1..63 bytes, no NUL inside
	Offset          uint64   // 64: from the start of the arena
	Size            uint64   // 72
	Align           uint64   // 80: power of two; Offset%Align == 0
	Kind            uint32   // 88: what the region holds (see Kind)
	Flags           uint32   // 92: reserved, zero
	CreatorPID      uint32   // 96
	_               uint32   // 100: reserved, zero
	CreatedUnixNano int64    // 104
	_               uint64   // 112: reserved, zero
	Checksum        uint32   // 120: CRC-32C of bytes [0,120)
	State           uint32   // 124: atomic; stateReady once published
}

// Compile-time size checks: a mismatch fails to build.
var (
	_ [HeaderSize - unsafe.Sizeof(header{})]byte
	_ [unsafe.Sizeof(header{}) - HeaderSize]byte
	_ [DirEntrySize - unsafe.Sizeof(dirEntry{})]byte
	_ [unsafe.Sizeof(dirEntry{}) - DirEntrySize]byte
)

const (
	headerSumLen = unsafe.Offsetof(header{}.Checksum)
	entrySumLen  = unsafe.Offsetof(dirEntry{}.Checksum)
	// headerOnceLen covers the once part of the header: the checksummed
	// bytes and the checksum.
	headerOnceLen = headerSumLen + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (h *header) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(h)), HeaderSize)
}

func (e *dirEntry) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(e)), DirEntrySize)
}

func (h *header) sum() uint32 { return crc32.Checksum(h.bytes()[:headerSumLen], castagnoli) }

func (e *dirEntry) sum() uint32 { return crc32.Checksum(e.bytes()[:entrySumLen], castagnoli) }

// geometry is a process-private copy of the immutable header fields. After
// Open validated it, nothing is ever re-read from shared memory: a peer that
// later scribbles over the header cannot move our bounds.
type geometry struct {
	size       int64
	pageSize   int64
	padUnit    int64
	dirOffset  int64
	dirCap     int64
	dataOffset int64
	minor      uint16
	incompat   uint64
	roCompat   uint64
	compat     uint64
	creatorPID uint32
	created    int64
}

func isPow2(x uint64) bool { return x != 0 && x&(x-1) == 0 }

func alignUp(x, a int64) int64 { return (x + a - 1) &^ (a - 1) }

// checkIdentity validates the fields that say whether this is an arena of a
// layout we read: magic, byte order and version (the first rules of
// headerRules). It needs only the first 16 bytes.
func (h *header) checkIdentity() error {
	for _, r := range headerRules[:identityRules] {
		if err := r.check(h, 0); err != nil {
			return err
		}
	}
	return nil
}

// headerRule is one rule of the header's validation: field is the
// docs/layout.md field a failure is reported at (Check), check returns nil
// when the rule holds. validate applies the rules in order and stops at the
// first that fails, so a rule may rely on the ones before it having passed
// only for what its message says; it must be safe on any header, because
// Check applies every rule whatever the others found (it never divides by
// a field an earlier rule bounds without testing it). A failure that
// matches ErrNotArena or ErrVersion means the rest of the header cannot be
// read as this layout: Check stops there.
type headerRule struct {
	field string
	// geom: the rule bounds a field the geometry is built from; Check
	// walks the directory only when every such rule held.
	geom  bool
	check func(h *header, fileSize int64) error
}

// identityRules is the number of leading headerRules that checkIdentity
// applies.
const identityRules = 3

// headerRules are the header's validation rules, in the order of
// docs/layout.md (Opening, step 3).
var headerRules = [...]headerRule{
	{"Magic", false, func(h *header, _ int64) error {
		if string(h.Magic[:]) != Magic {
			return fmt.Errorf("%w: bad magic %q", ErrNotArena, h.Magic[:])
		}
		return nil
	}},
	{"ByteOrder", false, func(h *header, _ int64) error {
		if h.ByteOrder != byteOrderMark {
			if bits.ReverseBytes32(h.ByteOrder) == byteOrderMark {
				return fmt.Errorf("%w: arena written by a host of the other byte order", ErrByteOrder)
			}
			return corruptf("byte order mark %#x", h.ByteOrder)
		}
		return nil
	}},
	{"VersionMajor", false, func(h *header, _ int64) error {
		if h.VersionMajor != VersionMajor {
			return fmt.Errorf("%w: layout %d.%d, this build reads %d.x", ErrVersion, h.VersionMajor, h.VersionMinor, VersionMajor)
		}
		return nil
	}},
	{"Checksum", false, func(h *header, _ int64) error {
		if got := h.sum(); got != h.Checksum {
			return fmt.Errorf("%w: header checksum %#08x, computed %#08x", ErrChecksum, h.Checksum, got)
		}
		return nil
	}},
	{"IncompatFeatures", false, func(h *header, _ int64) error {
		if unknown := h.IncompatFeatures &^ knownIncompat; unknown != 0 {
			return fmt.Errorf("%w: unknown required features %#x", ErrVersion, unknown)
		}
		return nil
	}},
	// One message for the three fixed sizes (Open's), a rule for each
	// (Check's offsets).
	{"HeaderSize", true, func(h *header, _ int64) error { return h.checkSizes(h.HeaderSize != HeaderSize) }},
	{"DirEntrySize", true, func(h *header, _ int64) error { return h.checkSizes(h.DirEntrySize != DirEntrySize) }},
	{"DirOffset", true, func(h *header, _ int64) error { return h.checkSizes(h.DirOffset != HeaderSize) }},
	{"PageSize", true, func(h *header, _ int64) error {
		if p := uint64(h.PageSize); !isPow2(p) || p < minPage || p > maxPage {
			return corruptf("page size %d", h.PageSize)
		}
		return nil
	}},
	{"PadUnit", true, func(h *header, _ int64) error {
		if p := uint64(h.PadUnit); !isPow2(p) || p < minPad || p > maxPad {
			return corruptf("padding unit %d", h.PadUnit)
		}
		return nil
	}},
	{"TotalSize", true, func(h *header, _ int64) error {
		// PageSize 0 fails its own rule; do not divide by it here.
		if h.TotalSize == 0 || h.TotalSize > maxSize || (h.PageSize != 0 && h.TotalSize%uint64(h.PageSize) != 0) {
			return corruptf("total size %d (page size %d)", h.TotalSize, h.PageSize)
		}
		return nil
	}},
	{"DirCapacity", true, func(h *header, _ int64) error {
		if h.DirCapacity == 0 || h.DirCapacity > MaxDirCapacity {
			return corruptf("directory capacity %d", h.DirCapacity)
		}
		return nil
	}},
	{"DataOffset", true, func(h *header, _ int64) error {
		dirEnd := uint64(HeaderSize) + uint64(h.DirCapacity)*DirEntrySize // no overflow: a uint32 times 128
		if h.DataOffset < dirEnd || (h.PageSize != 0 && h.DataOffset%uint64(h.PageSize) != 0) || h.DataOffset > h.TotalSize {
			return corruptf("data offset %d (directory ends at %d, size %d)", h.DataOffset, dirEnd, h.TotalSize)
		}
		return nil
	}},
	{"TotalSize", false, func(h *header, fileSize int64) error {
		if fileSize < 0 || uint64(fileSize) < h.TotalSize {
			return fmt.Errorf("%w: file has %d bytes, header says %d", ErrTruncated, fileSize, h.TotalSize)
		}
		if uint64(fileSize) != h.TotalSize {
			return corruptf("file has %d bytes, header says %d", fileSize, h.TotalSize)
		}
		return nil
	}},
	{"TotalSize", false, func(h *header, _ int64) error {
		if h.TotalSize > math.MaxInt {
			// Only on 32-bit hosts: the mapping length is an int.
			return corruptf("total size %d exceeds this host's address space (%d)", h.TotalSize, uint64(math.MaxInt))
		}
		return nil
	}},
}

// checkSizes is the error of the fixed-size rules when bad.
func (h *header) checkSizes(bad bool) error {
	if bad {
		return corruptf("header size %d, entry size %d, directory offset %d", h.HeaderSize, h.DirEntrySize, h.DirOffset)
	}
	return nil
}

// validate checks a private copy of the header against itself and the file
// size (headerRules, stopping at the first failure), and returns the
// geometry. It never trusts one field to bound another before that field is
// itself bounded, and all arithmetic is overflow-safe.
func (h *header) validate(fileSize int64) (geometry, error) {
	for _, r := range headerRules {
		if err := r.check(h, fileSize); err != nil {
			return geometry{}, err
		}
	}
	return h.geometry(), nil
}

// geometry is the private geometry of a header that passed validate.
func (h *header) geometry() geometry {
	return geometry{
		size:       int64(h.TotalSize),
		pageSize:   int64(h.PageSize),
		padUnit:    int64(h.PadUnit),
		dirOffset:  HeaderSize,
		dirCap:     int64(h.DirCapacity),
		dataOffset: int64(h.DataOffset),
		minor:      h.VersionMinor,
		incompat:   h.IncompatFeatures,
		roCompat:   h.RoCompatFeatures,
		compat:     h.CompatFeatures,
		creatorPID: h.CreatorPID,
		created:    h.CreatedUnixNano,
	}
}

// entryInfo is a validated private copy of a directory entry.
type entryInfo struct {
	name       string
	off, size  int64
	align      int64
	kind       Kind
	creatorPID uint32
	created    int64
}

// entryRule is one rule of a directory entry's validation, like
// headerRule: field is the docs/layout.md field a failure is reported at;
// check must be safe on any entry (Check applies every rule).
type entryRule struct {
	field string
	check func(e *dirEntry, g *geometry, i int) error
}

// entryRules are a directory entry's validation rules (docs/layout.md,
// Opening, step 5), in the order validate applies them.
var entryRules = [...]entryRule{
	{"Checksum", func(e *dirEntry, _ *geometry, i int) error {
		if got := e.sum(); got != e.Checksum {
			return fmt.Errorf("%w: directory entry %d checksum %#08x, computed %#08x", ErrChecksum, i, e.Checksum, got)
		}
		return nil
	}},
	{"Name", func(e *dirEntry, _ *geometry, i int) error {
		n := bytes.IndexByte(e.Name[:], 0)
		if n <= 0 || n > MaxNameLen {
			return corruptf("directory entry %d: name not NUL-terminated or empty", i)
		}
		for _, c := range e.Name[n:] {
			if c != 0 {
				return corruptf("directory entry %d: bytes after name terminator", i)
			}
		}
		if err := checkStoredName(string(e.Name[:n])); err != nil {
			return corruptf("directory entry %d: %v", i, err)
		}
		return nil
	}},
	{"Align", func(e *dirEntry, g *geometry, i int) error {
		if !isPow2(e.Align) || e.Align < minAlign || e.Align > uint64(g.pageSize) {
			return corruptf("directory entry %d (%q): alignment %d not a power of two in [%d,%d]", i, e.name(), e.Align, minAlign, g.pageSize)
		}
		return nil
	}},
	{"Size", func(e *dirEntry, _ *geometry, i int) error {
		if e.Size == 0 {
			return corruptf("directory entry %d (%q): size 0", i, e.name())
		}
		return nil
	}},
	{"Offset", func(e *dirEntry, g *geometry, i int) error {
		if e.Offset < uint64(g.dataOffset) || e.Offset > uint64(g.size) || e.Size > uint64(g.size)-e.Offset {
			return corruptf("directory entry %d (%q): [%d,+%d) outside data area [%d,%d)", i, e.name(), e.Offset, e.Size, g.dataOffset, g.size)
		}
		return nil
	}},
	{"Offset", func(e *dirEntry, _ *geometry, i int) error {
		// An alignment that is not a power of two fails its own rule.
		if isPow2(e.Align) && e.Offset%e.Align != 0 {
			return corruptf("directory entry %d (%q): offset %d not aligned to %d", i, e.name(), e.Offset, e.Align)
		}
		return nil
	}},
}

// name is the entry's name as stored: the bytes before the first NUL (all
// 64 if there is none). It is a valid name only once the Name rule passed.
func (e *dirEntry) name() string {
	if n := bytes.IndexByte(e.Name[:], 0); n >= 0 {
		return string(e.Name[:n])
	}
	return string(e.Name[:])
}

// validate checks a private copy of entry i against the geometry
// (entryRules, stopping at the first failure).
func (e *dirEntry) validate(g *geometry, i int) (entryInfo, error) {
	for _, r := range entryRules {
		if err := r.check(e, g, i); err != nil {
			return entryInfo{}, err
		}
	}
	return e.info(), nil
}

// info is the private copy of an entry that passed its rules.
func (e *dirEntry) info() entryInfo {
	return entryInfo{
		name:       e.name(),
		off:        int64(e.Offset),
		size:       int64(e.Size),
		align:      int64(e.Align),
		kind:       Kind(e.Kind),
		creatorPID: e.CreatorPID,
		created:    e.CreatedUnixNano,
	}
}

// loadEntry copies entry i out of the mapping (which the caller bounded by
// the private geometry) after an acquire load of its State.
func loadEntry(mem []byte, g *geometry, i int) (dirEntry, bool) {
	off := g.dirOffset + int64(i)*DirEntrySize
	src := (*dirEntry)(unsafe.Pointer(&mem[off])) // in bounds: i < dirCap, dirOffset+dirCap*128 <= dataOffset <= size
	// Acquire: pairs with the release store of State in publishEntry, so
	// the bytes copied below are the ones written before it.
	ready := atomic.LoadUint32(&src.State) == stateReady
	var e dirEntry
	copy(e.bytes(), mem[off:off+DirEntrySize])
	return e, ready
}
