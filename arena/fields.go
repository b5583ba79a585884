package arena

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"
)

// The header and directory entries field by field, for tools that show an
// arena as it lies in the file (shmring inspect) and for Check, which names
// the field at fault. The tables below list every field of the two records
// with the docs/layout.md name, and the reserved ranges between them, so
// that the rows tile each record; TestFieldTables pins them to the structs.

// Field is one field of an arena record as found in the file.
type Field struct {
	// Name is the field's name in docs/layout.md ("TotalSize"), or
	// "reserved" for a reserved range.
	Name string
	// Offset is the field's offset from the start of the file; Size its
	// width in bytes.
	Offset int64
	Size   int
	// Value is the field read as a little-endian integer (0 for the byte
	// arrays: Magic, Name, reserved ranges wider than 8 bytes); Text the
	// field rendered for people (the magic and names quoted, times in RFC
	// 3339, feature bits and checksums in hex).
	Value uint64
	Text  string
}

// fieldDesc is one row of a record's field table.
type fieldDesc struct {
	name      string
	off, size uintptr
	// render gives the Text of a field whose value is v and whose bytes
	// are b; nil: v in decimal.
	render func(v uint64, b []byte) string
}

var (
	hdrZero header
	entZero dirEntry
)

// headerFields is the header's field table, in offset order.
var headerFields = []fieldDesc{
	{"Magic", unsafe.Offsetof(hdrZero.Magic), unsafe.Sizeof(hdrZero.Magic), textQuoted},
	{"VersionMajor", unsafe.Offsetof(hdrZero.VersionMajor), unsafe.Sizeof(hdrZero.VersionMajor), nil},
	{"VersionMinor", unsafe.Offsetof(hdrZero.VersionMinor), unsafe.Sizeof(hdrZero.VersionMinor), nil},
	{"ByteOrder", unsafe.Offsetof(hdrZero.ByteOrder), unsafe.Sizeof(hdrZero.ByteOrder), textHex},
	{"IncompatFeatures", unsafe.Offsetof(hdrZero.IncompatFeatures), unsafe.Sizeof(hdrZero.IncompatFeatures), textHex},
	{"CompatFeatures", unsafe.Offsetof(hdrZero.CompatFeatures), unsafe.Sizeof(hdrZero.CompatFeatures), textHex},
	{"TotalSize", unsafe.Offsetof(hdrZero.TotalSize), unsafe.Sizeof(hdrZero.TotalSize), nil},
	{"PageSize", unsafe.Offsetof(hdrZero.PageSize), unsafe.Sizeof(hdrZero.PageSize), nil},
	{"PadUnit", unsafe.Offsetof(hdrZero.PadUnit), unsafe.Sizeof(hdrZero.PadUnit), nil},
	{"HeaderSize", unsafe.Offsetof(hdrZero.HeaderSize), unsafe.Sizeof(hdrZero.HeaderSize), nil},
	{"DirEntrySize", unsafe.Offsetof(hdrZero.DirEntrySize), unsafe.Sizeof(hdrZero.DirEntrySize), nil},
	{"DirOffset", unsafe.Offsetof(hdrZero.DirOffset), unsafe.Sizeof(hdrZero.DirOffset), nil},
	{"DirCapacity", unsafe.Offsetof(hdrZero.DirCapacity), unsafe.Sizeof(hdrZero.DirCapacity), nil},
	{"CreatorPID", unsafe.Offsetof(hdrZero.CreatorPID), unsafe.Sizeof(hdrZero.CreatorPID), nil},
	{"CreatedUnixNano", unsafe.Offsetof(hdrZero.CreatedUnixNano), unsafe.Sizeof(hdrZero.CreatedUnixNano), textTime},
	{"DataOffset", unsafe.Offsetof(hdrZero.DataOffset), unsafe.Sizeof(hdrZero.DataOffset), nil},
	{"RoCompatFeatures", unsafe.Offsetof(hdrZero.RoCompatFeatures), unsafe.Sizeof(hdrZero.RoCompatFeatures), textHex},
	{"reserved", unsafe.Offsetof(hdrZero.RoCompatFeatures) + 8, unsafe.Offsetof(hdrZero.Checksum) - unsafe.Offsetof(hdrZero.RoCompatFeatures) - 8, textReserved},
	{"Checksum", unsafe.Offsetof(hdrZero.Checksum), unsafe.Sizeof(hdrZero.Checksum), textHex},
	{"State", unsafe.Offsetof(hdrZero.State), unsafe.Sizeof(hdrZero.State), textState},
	{"DirCount", unsafe.Offsetof(hdrZero.DirCount), unsafe.Sizeof(hdrZero.DirCount), nil},
	{"AllocNext", unsafe.Offsetof(hdrZero.AllocNext), unsafe.Sizeof(hdrZero.AllocNext), nil},
	{"DirGeneration", unsafe.Offsetof(hdrZero.DirGeneration), unsafe.Sizeof(hdrZero.DirGeneration), nil},
	{"reserved", unsafe.Offsetof(hdrZero.DirGeneration) + 8, HeaderSize - unsafe.Offsetof(hdrZero.DirGeneration) - 8, textReserved},
}

// entryFields is a directory entry's field table, in offset order.
var entryFields = []fieldDesc{
	{"Name", unsafe.Offsetof(entZero.Name), unsafe.Sizeof(entZero.Name), textName},
	{"Offset", unsafe.Offsetof(entZero.Offset), unsafe.Sizeof(entZero.Offset), nil},
	{"Size", unsafe.Offsetof(entZero.Size), unsafe.Sizeof(entZero.Size), nil},
	{"Align", unsafe.Offsetof(entZero.Align), unsafe.Sizeof(entZero.Align), nil},
	{"Kind", unsafe.Offsetof(entZero.Kind), unsafe.Sizeof(entZero.Kind), textKind},
	{"Flags", unsafe.Offsetof(entZero.Flags), unsafe.Sizeof(entZero.Flags), textHex},
	{"CreatorPID", unsafe.Offsetof(entZero.CreatorPID), unsafe.Sizeof(entZero.CreatorPID), nil},
	{"reserved", unsafe.Offsetof(entZero.CreatorPID) + 4, unsafe.Offsetof(entZero.CreatedUnixNano) - unsafe.Offsetof(entZero.CreatorPID) - 4, textReserved},
	{"CreatedUnixNano", unsafe.Offsetof(entZero.CreatedUnixNano), unsafe.Sizeof(entZero.CreatedUnixNano), textTime},
	{"reserved", unsafe.Offsetof(entZero.CreatedUnixNano) + 8, unsafe.Offsetof(entZero.Checksum) - unsafe.Offsetof(entZero.CreatedUnixNano) - 8, textReserved},
	{"Checksum", unsafe.Offsetof(entZero.Checksum), unsafe.Sizeof(entZero.Checksum), textHex},
	{"State", unsafe.Offsetof(entZero.State), unsafe.Sizeof(entZero.State), textState},
}

// fieldOffset is the offset of the named field in a table (its first row
// of that name), or 0 if it has none.
func fieldOffset(table []fieldDesc, field string) int64 {
	for _, d := range table {
		if d.name == field {
			return int64(d.off)
		}
	}
	return 0
}

func headerFieldOffset(field string) int64 { return fieldOffset(headerFields, field) }
func entryFieldOffset(field string) int64  { return fieldOffset(entryFields, field) }

// render lists the fields of record bytes rec (a private copy), which lie
// at file offset base.
func render(table []fieldDesc, rec []byte, base int64) []Field {
	out := make([]Field, 0, len(table))
	for _, d := range table {
		b := rec[d.off : d.off+d.size]
		var v uint64
		switch d.size {
		case 2:
			v = uint64(binary.LittleEndian.Uint16(b))
		case 4:
			v = uint64(binary.LittleEndian.Uint32(b))
		case 8:
			if d.name != "Magic" {
				v = binary.LittleEndian.Uint64(b)
			}
		}
		text := strconv.FormatUint(v, 10)
		if d.render != nil {
			text = d.render(v, b)
		}
		out = append(out, Field{Name: d.name, Offset: base + int64(d.off), Size: int(d.size), Value: v, Text: text})
	}
	return out
}

func textQuoted(_ uint64, b []byte) string { return strconv.Quote(string(b)) }
func textHex(v uint64, _ []byte) string    { return fmt.Sprintf("%#x", v) }

func textTime(v uint64, _ []byte) string {
	return time.Unix(0, int64(v)).UTC().Format(time.RFC3339Nano)
}

func textState(v uint64, _ []byte) string {
	switch v {
	case stateReady:
		return fmt.Sprintf("%#x (ready)", v)
	case 0:
		return "0 (not ready)"
	}
	return fmt.Sprintf("%#x (invalid)", v)
}

func textReserved(_ uint64, b []byte) string {
	for _, c := range b {
		if c != 0 {
			return fmt.Sprintf("non-zero: %x", b)
		}
	}
	return "zero"
}

// name renders a directory entry's Name: the bytes before the first NUL,
// quoted.
func textName(_ uint64, b []byte) string {
	e := dirEntry{}
	copy(e.Name[:], b)
	return strconv.Quote(e.name())
}

// kind renders a region kind: "raw" for 0; a tag of four printable ASCII
// bytes (the rings' "SPSC", "MPMC", "BCST") as those bytes and the number.
func textKind(v uint64, b []byte) string {
	if v == 0 {
		return "0 (raw)"
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return fmt.Sprintf("%#x", v)
		}
	}
	return fmt.Sprintf("%#x (%s)", v, b)
}

// DirEntryFields is one directory entry, field by field.
type DirEntryFields struct {
	// Index is the entry's index; Offset its offset in the file.
	Index  int
	Offset int64
	// Fields are its fields, in offset order (docs/layout.md's table).
	Fields []Field
}

// Header lists the arena header's fields as they are in the mapping now,
// in offset order, reserved ranges included (docs/layout.md's table): the
// once part as written before State (plain reads: it never changes), the
// mutable words (State, DirCount, AllocNext, DirGeneration) and the
// reserved range beside them with atomic loads. It fails only when the
// handle is closed or found its file truncated.
func (a *Arena) Header() ([]Field, error) {
	if err := a.CheckSize(); err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	var h header
	// The once part: written by the creator before its release store of
	// State, which Open acquire-loaded; nobody writes it since.
	copy(h.bytes()[:headerOnceLen], a.mem[:headerOnceLen])
	src := (*header)(unsafe.Pointer(&a.mem[0])) // the mapping is page-aligned and at least HeaderSize
	// Atomic loads: live allocators store these (AllocKind); each is
	// read once, and the set is not a consistent snapshot (Check reads
	// one through the directory lock's protocol).
	h.State = atomic.LoadUint32(&src.State)
	h.DirCount = atomic.LoadUint32(&src.DirCount)
	h.AllocNext = atomic.LoadUint64(&src.AllocNext)
	h.DirGeneration = atomic.LoadUint64(&src.DirGeneration)
	loadWords(h.bytes(), a.mem, unsafe.Offsetof(h.DirGeneration)+8, HeaderSize) // the mutable reserved range
	return render(headerFields, h.bytes(), 0), nil
}

// Directory lists the directory entries [0, DirCount) (DirCount
// acquire-loaded once and bounded by the capacity validated at Open)
// field by field, as they are in the mapping: each entry's State is
// acquire-loaded before its bytes are copied (as Lookup does), so a
// counted entry is complete. The entries are not validated here (Open
// did; Check reports what is wrong). It fails only when the handle is
// closed or found its file truncated.
func (a *Arena) Directory() ([]DirEntryFields, error) {
	if err := a.CheckSize(); err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	g := &a.g
	h := (*header)(unsafe.Pointer(&a.mem[0]))
	// Acquire: pairs with the release store of DirCount in AllocKind.
	count := min(int64(atomic.LoadUint32(&h.DirCount)), g.dirCap)
	out := make([]DirEntryFields, 0, count)
	for i := 0; i < int(count); i++ {
		e, _ := loadEntry(a.mem, g, i)
		off := g.dirOffset + int64(i)*DirEntrySize
		out = append(out, DirEntryFields{Index: i, Offset: off, Fields: render(entryFields, e.bytes(), off)})
	}
	return out, nil
}

// loadWords copies src[from:to] into dst[from:to] with atomic 4-byte loads
// (from and to are multiples of 4, src 4-aligned): words another process
// may store.
func loadWords(dst, src []byte, from, to uintptr) {
	for off := from; off < to; off += 4 {
		binary.LittleEndian.PutUint32(dst[off:], atomic.LoadUint32((*uint32)(unsafe.Pointer(&src[off]))))
	}
}
