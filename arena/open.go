package arena

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Open maps an existing arena after checking the file and validating its
// header and directory. It waits up to the ready timeout for a racing
// creator to finish, then fails with ErrNotReady. A header marked ready
// that fails its checksum, a file shorter than its header says, or a
// mapped header that differs from the one read may also be a creator's
// writes not yet visible to this CPU, so these too are read again until the
// timeout before Open fails (with ErrChecksum, ErrTruncated or ErrCorrupt).
// A file that shrinks after that, between validation and mapping, fails
// at once with ErrTruncated; an empty (or all-zero) file is a creator's
// that has not written the header yet: ErrNotReady after the timeout.
//
// Checks on the file run on the opened descriptor (never on the path
// again): it must be a regular file (it is opened O_NONBLOCK|O_NOCTTY so a
// FIFO or a terminal cannot hang Open or become its controlling terminal,
// and O_NOFOLLOW so a symlink is refused), owned by the caller, with one
// link, not writable by group or others unless WithAllowShared, and as long
// as its header says.
func Open(path string, opts ...Option) (*Arena, error) {
	p, o, err := prepare(path, opts)
	if err != nil {
		return nil, err
	}
	mode := unix.O_RDWR
	if o.readOnly {
		mode = unix.O_RDONLY
	}
	fd, err := unix.Open(p, mode|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, openErr("open", p, err)
	}
	a, err := openFD(fd, p, o)
	if err != nil {
		return nil, fmt.Errorf("arena: open %s: %w", p, err)
	}
	return a, nil
}

// Backoff while waiting for a creator: short at first (a creator takes
// microseconds), capped so a long timeout costs few wake-ups.
const (
	readyPollMin = 20 * time.Microsecond
	readyPollMax = 5 * time.Millisecond
)

// Test hooks, nil outside tests.
var (
	// testHookSized runs in waitReady after each fstat, before the pread.
	testHookSized func()
	// testHookMapping runs in openFD after waitReady, before the mmap.
	testHookMapping func()
)

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
		prot := mmap.RDWR
		if o.readOnly {
			prot = mmap.RDONLY // PROT_READ: nothing this handle does can write the file
		}
		mem, err := mmap.MapRegion(f, int(g.size), prot, 0, 0) // g.size <= MaxInt: validate
		if err != nil {
			return nil, fmt.Errorf("mmap: %w", err)
		}
		// The file was as long as the header says when validated. A
		// truncation since (another writer of the file: a creator never
		// shrinks it) would make the first access below fault, so look
		// again before touching a byte of the mapping. One after this
		// fstat still faults (truncate.go).
		if fsize, err := fstatSize(fd); err != nil || fsize < g.size {
			_ = mem.Unmap()
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: file shrank to %d bytes while opening, header says %d", ErrTruncated, fsize, g.size)
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

// checkFile applies the file checks to the opened descriptor.
func checkFile(fd int, o *options) (size int64, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("fstat: %w", err)
	}
	if errs := fileFaults(&st, o); len(errs) != 0 {
		return 0, errs[0]
	}
	return st.Size, nil
}

// fileFaults lists what is wrong with the file fstat described, for Open
// (which refuses the first) and Check (which reports them all): it must be
// a regular file (if it is not, that is the only fault: the rest do not
// apply), owned by the caller (or the uid WithAllowOwner names), with one
// link, not writable by group or others unless WithAllowShared.
func fileFaults(st *unix.Stat_t, o *options) []error {
	mode := uint32(st.Mode)
	if mode&unix.S_IFMT != unix.S_IFREG {
		return []error{fmt.Errorf("%w: not a regular file (mode %#o)", ErrPermission, mode)}
	}
	var errs []error
	if uid := int(st.Uid); uid != os.Geteuid() && uid != o.allowUID {
		errs = append(errs, fmt.Errorf("%w: owned by uid %d, not %d", ErrPermission, uid, os.Geteuid()))
	}
	if st.Nlink != 1 {
		errs = append(errs, fmt.Errorf("%w: %d links", ErrPermission, st.Nlink))
	}
	if mode&0o022 != 0 && !o.allowShared {
		errs = append(errs, fmt.Errorf("%w: writable by group or others (mode %#o); use WithAllowShared", ErrPermission, mode&0o777))
	}
	return errs
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
