package arena

import (
	"fmt"
	"io/fs"
	"time"
)

// Option configures Create or Open. Options that only make sense for one of
// them are ignored by the other, as documented on each.
type Option func(*options) error

type options struct {
	mode         fs.FileMode
	padUnit      int
	dirCap       int
	prefault     bool
	mlock        bool
	hugePages    bool
	readyTimeout time.Duration
	lockTimeout  time.Duration
	allowShared  bool
	allowUID     int
	force        bool
	readOnly     bool
}

// Defaults.
const (
	DefaultMode         fs.FileMode = 0o600
	DefaultReadyTimeout             = time.Second
	DefaultLockTimeout              = 5 * time.Second
)

func defaultOptions() options {
	return options{
		mode:         DefaultMode,
		dirCap:       DefaultDirCapacity,
		readyTimeout: DefaultReadyTimeout,
		lockTimeout:  DefaultLockTimeout,
		allowUID:     -1,
	}
}

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

// WithMode sets the permission bits of a created file (Create only; default
// 0600). The mode is applied with fchmod, so the umask does not change it.
// Group- or world-writable modes need WithAllowShared on Open.
func WithMode(m fs.FileMode) Option {
	return func(o *options) error {
		if m&^fs.ModePerm != 0 {
			return fmt.Errorf("%w: mode %v has non-permission bits", ErrInvalid, m)
		}
		o.mode = m
		return nil
	}
}

// WithPadUnit overrides the padding unit recorded in a new arena (Create
// only). By default it comes from internal/cpu (128 on x86 and arm64). It
// must be a power of two in [64, 4096]. Every process then uses the recorded
// value, whatever CPU it runs on.
func WithPadUnit(n int) Option {
	return func(o *options) error {
		if n < minPad || n > maxPad || n&(n-1) != 0 {
			return fmt.Errorf("%w: padding unit %d not a power of two in [%d,%d]", ErrInvalid, n, minPad, maxPad)
		}
		o.padUnit = n
		return nil
	}
}

// WithDirCapacity sets the number of directory entries (Create only;
// default DefaultDirCapacity).
func WithDirCapacity(n int) Option {
	return func(o *options) error {
		if n < 1 || n > MaxDirCapacity {
			return fmt.Errorf("%w: directory capacity %d not in [1,%d]", ErrInvalid, n, MaxDirCapacity)
		}
		o.dirCap = n
		return nil
	}
}

// WithPrefault faults every page of the mapping in at Create or Open
// (MADV_POPULATE_WRITE where the kernel has it, else a write-touch of each
// page that leaves its contents unchanged), so the hot path never takes a
// page fault.
func WithPrefault() Option { return func(o *options) error { o.prefault = true; return nil } }

// WithMlock locks the mapping in memory (mlock) so it is never paged out.
// Fails with the kernel's error if RLIMIT_MEMLOCK is too small.
func WithMlock() Option { return func(o *options) error { o.mlock = true; return nil } }

// WithHugePages advises transparent huge pages for the mapping
// (MADV_HUGEPAGE). On tmpfs this takes effect only when
// /sys/kernel/mm/transparent_hugepage/shmem_enabled allows "advise". For
// explicit huge pages, create the arena on a hugetlbfs mount instead.
func WithHugePages() Option { return func(o *options) error { o.hugePages = true; return nil } }

// WithReadyTimeout bounds how long Open waits for a racing creator to mark
// the arena ready (Open only; default DefaultReadyTimeout).
func WithReadyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: negative ready timeout", ErrInvalid)
		}
		o.readyTimeout = d
		return nil
	}
}

// WithLockTimeout bounds how long Alloc waits for the cross-process
// directory lock (default DefaultLockTimeout).
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: negative lock timeout", ErrInvalid)
		}
		o.lockTimeout = d
		return nil
	}
}

// WithForce makes Remove unlink the file even while other processes hold
// liveness locks in it (live handles on its rings). They keep their
// mapping of the unlinked file; a later Create of the same name makes a
// new arena they do not see. Only Remove reads it.
func WithForce() Option { return func(o *options) error { o.force = true; return nil } }

// WithAllowShared lets Open accept a file writable by group or others
// (Open only). Without it such a file is refused with ErrPermission, since
// anyone who can write it can corrupt every ring in it.
func WithAllowShared() Option { return func(o *options) error { o.allowShared = true; return nil } }

// WithAllowOwner lets Open accept a file owned by the given uid as well as
// one owned by the caller (Open only), for IPC between two users.
func WithAllowOwner(uid int) Option {
	return func(o *options) error {
		if uid < 0 {
			return fmt.Errorf("%w: uid %d", ErrInvalid, uid)
		}
		o.allowUID = uid
		return nil
	}
}

// ReadOnly makes Open map the arena read-only (Open only; Create refuses it
// with ErrInvalid): the file is opened O_RDONLY and mapped PROT_READ, so a
// monitor can never change a byte of it. Reading works as on any handle
// (Lookup, Regions, LiveLocked, and ring.OpenView and ring.Inspect on top);
// every method that would write fails with ErrReadOnly: Alloc, AllocKind,
// LockLive (a liveness lock needs a descriptor open for writing). The bytes
// of its regions must only be read: a store into them faults.
//
// A read-only Open also needs only read permission on the file, so an
// operator can inspect another user's arena that is readable to it (with
// WithAllowOwner).
func ReadOnly() Option {
	return func(o *options) error {
		o.readOnly = true
		return nil
	}
}
