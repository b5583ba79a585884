package arena

import (
	"errors"
	"fmt"
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

	// mu: Alloc and Close take it exclusively, Lookup and Regions shared, so
	// that no directory access runs on an unmapped arena.
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
// the file already exists; on any other failure it removes what it created.
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
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(o.mode))
	if err != nil {
		return nil, openErr("create", p, err)
	}
	a, err := initArena(fd, p, size, o)
	if err != nil {
		_ = unix.Unlink(p)
		return nil, err
	}
	return a, nil
}

// initArena sizes, maps and initialises a freshly created file. It owns fd.
func initArena(fd int, p string, size int64, o options) (a *Arena, err error) {
	f := os.NewFile(uintptr(fd), p)
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	// fchmod: the umask must not change the mode the caller asked for.
	if err := unix.Fchmod(fd, uint32(o.mode)); err != nil {
		return nil, fmt.Errorf("arena: create %s: fchmod: %w", p, err)
	}
	pageSize := filePageSize(fd)
	pad := o.padUnit
	if pad == 0 {
		pad = cpu.Detect().PadUnit()
	}
	dataOff := alignUp(HeaderSize+int64(o.dirCap)*DirEntrySize, pageSize)
	total := alignUp(size, pageSize)
	if total <= dataOff {
		return nil, fmt.Errorf("%w: size %d leaves no room after the header and a %d-entry directory (need more than %d bytes)", ErrInvalid, size, o.dirCap, dataOff)
	}
	if err := allocateFile(fd, total); err != nil {
		return nil, fmt.Errorf("arena: create %s: reserve %d bytes: %w", p, total, err)
	}
	mem, err := mmap.MapRegion(f, int(total), mmap.RDWR, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("arena: create %s: mmap: %w", p, err)
	}
	a = &Arena{path: p, f: f, mem: mem, o: o, created: true}
	if err := a.applyMemOptions(); err != nil {
		_ = mem.Unmap()
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
		_ = mem.Unmap()
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
// creator to finish, then fails with ErrNotReady.
//
// Checks on the file run on the opened descriptor (never on the path
// again): it must be a regular file (it is opened O_NONBLOCK so a FIFO
// cannot hang Open, and O_NOFOLLOW so a symlink is refused), owned by the
// caller, with one link, not writable by group or others unless
// WithAllowShared, and as long as its header says.
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
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, openErr("open", p, err)
	}
	a, err := openFD(fd, p, o)
	if err != nil {
		return nil, fmt.Errorf("arena: open %s: %w", p, err)
	}
	return a, nil
}

func openErr(op, p string, err error) error {
	switch {
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w: %s %s", ErrExists, op, p)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %s %s", ErrNotFound, op, p)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%w: %s %s: is a symbolic link", ErrPermission, op, p)
	case errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %s %s: not a regular file: %v", ErrPermission, op, p, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
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

// waitReady reads the header with pread until the creator has marked it
// ready, and returns a private copy of it and the file size.
func waitReady(fd int, o *options) (header, int64, error) {
	deadline := time.Now().Add(o.readyTimeout)
	sleep := readyPollMin
	for {
		size, err := checkFile(fd, o)
		if err != nil {
			return header{}, 0, err
		}
		var h header
		// State first, then the rest: if State is ready, the bytes read
		// afterwards were written before it (the creator stores State last).
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
		switch {
		case n == HeaderSize && state == stateReady:
			return h, size, nil
		case state != 0 && state != stateReady:
			return h, 0, corruptf("header state word %#x", state)
		}
		if !time.Now().Before(deadline) {
			return h, 0, fmt.Errorf("%w: not marked ready within %v (file has %d bytes; its creator is slow or died while initialising)", ErrNotReady, o.readyTimeout, size)
		}
		time.Sleep(sleep)
		sleep = min(2*sleep, readyPollMax)
	}
}

func openFD(fd int, p string, o options) (a *Arena, err error) {
	f := os.NewFile(uintptr(fd), p)
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	h, size, err := waitReady(fd, &o)
	if err != nil {
		return nil, err
	}
	if size > maxSize {
		return nil, corruptf("file size %d", size)
	}
	g, err := h.validate(size)
	if err != nil {
		return nil, err
	}
	mem, err := mmap.MapRegion(f, int(g.size), mmap.RDWR, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	a = &Arena{path: p, f: f, mem: mem, g: g, o: o}
	defer func() {
		if err != nil {
			_ = mem.Unmap()
		}
	}()
	// Re-read the immutable header through the mapping after an acquire
	// load of State (pairs with the creator's release store): what we
	// validated via pread must be what is mapped.
	mh := (*header)(unsafe.Pointer(&mem[0]))
	if st := atomic.LoadUint32(&mh.State); st != stateReady {
		return nil, corruptf("header state word changed to %#x while opening", st)
	}
	var again header
	copy(again.bytes(), mem[:HeaderSize])
	if string(again.bytes()[:headerSumLen+4]) != string(h.bytes()[:headerSumLen+4]) {
		return nil, corruptf("immutable header changed while opening")
	}
	if _, err := a.scanDir(); err != nil {
		return nil, err
	}
	if err := a.applyMemOptions(); err != nil {
		return nil, err
	}
	return a, nil
}

// scanDir validates the whole directory: counts and cursors in range, every
// published entry well-formed, no duplicate names, no overlaps, nothing
// beyond the allocation cursor. The caller holds a.mu (or owns a).
func (a *Arena) scanDir() ([]entryInfo, error) {
	g := &a.g
	h := (*header)(unsafe.Pointer(&a.mem[0]))
	// Acquire: pairs with the release store of DirCount in Alloc; entries
	// below it are fully written.
	count := int64(atomic.LoadUint32(&h.DirCount))
	if count > g.dirCap {
		return nil, corruptf("directory count %d exceeds capacity %d", count, g.dirCap)
	}
	// Acquire, read after DirCount: Alloc stores AllocNext before DirCount,
	// so it covers every counted entry.
	next := atomic.LoadUint64(&h.AllocNext)
	if next < uint64(g.dataOffset) || next > uint64(g.size) {
		return nil, corruptf("allocation cursor %d outside data area [%d,%d]", next, g.dataOffset, g.size)
	}
	infos := make([]entryInfo, 0, count)
	seen := make(map[string]int, count)
	for i := 0; i < int(count); i++ {
		e, ready := loadEntry(a.mem, g, i)
		if !ready {
			return nil, corruptf("directory entry %d is counted but not published", i)
		}
		info, err := e.validate(g, i)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[info.name]; dup {
			return nil, corruptf("directory entries %d and %d share the name %q", j, i, info.name)
		}
		seen[info.name] = i
		if uint64(info.off+info.size) > next {
			return nil, corruptf("directory entry %d (%q) ends at %d, beyond the allocation cursor %d", i, info.name, info.off+info.size, next)
		}
		infos = append(infos, info)
	}
	sorted := append([]entryInfo(nil), infos...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].off < sorted[j].off })
	for i := 1; i < len(sorted); i++ {
		if prev := sorted[i-1]; prev.off+prev.size > sorted[i].off {
			return nil, corruptf("regions %q [%d,+%d) and %q [%d,+%d) overlap", prev.name, prev.off, prev.size, sorted[i].name, sorted[i].off, sorted[i].size)
		}
	}
	return infos, nil
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
// It is idempotent. Region byte slices obtained from this handle must not be
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
