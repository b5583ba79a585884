package arena

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/cpu"
)

// Arena is one process's handle on a mapped arena. Its methods are safe for
// concurrent use. The geometry it reports is a private copy taken when the
// arena was created or opened and validated then.
type Arena struct {
	path    string
	f       *os.File
	mem     mmap.MMap
	g       geometry
	o       options
	created bool

	// allocMu serialises this handle's allocators: the flock directory lock
	// belongs to the open file description, so it does not exclude
	// goroutines sharing a.f. It is taken before mu.
	allocMu sync.Mutex
	// mu: Close takes it exclusively; Alloc, Lookup and Regions shared, so
	// that no directory access runs on an unmapped arena, and an Alloc
	// waiting for the directory lock does not hold up Lookup or Regions.
	mu     sync.RWMutex
	closed bool
}

// hostLittleEndian is fixed at init; the layout is little-endian only.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func applyOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// Create makes a new arena file of at least size bytes (rounded up to the
// page size) at path (see Resolve), maps it, initialises the header and an
// empty directory, and only then marks it ready. It fails with ErrExists if
// the file already exists; on any other failure it removes what it created
// (and only that: if the path meanwhile names another file, it is left).
//
// The file is created with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC and mode
// 0600 unless WithMode says otherwise.
func Create(path string, size int64, opts ...Option) (*Arena, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	p, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	if !hostLittleEndian {
		return nil, fmt.Errorf("%w: this host is big-endian; the layout is little-endian", ErrByteOrder)
	}
	if size <= 0 || size > maxSize {
		return nil, fmt.Errorf("%w: size %d", ErrInvalid, size)
	}
	// Refuse a size that cannot work before the file exists, so a bad
	// argument never creates (and then has to remove) anything. The system
	// page size is the smallest the file can have; on hugetlbfs the huge
	// page size, known only once the file is open, can still refuse it.
	if _, _, err := createGeometry(size, o.dirCap, int64(os.Getpagesize())); err != nil {
		return nil, err
	}
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(o.mode))
	if err != nil {
		return nil, openErr("create", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	a, err := initArena(f, fd, p, size, o)
	if err != nil {
		removeCreated(fd, p)
		_ = f.Close()
		return nil, err
	}
	return a, nil
}

// createGeometry computes where the data area of a new arena starts and
// how big the file is, for a given page size.
func createGeometry(size int64, dirCap int, pageSize int64) (dataOff, total int64, err error) {
	dataOff = alignUp(HeaderSize+int64(dirCap)*DirEntrySize, pageSize)
	total = alignUp(size, pageSize) // no overflow: size <= maxSize, pageSize <= maxPage
	if total <= dataOff {
		return 0, 0, fmt.Errorf("%w: size %d leaves no room after the header and a %d-entry directory (need more than %d bytes)", ErrInvalid, size, dirCap, dataOff)
	}
	if total > maxSize || total > math.MaxInt {
		// MaxInt: on 32-bit hosts the mapping length is an int.
		return 0, 0, fmt.Errorf("%w: size %d (%d once rounded to pages) exceeds the largest arena this host maps (%d bytes)", ErrInvalid, size, total, min(int64(maxSize), int64(math.MaxInt)))
	}
	return dataOff, total, nil
}

// removeCreated unlinks p after a failed Create, but only if p still names
// the file we created: another process may have unlinked ours and put its
// own file there. The comparison runs while fd is open, so our inode
// cannot have been freed and its number reused. unlink(2) has no
// by-descriptor form, so a window between lstat and unlink remains; it
// needs a process that can write the directory and races us on purpose.
func removeCreated(fd int, p string) {
	var ours, now unix.Stat_t
	if unix.Fstat(fd, &ours) != nil || unix.Lstat(p, &now) != nil {
		return
	}
	if ours.Dev != now.Dev || ours.Ino != now.Ino {
		return
	}
	_ = unix.Unlink(p)
}

// initArena sizes, maps and initialises a freshly created file. The caller
// owns f (and closes it if initArena fails); fd is its descriptor.
func initArena(f *os.File, fd int, p string, size int64, o options) (a *Arena, err error) {
	if testHookInit != nil {
		if err := testHookInit(p); err != nil {
			return nil, err
		}
	}
	// fchmod: the umask must not change the mode the caller asked for.
	if err := unix.Fchmod(fd, uint32(o.mode)); err != nil {
		return nil, fmt.Errorf("arena: create %s: fchmod: %w", p, err)
	}
	pageSize := filePageSize(fd)
	pad := o.padUnit
	if pad == 0 {
		pad = cpu.Detect().PadUnit()
	}
	dataOff, total, err := createGeometry(size, o.dirCap, pageSize)
	if err != nil {
		return nil, err
	}
	if err := allocateFile(fd, total); err != nil {
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
			return nil, fmt.Errorf("%w: create %s: reserve %d bytes: %w", ErrNoSpace, p, total, err)
		}
		return nil, fmt.Errorf("arena: create %s: reserve %d bytes: %w", p, total, err)
	}
	mem, err := mmap.MapRegion(f, int(total), mmap.RDWR, 0, 0) // total <= MaxInt: createGeometry
	if err != nil {
		return nil, fmt.Errorf("arena: create %s: mmap: %w", p, err)
	}
	defer func() {
		if err != nil {
			_ = mem.Unmap()
		}
	}()
	a = &Arena{path: p, f: f, mem: mem, o: o, created: true}
	if err := a.applyMemOptions(); err != nil {
		return nil, err
	}
	// The file is new and zero-filled, so the directory is empty and the
	// mutable header words are zero (State == 0: not ready).
	h := (*header)(unsafe.Pointer(&mem[0])) // mapping is page-aligned and >= HeaderSize
	copy(h.Magic[:], Magic)
	h.VersionMajor = VersionMajor
	h.VersionMinor = VersionMinor
	h.ByteOrder = byteOrderMark
	h.TotalSize = uint64(total)
	h.PageSize = uint32(pageSize)
	h.PadUnit = uint32(pad)
	h.HeaderSize = HeaderSize
	h.DirEntrySize = DirEntrySize
	h.DirOffset = HeaderSize
	h.DirCapacity = uint32(o.dirCap)
	h.CreatorPID = uint32(os.Getpid())
	h.CreatedUnixNano = time.Now().UnixNano()
	h.DataOffset = uint64(dataOff)
	h.Checksum = h.sum()
	// Plain store: nobody reads AllocNext before State is ready.
	h.AllocNext = uint64(dataOff)

	// Validate what we wrote exactly as an opener will.
	var priv header
	copy(priv.bytes(), mem[:HeaderSize])
	g, err := priv.validate(total)
	if err != nil {
		return nil, fmt.Errorf("arena: create %s: self-check: %w", p, err)
	}
	a.g = g
	// Release: every header byte above (and the zeroed directory) is visible
	// to any process whose acquire load of State sees stateReady.
	atomic.StoreUint32(&h.State, stateReady)
	return a, nil
}

// Open maps an existing arena after checking the file and validating its
// header and directory. It waits up to the ready timeout for a racing
// creator to finish, then fails with ErrNotReady. A header marked ready
// that fails its checksum, a file shorter than its header says, or a
// mapped header that differs from the one read may also be a creator's
// writes not yet visible to this CPU, so these too are read again until the
// timeout before Open fails (with ErrChecksum, ErrTruncated or ErrCorrupt).
//
// Checks on the file run on the opened descriptor (never on the path
// again): it must be a regular file (it is opened O_NONBLOCK|O_NOCTTY so a
// FIFO or a terminal cannot hang Open or become its controlling terminal,
// and O_NOFOLLOW so a symlink is refused), owned by the caller, with one
// link, not writable by group or others unless WithAllowShared, and as long
// as its header says.
func Open(path string, opts ...Option) (*Arena, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	p, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	if !hostLittleEndian {
		return nil, fmt.Errorf("%w: this host is big-endian; the layout is little-endian", ErrByteOrder)
	}
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, openErr("open", p, err)
	}
	a, err := openFD(fd, p, o)
	if err != nil {
		return nil, fmt.Errorf("arena: open %s: %w", p, err)
	}
	return a, nil
}

// openErr maps the errno of open(2) or unlink(2) on an arena path to a
// sentinel, keeping the errno in the message.
func openErr(op, p string, err error) error {
	switch {
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w: %s %s", ErrExists, op, p)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %s %s", ErrNotFound, op, p)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%w: %s %s: a path element is not a directory", ErrNotFound, op, p)
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EMLINK):
		// EMLINK: FreeBSD's answer to O_NOFOLLOW on a symlink.
		return fmt.Errorf("%w: %s %s: is a symbolic link", ErrPermission, op, p)
	case errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %s %s: not a regular file: %v", ErrPermission, op, p, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.EROFS):
		return fmt.Errorf("%w: %s %s: %v", ErrPermission, op, p, err)
	case errors.Is(err, unix.ENAMETOOLONG):
		return fmt.Errorf("%w: %s %s: %v", ErrBadName, op, p, err)
	}
	return fmt.Errorf("arena: %s %s: %w", op, p, err)
}

// checkFile applies the file checks to the opened descriptor.
func checkFile(fd int, o *options) (size int64, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("fstat: %w", err)
	}
	mode := uint32(st.Mode)
	if mode&unix.S_IFMT != unix.S_IFREG {
		return 0, fmt.Errorf("%w: not a regular file (mode %#o)", ErrPermission, mode)
	}
	if uid := int(st.Uid); uid != os.Geteuid() && uid != o.allowUID {
		return 0, fmt.Errorf("%w: owned by uid %d, not %d", ErrPermission, uid, os.Geteuid())
	}
	if st.Nlink != 1 {
		return 0, fmt.Errorf("%w: %d links", ErrPermission, st.Nlink)
	}
	if mode&0o022 != 0 && !o.allowShared {
		return 0, fmt.Errorf("%w: writable by group or others (mode %#o); use WithAllowShared", ErrPermission, mode&0o777)
	}
	return st.Size, nil
}

// Backoff while waiting for a creator: short at first (a creator takes
// microseconds), capped so a long timeout costs few wake-ups.
const (
	readyPollMin = 20 * time.Microsecond
	readyPollMax = 5 * time.Millisecond
)

// backoff paces a polling loop: sleeps that double from a minimum to a cap,
// until a deadline.
type backoff struct {
	deadline   time.Time
	sleep, max time.Duration
}

func newBackoff(timeout, first, max time.Duration) backoff {
	return backoff{deadline: time.Now().Add(timeout), sleep: first, max: max}
}

// wait sleeps and reports true, or reports false if the deadline has
// passed.
func (b *backoff) wait() bool {
	if !time.Now().Before(b.deadline) {
		return false
	}
	time.Sleep(b.sleep)
	b.sleep = min(2*b.sleep, b.max)
	return true
}

// Test hooks, nil outside tests.
var (
	// testHookInit runs at the start of initArena; an error it returns
	// fails the Create.
	testHookInit func(path string) error
	// testHookSized runs in waitReady after each fstat, before the pread.
	testHookSized func()
	// testHookMapping runs in openFD after waitReady, before the mmap.
	testHookMapping func()
	// testHookScanned runs in AllocKind after the directory scan, with the
	// directory lock held.
	testHookScanned func(*Arena)
)

// waitReady reads the header with pread until the creator has marked it
// ready, and returns a private copy of it and the file size, both taken
// after State was seen ready.
//
// pread is not an acquire load: on a weakly ordered CPU it may see State
// ready and still return older bytes of the rest of the header, and the
// size from fstat may predate the creator's ftruncate. So a ready copy is
// accepted only when its checksum holds and the file (fstat again, after
// State) is as long as the copy says; otherwise the pass is repeated until
// the deadline, and then the copy goes to validate, which names the fault.
// openFD confirms the copy through the mapping after an acquire load.
func waitReady(fd int, o *options, bo *backoff) (header, int64, error) {
	for {
		size, err := checkFile(fd, o)
		if err != nil {
			return header{}, 0, err
		}
		if testHookSized != nil {
			testHookSized()
		}
		var h header
		// State first, then the rest: if State is ready, the bytes read
		// afterwards were written before it (the creator stores State last),
		// as far as pread orders anything (see above).
		var stb [4]byte
		if _, err := unix.Pread(fd, stb[:], int64(unsafe.Offsetof(h.State))); err != nil {
			return h, 0, fmt.Errorf("pread: %w", err)
		}
		n, err := unix.Pread(fd, h.bytes(), 0)
		if err != nil {
			return h, 0, fmt.Errorf("pread: %w", err)
		}
		state := *(*uint32)(unsafe.Pointer(&stb[0]))
		b := h.bytes()[:n]
		for i := 0; i < n && i < len(Magic); i++ {
			if b[i] != 0 && b[i] != Magic[i] {
				return h, 0, fmt.Errorf("%w: bad magic %q", ErrNotArena, b[:min(n, len(Magic))])
			}
		}
		allZero := true
		for _, c := range b {
			if c != 0 {
				allZero = false
				break
			}
		}
		// A creator sizes the file before writing a byte, so a short file
		// with content is not one being created.
		if n < HeaderSize && !allZero {
			return h, 0, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrTruncated, n, HeaderSize)
		}
		// Judge the identity before State: a host of the other byte order
		// wrote State byte-swapped, which would read as a garbage State. A
		// live creator writes the byte order mark and major version before
		// State, each with one store; until both are non-zero it may not
		// have reached them, and once both are, they are final.
		if n >= 16 && string(b[:len(Magic)]) == Magic && h.ByteOrder != 0 && h.VersionMajor != 0 {
			if err := h.checkIdentity(); err != nil {
				return h, 0, err
			}
		}
		ready := n == HeaderSize && state == stateReady
		switch {
		case ready && h.sum() == h.Checksum:
			size, err = checkFile(fd, o)
			if err != nil {
				return h, 0, err
			}
			if uint64(size) >= h.TotalSize {
				return h, size, nil
			}
		case state != 0 && state != stateReady:
			return h, 0, corruptf("header state word %#x", state)
		}
		if !bo.wait() {
			if ready {
				return h, size, nil // validate names what is wrong with it
			}
			return h, 0, fmt.Errorf("%w: not marked ready within %v (file has %d bytes; its creator is slow or died while initialising)", ErrNotReady, o.readyTimeout, size)
		}
	}
}

// openFD validates and maps the arena open on fd, which it owns.
func openFD(fd int, p string, o options) (a *Arena, err error) {
	f := os.NewFile(uintptr(fd), p)
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	bo := newBackoff(o.readyTimeout, readyPollMin, readyPollMax)
	for {
		h, size, err := waitReady(fd, &o, &bo)
		if err != nil {
			return nil, err
		}
		g, err := h.validate(size)
		if err != nil {
			return nil, err
		}
		if testHookMapping != nil {
			testHookMapping()
		}
		mem, err := mmap.MapRegion(f, int(g.size), mmap.RDWR, 0, 0) // g.size <= MaxInt: validate
		if err != nil {
			return nil, fmt.Errorf("mmap: %w", err)
		}
		// Acquire: pairs with the creator's release store of State, so the
		// once bytes compared next are the creator's. They must be the ones
		// validated through pread. pread gave no ordering, so a mismatch may
		// be a stale pread copy rather than damage: start again until the
		// deadline.
		mh := (*header)(unsafe.Pointer(&mem[0])) // page-aligned, g.size >= HeaderSize
		st := atomic.LoadUint32(&mh.State)
		if st == stateReady && bytes.Equal(mem[:headerOnceLen], h.bytes()[:headerOnceLen]) {
			return finishOpen(f, p, mem, g, o)
		}
		_ = mem.Unmap()
		if !bo.wait() {
			if st != stateReady {
				return nil, corruptf("header state word changed to %#x while opening", st)
			}
			return nil, corruptf("immutable header changed while opening")
		}
	}
}

// finishOpen validates the directory of a freshly mapped arena and applies
// the memory options. It unmaps mem if it fails.
func finishOpen(f *os.File, p string, mem mmap.MMap, g geometry, o options) (a *Arena, err error) {
	a = &Arena{path: p, f: f, mem: mem, g: g, o: o}
	defer func() {
		if err != nil {
			_ = mem.Unmap()
		}
	}()
	if _, _, err := a.scanDir(); err != nil {
		return nil, err
	}
	if err := a.applyMemOptions(); err != nil {
		return nil, err
	}
	return a, nil
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
	count := int64(atomic.LoadUint32(&h.DirCount))
	if count > g.dirCap {
		return nil, 0, corruptf("directory count %d exceeds capacity %d", count, g.dirCap)
	}
	// Acquire, read after DirCount: Alloc stores AllocNext before DirCount,
	// so it covers every counted entry.
	next := atomic.LoadUint64(&h.AllocNext)
	if next < uint64(g.dataOffset) || next > uint64(g.size) {
		return nil, 0, corruptf("allocation cursor %d outside data area [%d,%d]", next, g.dataOffset, g.size)
	}
	infos := make([]entryInfo, 0, count)
	seen := make(map[string]int, count)
	for i := 0; i < int(count); i++ {
		e, ready := loadEntry(a.mem, g, i)
		if !ready {
			return nil, 0, corruptf("directory entry %d is counted but not published", i)
		}
		info, err := e.validate(g, i)
		if err != nil {
			return nil, 0, err
		}
		if j, dup := seen[info.name]; dup {
			return nil, 0, corruptf("directory entries %d and %d share the name %q", j, i, info.name)
		}
		seen[info.name] = i
		if uint64(info.off+info.size) > next {
			return nil, 0, corruptf("directory entry %d (%q) ends at %d, beyond the allocation cursor %d", i, info.name, info.off+info.size, next)
		}
		infos = append(infos, info)
	}
	sorted := append([]entryInfo(nil), infos...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].off < sorted[j].off })
	for i := 1; i < len(sorted); i++ {
		if prev := sorted[i-1]; prev.off+prev.size > sorted[i].off {
			return nil, 0, corruptf("regions %q [%d,+%d) and %q [%d,+%d) overlap", prev.name, prev.off, prev.size, sorted[i].name, sorted[i].off, sorted[i].size)
		}
	}
	return infos, int64(next), nil
}

func (a *Arena) applyMemOptions() error {
	if a.o.hugePages {
		if err := adviseHugePages(a.mem); err != nil {
			return fmt.Errorf("arena: %s: huge page advice: %w", a.path, err)
		}
	}
	if a.o.prefault {
		if err := prefault(a.mem, int(a.pageSizeForTouch())); err != nil {
			return fmt.Errorf("arena: %s: prefault: %w", a.path, err)
		}
	}
	if a.o.mlock {
		if err := unix.Mlock(a.mem); err != nil {
			return fmt.Errorf("arena: %s: mlock: %w", a.path, err)
		}
	}
	return nil
}

func (a *Arena) pageSizeForTouch() int64 {
	if a.g.pageSize != 0 {
		return a.g.pageSize
	}
	return int64(os.Getpagesize())
}

// touchPages write-faults every page without changing its contents: an
// atomic add of zero is a write to the page and a no-op on its value, even
// while another process writes the same word.
func touchPages(mem []byte, pageSize int) {
	for off := 0; off+4 <= len(mem); off += pageSize {
		atomic.AddUint32((*uint32)(unsafe.Pointer(&mem[off])), 0) // page-aligned, so 4-byte aligned
	}
}

// Close unmaps exactly the mapping this handle made and closes the file.
// It is idempotent. It waits for a pending Alloc on this handle (at most
// the lock timeout). Region byte slices obtained from this handle must not be
// used after Close.
func (a *Arena) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var errs []error
	if a.o.mlock {
		_ = unix.Munlock(a.mem)
	}
	if err := a.mem.Unmap(); err != nil {
		errs = append(errs, fmt.Errorf("arena: unmap: %w", err))
	}
	a.mem = nil
	if err := a.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("arena: close: %w", err))
	}
	return errors.Join(errs...)
}

// Remove unlinks an arena file (see Resolve for names). Processes that
// have it mapped keep their mapping until they Close.
func Remove(path string) error {
	p, err := Resolve(path)
	if err != nil {
		return err
	}
	if err := unix.Unlink(p); err != nil {
		return openErr("remove", p, err)
	}
	return nil
}

// Path is the file path the arena was created or opened at.
func (a *Arena) Path() string { return a.path }

// Size is the total size of the arena (and of its mapping) in bytes.
func (a *Arena) Size() int64 { return a.g.size }

// PadUnit is the padding unit recorded at Create: hot fields of rings in
// this arena are placed on separate units of this many bytes.
func (a *Arena) PadUnit() int { return int(a.g.padUnit) }

// PageSize is the page size the arena was sized with.
func (a *Arena) PageSize() int { return int(a.g.pageSize) }

// DataOffset is the offset of the first byte available to regions.
func (a *Arena) DataOffset() int64 { return a.g.dataOffset }

// DirCapacity is the number of directory entries.
func (a *Arena) DirCapacity() int { return int(a.g.dirCap) }

// Version returns the layout version recorded in the header.
func (a *Arena) Version() (major, minor int) { return VersionMajor, int(a.g.minor) }

// CreatorPID is the pid of the process that created the arena.
func (a *Arena) CreatorPID() int { return int(a.g.creatorPID) }

// Created is when the arena was created.
func (a *Arena) Created() time.Time { return time.Unix(0, a.g.created) }

// IsCreator reports whether this handle created the arena (rather than
// opening it).
func (a *Arena) IsCreator() bool { return a.created }
