package arena

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// Check is the consistency checker (shmring check; bbolt's check and fsck
// are the model): where Open stops at the first thing wrong with a file,
// Check reports every one it can find, each at its file offset.

// Problem is one thing Check found wrong with an arena file.
type Problem struct {
	// Offset is the file offset of the field at fault (0 for the file
	// itself).
	Offset int64
	// Field names it: "file", "header.TotalSize", "dir[2].Offset",
	// "header.reserved" (docs/layout.md's names).
	Field string
	// Err says what is wrong. It wraps the sentinel Open would have
	// returned for it (ErrCorrupt, ErrChecksum, ErrTruncated, ErrNotArena,
	// ErrVersion, ErrNotReady, ErrPermission).
	Err error
}

func (p Problem) String() string { return fmt.Sprintf("%#x %s: %v", p.Offset, p.Field, p.Err) }

// maxProblems bounds what Check lists: a file of random bytes has a fault
// in nearly every field of its directory.
const maxProblems = 1000

// Check reads the arena file at path (see Resolve) read-only, with pread:
// it maps nothing, takes no lock and writes nothing. It applies every
// validation Open makes to the file, the header and the directory
// (docs/layout.md, Opening), the same rules in the same order, but goes on
// after a failure and returns all of them, and checks what Open ignores:
// reserved bytes and entry flags that should be zero. It stops early only
// where the rest cannot be read as an arena: a file that is not one
// (ErrNotArena), a layout or byte order this build does not read
// (ErrVersion), a header not ready yet, or a header whose geometry is
// invalid (then the directory is not checked, and a Problem says so).
//
// A file whose creator is still initialising it, or an allocation in
// flight, can look faulty for an instant; so while Check finds problems it
// reads the file again, with back-off, up to the ready timeout
// (WithReadyTimeout; DefaultReadyTimeout), and reports what the last pass
// found. It never waits longer. WithAllowOwner and WithAllowShared apply as
// in Open; the rest of the options are ignored.
//
// The problems are in file offset order. Check returns no problems for a
// healthy arena, and an error (with no problems) only when it cannot read
// the file at all: no such file (ErrNotFound), a symlink or not a regular
// file (ErrPermission), a read that fails.
func Check(path string, opts ...Option) ([]Problem, error) {
	p, o, err := prepare(path, opts)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, openErr("open", p, err)
	}
	defer unix.Close(fd)
	bo := newBackoff(o.readyTimeout, readyPollMin, readyPollMax)
	for {
		c := checker{o: &o}
		if err := c.run(fd); err != nil {
			return nil, fmt.Errorf("arena: check %s: %w", p, err)
		}
		// Again only while what it found may be a racing creator's
		// writes not yet visible (as Open waits): a header not ready,
		// or one that fails its checksum.
		if !c.transient() || !bo.wait() {
			sort.SliceStable(c.probs, func(i, j int) bool { return c.probs[i].Offset < c.probs[j].Offset })
			return c.probs, nil
		}
	}
}

// transient reports whether a problem found may be a creator's writes not
// yet complete or visible, which a later pass may not find.
func (c *checker) transient() bool {
	for _, p := range c.probs {
		if errors.Is(p.Err, ErrNotReady) || errors.Is(p.Err, ErrChecksum) || errors.Is(p.Err, ErrTruncated) {
			return true
		}
	}
	return false
}

// checker is one pass of Check.
type checker struct {
	o     *options
	probs []Problem
	// unpublished is the run of consecutive counted-but-unpublished
	// entries last reported, which one Problem covers.
	unpublished run
	full        bool
	// strict: the arena is of this build's layout version or older, so
	// its reserved bytes must be zero.
	strict bool
}

// run is a run of directory entries [first, last] reported by the
// Problem at index at of checker.probs (at < 0: none).
type run struct{ first, last, at int }

// add records a problem; it returns false once maxProblems are recorded.
func (c *checker) add(off int64, field string, err error) bool {
	if c.full {
		return false
	}
	if len(c.probs) == maxProblems {
		c.probs = append(c.probs, Problem{Offset: off, Field: field, Err: fmt.Errorf("%w: more problems; stopped after %d", ErrCorrupt, maxProblems)})
		c.full = true
		return false
	}
	c.probs = append(c.probs, Problem{Offset: off, Field: field, Err: err})
	return true
}

// run checks the file open on fd. It returns an error only when the file
// cannot be read.
func (c *checker) run(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG {
		return fileFaults(&st, c.o)[0]
	}
	for _, err := range fileFaults(&st, c.o) {
		c.add(0, "file", err)
	}
	size := st.Size

	var h header
	n, err := unix.Pread(fd, h.bytes(), 0)
	if err != nil {
		return fmt.Errorf("pread: %w", err)
	}
	b := h.bytes()[:n]
	offState := headerFieldOffset("State")
	if !bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
		c.add(offState, "header.State", fmt.Errorf("%w: the file holds no header yet (%d bytes, all zero): its creator has not written it, or died before it did", ErrNotReady, size))
		return nil
	}
	// As Open judges it (waitReady): a byte of the magic that is written
	// and wrong is another kind of file; zeros may be a creator's bytes
	// not written yet.
	for i := 0; i < n && i < len(Magic); i++ {
		if b[i] != 0 && b[i] != Magic[i] {
			c.add(0, "header.Magic", fmt.Errorf("%w: bad magic %q", ErrNotArena, b[:min(n, len(Magic))]))
			return nil
		}
	}
	if n < HeaderSize {
		c.add(int64(n), "file", fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrTruncated, n, HeaderSize))
		return nil
	}

	// A creator writes the magic, the major version and the byte order
	// mark before State, each with one store: until all are there (and
	// State is not ready), Open waits and says ErrNotReady, not that the
	// identity is wrong.
	if h.State != stateReady && (string(b[:len(Magic)]) != Magic || h.VersionMajor == 0 || h.ByteOrder == 0) {
		c.add(offState, "header.State", fmt.Errorf("%w: header only partly written (creator pid %d still initialising it, or died during Create)", ErrNotReady, h.CreatorPID))
		return nil
	}
	// The identity first (a host of the other byte order wrote State
	// byte-swapped), then State, then the rest of Open's rules.
	for _, r := range headerRules[:identityRules] {
		if err := r.check(&h, size); err != nil {
			c.add(headerFieldOffset(r.field), "header."+r.field, err)
			if errors.Is(err, ErrNotArena) || errors.Is(err, ErrVersion) {
				return nil
			}
		}
	}
	switch h.State {
	case stateReady:
	case 0:
		c.add(offState, "header.State", fmt.Errorf("%w: header not marked ready (creator pid %d still initialising it, or died during Create)", ErrNotReady, h.CreatorPID))
		return nil // the rest of the header may not be written yet
	default:
		c.add(offState, "header.State", corruptf("header state word %#x", h.State))
	}
	sound := true
	for _, r := range headerRules[identityRules:] {
		if err := r.check(&h, size); err != nil {
			c.add(headerFieldOffset(r.field), "header."+r.field, err)
			if r.geom {
				sound = false
			}
			if errors.Is(err, ErrVersion) {
				return nil
			}
		}
	}
	// Reserved bytes and entry flags are for later minor versions
	// (docs/layout.md: ignored when read): zero is required only of an
	// arena of this build's version or older, with no feature bit it does
	// not know.
	c.strict = h.VersionMinor <= VersionMinor && h.CompatFeatures == 0 &&
		h.RoCompatFeatures&^knownRoCompat == 0 && h.IncompatFeatures&^knownIncompat == 0
	if c.strict {
		c.reserved("header.reserved", 0, h.bytes(), headerFields)
	}
	if !sound {
		c.add(HeaderSize, "directory", fmt.Errorf("%w: directory not checked: the header's geometry is invalid", ErrCorrupt))
		return nil
	}
	g := h.geometry()
	return c.directory(fd, &g, h.DirCount, h.AllocNext)
}

// directory checks the directory of the arena open on fd, whose header
// (read once, with the count and cursor given) passed the geometry rules.
func (c *checker) directory(fd int, g *geometry, count uint32, next uint64) error {
	n := min(int64(count), g.dirCap)
	buf := make([]byte, n*DirEntrySize) // at most MaxDirCapacity entries: 8 MiB
	if n > 0 {
		// A short read leaves zeros: entries past the end of the file
		// read as unpublished (and the file as truncated).
		if _, err := unix.Pread(fd, buf, g.dirOffset); err != nil {
			return fmt.Errorf("pread directory: %w", err)
		}
	}
	entry := func(i int) (dirEntry, bool) {
		var e dirEntry
		copy(e.bytes(), buf[i*DirEntrySize:(i+1)*DirEntrySize])
		return e, e.State == stateReady
	}
	c.unpublished = run{at: -1}
	walkDir(g, count, next, entry, c.dirFault)
	for i := 0; i < int(n) && !c.full; i++ {
		if e, ready := entry(i); ready && c.strict {
			c.reserved(fmt.Sprintf("dir[%d].reserved", i), g.dirOffset+int64(i)*DirEntrySize, e.bytes(), entryFields)
			if e.Flags != 0 {
				off := g.dirOffset + int64(i)*DirEntrySize + entryFieldOffset("Flags")
				c.add(off, fmt.Sprintf("dir[%d].Flags", i), corruptf("directory entry %d (%q): flags %#x, want 0 (reserved)", i, e.name(), e.Flags))
			}
		}
	}
	return nil
}

// dirFault is walkDir's fault for Check: it records every failure, one
// Problem for each run of consecutive unpublished entries.
func (c *checker) dirFault(off int64, field string, err error) bool {
	var i int
	if _, e := fmt.Sscanf(field, "dir[%d].State", &i); e == nil {
		// Only unpublished entries are reported at their State.
		u := &c.unpublished
		if u.at >= 0 && u.at == len(c.probs)-1 && u.last == i-1 {
			u.last = i
			c.probs[u.at].Err = corruptf("directory entries %d..%d are counted but not published", u.first, i)
			return true
		}
		*u = run{first: i, last: i, at: len(c.probs)}
	}
	return c.add(off, field, err)
}

// reserved reports the reserved ranges of a record (its bytes rec, at file
// offset base, laid out as table says) that are not zero, each at its
// first non-zero 4-byte word.
func (c *checker) reserved(field string, base int64, rec []byte, table []fieldDesc) {
	for _, d := range table {
		if d.name != "reserved" {
			continue
		}
		for off := d.off; off < d.off+d.size; off += 4 {
			if w := binary.LittleEndian.Uint32(rec[off:]); w != 0 {
				c.add(base+int64(off), field, corruptf("reserved bytes [%d,%d) are not zero: %#x at %d", base+int64(d.off), base+int64(d.off+d.size), w, base+int64(off)))
				break
			}
		}
	}
}
