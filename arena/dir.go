package arena

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kind tags what a region holds, so tools can list an arena's rings without
// guessing. Packages that build on regions define their own values; the
// arena only stores the tag.
type Kind uint32

// KindRaw is an untyped region.
const KindRaw Kind = 0

// Region is a named, aligned byte range of an arena, validated when it was
// looked up. Its bytes are shared with every process that maps the arena and
// start zeroed (space is never reused).
type Region struct {
	info entryInfo
	mem  []byte
}

// Name is the region's name.
func (r *Region) Name() string { return r.info.name }

// Kind is the tag given at allocation.
func (r *Region) Kind() Kind { return r.info.kind }

// Offset is the region's offset from the start of the arena.
func (r *Region) Offset() int64 { return r.info.off }

// Size is the region's size in bytes.
func (r *Region) Size() int64 { return r.info.size }

// Align is the alignment the region was allocated with.
func (r *Region) Align() int64 { return r.info.align }

// CreatorPID is the pid of the process that allocated the region.
func (r *Region) CreatorPID() int { return int(r.info.creatorPID) }

// Created is when the region was allocated.
func (r *Region) Created() time.Time { return time.Unix(0, r.info.created) }

// Bytes is the region's memory: len and cap are exactly Size, so no slice
// of it can reach past the region. Valid until the arena handle is closed
// or finds its file truncated (CheckSize); code that keeps using it
// without calling the arena's methods must Pin the mapping.
func (r *Region) Bytes() []byte { return r.mem }

func (a *Arena) region(info entryInfo) *Region {
	return &Region{info: info, mem: a.mem[info.off : info.off+info.size : info.off+info.size]}
}

// Alloc allocates a zeroed region of size bytes, aligned to align (a power
// of two from 8 to the page size; 0 means the arena's padding unit), under a
// name that no other region has. It takes the cross-process directory lock.
//
// A name is 1..MaxNameLen bytes of printable ASCII without '/', and not "."
// or ".."; any other fails with ErrBadName. A size or alignment that is
// invalid in itself fails with ErrInvalid; a size larger than the data area,
// or than what is left of it, with ErrNoSpace (as does a full directory).
func (a *Arena) Alloc(name string, size, align int64) (*Region, error) {
	return a.AllocKind(name, KindRaw, size, align)
}

// AllocKind is Alloc with a kind tag recorded in the directory.
//
// An arena whose header sets a read-only-compatible feature bit that this
// build does not know can be opened and read, but not allocated in:
// AllocKind then fails with ErrVersion.
func (a *Arena) AllocKind(name string, kind Kind, size, align int64) (*Region, error) {
	if a.o.readOnly {
		return nil, fmt.Errorf("%w: cannot allocate region %q", ErrReadOnly, name)
	}
	if err := checkRegionName(name); err != nil {
		return nil, err
	}
	if align == 0 {
		align = a.g.padUnit
	}
	if align < minAlign || !isPow2(uint64(align)) || align > a.g.pageSize {
		return nil, fmt.Errorf("%w: alignment %d not a power of two in [%d,%d]", ErrInvalid, align, minAlign, a.g.pageSize)
	}
	if size <= 0 {
		return nil, fmt.Errorf("%w: region size %d", ErrInvalid, size)
	}
	if data := a.g.size - a.g.dataOffset; size > data {
		return nil, fmt.Errorf("%w: region %q of %d bytes is larger than the %d-byte data area", ErrNoSpace, name, size, data)
	}
	// The file's length first (one fstat): an allocation writes the
	// directory and hands out a region that must not lie past the end.
	if err := a.CheckSize(); err != nil {
		return nil, err
	}
	// allocMu first, then mu shared: while this Alloc waits for the
	// cross-process lock, Lookup and Regions on this handle go on, and
	// Close waits for it.
	a.allocMu.Lock()
	defer a.allocMu.Unlock()
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	if unknown := a.g.roCompat &^ knownRoCompat; unknown != 0 {
		return nil, fmt.Errorf("%w: arena uses read-only-compatible features %#x that this build does not know; it may read the arena but not allocate", ErrVersion, unknown)
	}
	unlock, err := a.lockDir()
	if err != nil {
		return nil, err
	}
	defer unlock()

	infos, next, err := a.scanDir()
	if err != nil {
		return nil, err
	}
	if testHookScanned != nil {
		testHookScanned(a)
	}
	for _, info := range infos {
		if info.name == name {
			return nil, fmt.Errorf("%w: %q", errRegionExists, name)
		}
	}
	n := len(infos)
	if int64(n) >= a.g.dirCap {
		return nil, fmt.Errorf("%w: directory full (%d entries)", ErrNoSpace, a.g.dirCap)
	}
	// next is the cursor scanDir validated (dataOffset <= next <= size);
	// it is never read again from the mapping, where a peer that ignores
	// the lock may have changed it since.
	off := alignUp(next, align) // no overflow: next <= size <= maxSize, align <= pageSize
	if off < a.g.dataOffset {
		return nil, corruptf("allocation offset %d below the data area at %d", off, a.g.dataOffset)
	}
	if off > a.g.size || size > a.g.size-off {
		return nil, fmt.Errorf("%w: region %q needs %d bytes at %d, arena has %d", ErrNoSpace, name, size, off, a.g.size)
	}

	var e dirEntry
	copy(e.Name[:], name)
	e.Offset = uint64(off)
	e.Size = uint64(size)
	e.Align = uint64(align)
	e.Kind = uint32(kind)
	e.CreatorPID = uint32(os.Getpid())
	e.CreatedUnixNano = time.Now().UnixNano()
	e.Checksum = e.sum()
	// Check the entry as every reader will, before anything is stored.
	info, err := e.validate(&a.g, n)
	if err != nil {
		return nil, err // unreachable unless the checks above disagree with validate
	}

	h := (*header)(unsafe.Pointer(&a.mem[0]))
	eoff := a.g.dirOffset + int64(n)*DirEntrySize // n < dirCap: inside the directory
	dst := (*dirEntry)(unsafe.Pointer(&a.mem[eoff]))
	// A slot at index DirCount may hold leftovers of an allocator that died
	// before counting it; nobody reads past DirCount, so overwrite it.
	atomic.StoreUint32(&dst.State, 0)
	copy(a.mem[eoff:eoff+int64(entrySumLen)+4], e.bytes()[:entrySumLen+4])
	// Release: the entry bytes above are visible before State says ready.
	atomic.StoreUint32(&dst.State, stateReady)
	// Release, before DirCount: a reader that sees the new count sees a
	// cursor covering the new region.
	atomic.StoreUint64(&h.AllocNext, uint64(off+size))
	// Release: publishes entry n to lock-free readers (Lookup, Regions,
	// Open), which acquire-load DirCount first.
	atomic.StoreUint32(&h.DirCount, uint32(n+1))
	atomic.AddUint64(&h.DirGeneration, 1) // informational: lets tools notice changes
	return a.region(info), nil
}

// testHookScanned runs in AllocKind after the directory scan, with the
// directory lock held. Nil outside tests.
var testHookScanned func(*Arena)

// Lookup finds a region by name. It does not take the directory lock: it
// acquire-loads the entry count and validates each entry it reads, so a
// corrupt directory yields ErrCorrupt, never a bad slice. A name that Alloc
// refuses yields ErrBadName (unless an earlier build, which allowed '/', "."
// and "..", allocated a region of that name: that region is found).
func (a *Arena) Lookup(name string) (*Region, error) {
	// The layout's rule first: it bounds the name by the entry's Name field.
	if err := checkStoredName(name); err != nil {
		return nil, err
	}
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
	// Acquire: pairs with the release store in AllocKind.
	count := int64(atomic.LoadUint32(&h.DirCount))
	if count > g.dirCap {
		return nil, corruptf("directory count %d exceeds capacity %d", count, g.dirCap)
	}
	want := []byte(name)
	for i := 0; i < int(count); i++ {
		e, ready := loadEntry(a.mem, g, i)
		if !ready {
			return nil, corruptf("directory entry %d is counted but not published", i)
		}
		if !bytes.Equal(e.Name[:len(want)], want) || (len(want) < len(e.Name) && e.Name[len(want)] != 0) {
			continue
		}
		info, err := e.validate(g, i)
		if err != nil {
			return nil, err
		}
		return a.region(info), nil
	}
	if err := checkRegionName(name); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %q", errRegionNotFound, name)
}

// Regions lists every region in allocation order, after validating the
// whole directory.
func (a *Arena) Regions() ([]*Region, error) {
	if err := a.CheckSize(); err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	infos, _, err := a.scanDir()
	if err != nil {
		return nil, err
	}
	out := make([]*Region, len(infos))
	for i, info := range infos {
		out[i] = a.region(info)
	}
	return out, nil
}

// scanDir validates the whole directory: counts and cursors in range, every
// published entry well-formed, no duplicate names, no overlaps, nothing
// beyond the allocation cursor. It returns the entries and the allocation
// cursor it validated, so that no caller reads the cursor again. The caller
// holds a.mu (or owns a).
func (a *Arena) scanDir() ([]entryInfo, int64, error) {
	g := &a.g
	h := (*header)(unsafe.Pointer(&a.mem[0]))
	// Acquire: pairs with the release store of DirCount in Alloc; entries
	// below it are fully written.
	count := atomic.LoadUint32(&h.DirCount)
	// Acquire, read after DirCount: Alloc stores AllocNext before DirCount,
	// so it covers every counted entry.
	next := atomic.LoadUint64(&h.AllocNext)
	var first error
	infos := walkDir(g, count, next, func(i int) (dirEntry, bool) { return loadEntry(a.mem, g, i) },
		func(_ int64, _ string, err error) bool { first = err; return false })
	if first != nil {
		return nil, 0, first
	}
	return infos, int64(next), nil
}

// dirFault is told of each failure of a directory rule, with the file
// offset and the name ("header.DirCount", "dir[3].Offset") of the field at
// fault; it returns whether to go on.
type dirFault func(off int64, field string, err error) bool

// Offsets of the header's directory words, for dirFault.
var (
	offDirCount  = int64(unsafe.Offsetof(header{}.DirCount))
	offAllocNext = int64(unsafe.Offsetof(header{}.AllocNext))
)

// walkDir applies the directory's rules to a directory of count entries
// (entry reads entry i and says whether its State was ready) whose
// allocation cursor is next, in the geometry g: the count within the
// capacity, the cursor within the data area, every counted entry published
// and valid (entryRules), names unique, regions below the cursor and not
// overlapping. It tells fault of each failure, in that order, and stops when
// fault says so (scanDir: at the first, as Open does; Check: never). It
// returns the entries that passed their own rules; the cross-entry rules
// (duplicates, cursor, overlaps) are applied to them alone.
func walkDir(g *geometry, count uint32, next uint64, entry func(i int) (dirEntry, bool), fault dirFault) []entryInfo {
	n := int64(count)
	if n > g.dirCap {
		if !fault(offDirCount, "header.DirCount", corruptf("directory count %d exceeds capacity %d", count, g.dirCap)) {
			return nil
		}
		n = g.dirCap
	}
	cursorOK := true
	if next < uint64(g.dataOffset) || next > uint64(g.size) {
		if !fault(offAllocNext, "header.AllocNext", corruptf("allocation cursor %d outside data area [%d,%d]", next, g.dataOffset, g.size)) {
			return nil
		}
		cursorOK = false // the entries are still bounded by the data area (entryRules)
	}
	infos := make([]entryInfo, 0, n)
	seen := make(map[string]int, n)
	at := func(i int, field string) (int64, string) {
		return g.dirOffset + int64(i)*DirEntrySize + entryFieldOffset(field), fmt.Sprintf("dir[%d].%s", i, field)
	}
	for i := 0; i < int(n); i++ {
		e, ready := entry(i)
		if !ready {
			off, f := at(i, "State")
			if !fault(off, f, corruptf("directory entry %d is counted but not published", i)) {
				return nil
			}
			continue
		}
		ok := true
		for _, r := range entryRules {
			if err := r.check(&e, g, i); err != nil {
				ok = false
				if off, f := at(i, r.field); !fault(off, f, err) {
					return nil
				}
			}
		}
		if !ok {
			continue
		}
		info := e.info() // every rule held
		if j, dup := seen[info.name]; dup {
			off, f := at(i, "Name")
			if !fault(off, f, corruptf("directory entries %d and %d share the name %q", j, i, info.name)) {
				return nil
			}
			continue
		}
		seen[info.name] = i
		if cursorOK && uint64(info.off+info.size) > next {
			off, f := at(i, "Size")
			if !fault(off, f, corruptf("directory entry %d (%q) ends at %d, beyond the allocation cursor %d", i, info.name, info.off+info.size, next)) {
				return nil
			}
		}
		infos = append(infos, info)
	}
	// Sorted by offset, each region must start at or after the end of
	// every region before it (the furthest end so far: one region can
	// cover several).
	sorted := append([]entryInfo(nil), infos...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].off < sorted[j].off })
	for i, far := 1, 0; i < len(sorted); i++ {
		if prev := sorted[far]; prev.off+prev.size > sorted[i].off {
			off, f := at(seen[sorted[i].name], "Offset")
			if !fault(off, f, corruptf("regions %q [%d,+%d) and %q [%d,+%d) overlap", prev.name, prev.off, prev.size, sorted[i].name, sorted[i].off, sorted[i].size)) {
				return nil
			}
		}
		if sorted[i].off+sorted[i].size > sorted[far].off+sorted[far].size {
			far = i
		}
	}
	return infos
}

// Directory lock polling: the lock is held for microseconds, so poll fast
// first, then back off.
const (
	lockPollMin = 10 * time.Microsecond
	lockPollMax = 2 * time.Millisecond
)

// lockDir takes the cross-process directory lock: flock(2) on the arena
// file. The kernel drops it when its holder dies, so a killed allocator
// cannot wedge the directory. flock locks belong to the open file
// description, so a.allocMu (held by the caller) excludes goroutines of
// this handle while flock excludes other handles and processes.
func (a *Arena) lockDir() (func(), error) {
	fd := int(a.f.Fd())
	bo := newBackoff(a.o.lockTimeout, lockPollMin, lockPollMax)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(fd, unix.LOCK_UN) }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return nil, fmt.Errorf("arena: directory lock: %w", err)
		}
		if !bo.wait() {
			return nil, fmt.Errorf("%w: held by another process for over %v", ErrBusy, a.o.lockTimeout)
		}
	}
}
