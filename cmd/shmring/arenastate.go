package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// The classification of one file that ls, rm and gc share: is it an arena,
// and if so, is anyone still using it.
//
//	not an arena  not a regular file, a symlink, refused by Peek's checks
//	              (owner, links, mode), or no arena magic: never touched
//	initializing  not marked ready, and its creator is alive (or, with no
//	              creator recorded yet, the file changed within
//	              incompleteGrace): a Create still at work
//	incomplete    not marked ready, and its creator is dead (or, with no
//	              creator recorded, the file is older than incompleteGrace):
//	              a Create that died half way (docs/layout.md)
//	corrupt       marked ready, but Open, the directory or a ring header
//	              fails validation (or the layout version is unknown)
//	unreadable    marked ready, but Open failed for another reason (out of
//	              memory, descriptors, ...): nothing can be said
//	live          a live peer on some ring, a liveness lock held anywhere
//	              in the file, or its creator still running
//	stale         none of those: nobody will use it again
//
// gc removes only stale and incomplete arenas.

// Arena states, as ls prints them and its JSON carries them.
const (
	stateLive         = "live"
	stateStale        = "stale"
	stateIncomplete   = "incomplete"
	stateInitializing = "initializing"
	stateCorrupt      = "corrupt"
	stateUnreadable   = "unreadable"
	stateNotArena     = "not an arena"
)

// incompleteGrace is how old a file that is not marked ready and names no
// creator (blank, or its header written only in part) must be before it
// counts as abandoned. Create writes the whole header microseconds after
// creating the file, so anything older than this is a creator that died;
// docs/layout.md allows removal after the ready timeout (1 s by default),
// and the grace is ten times that for creators on a loaded machine.
const incompleteGrace = 10 * time.Second

// creatorSlack is how much later than the arena's Created time the
// process now running under its creator's pid may have started and still
// count as the creator: the boot time /proc gives is truncated to whole
// seconds, and clock ticks are 10 ms.
const creatorSlack = 2 * time.Second

// arenaEntry is what ls reports about one file. The JSON names are part of
// the command's output contract: add fields, never rename them.
type arenaEntry struct {
	Name string `json:"name"` // the file's name in its directory
	Path string `json:"path"`
	// Size is the file's length in bytes; Used the bytes of its data area
	// allocated to regions (alignment gaps included); Regions how many
	// regions its directory holds, Rings how many of them are rings.
	// Used, Regions and Rings are 0 for an arena that could not be opened.
	Size    int64 `json:"size"`
	Used    int64 `json:"used"`
	Regions int   `json:"regions"`
	Rings   int   `json:"rings"`
	// CreatorPID is the pid in the header (0: not written yet, or not an
	// arena); CreatorAlive whether that process still runs (a pid since
	// reused by a process started after the arena counts as dead).
	CreatorPID   int        `json:"creator_pid"`
	CreatorAlive bool       `json:"creator_alive"`
	Created      *time.Time `json:"created,omitempty"`
	// LivePeers is the number of live entries in the peer tables of all
	// its rings, this process's included; LiveLocked whether any liveness
	// lock is held anywhere in the file (a live handle, maybe one whose
	// ring could not be read).
	LivePeers  int    `json:"live_peers"`
	LiveLocked bool   `json:"live_locked"`
	State      string `json:"state"`
	Detail     string `json:"detail,omitempty"`

	opened bool       // Open succeeded: Used, Regions and Rings are known
	peers  []livePeer // the live peers, for rm
	dev    uint64     // the file's device and inode when classified, for gc
	ino    uint64
}

// livePeer is one live entry of a ring's peer table.
type livePeer struct {
	ring  string
	pid   int
	roles ring.Role
}

// errVanished: the file was removed while it was being classified.
var errVanished = errors.New("no such file")

// classify finds the state of the file at path. It returns errVanished
// if there is no file there (any more), and no other error: whatever the
// file holds becomes a state and a detail.
func classify(path string, now time.Time) (arenaEntry, error) {
	e := arenaEntry{Name: filepath.Base(path), Path: path}
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return e, errVanished
		}
		return e.not(reason(err, path)), nil
	}
	e.Size = fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.dev, e.ino = uint64(st.Dev), uint64(st.Ino)
	}
	if !fi.Mode().IsRegular() {
		return e.not(fileKind(path, fi.Mode())), nil
	}
	in, err := arena.Peek(path)
	switch {
	case errors.Is(err, arena.ErrNotFound):
		return e, errVanished
	case errors.Is(err, arena.ErrNotArena):
		return e.not("no shmring magic"), nil
	case errors.Is(err, arena.ErrPermission):
		return e.not(reason(err, path)), nil
	case err != nil:
		e.State, e.Detail = stateUnreadable, reason(err, path)
		return e, nil
	}
	e.Size = in.FileSize
	e.CreatorPID = in.CreatorPID
	if !in.Created.IsZero() {
		c := in.Created
		e.Created = &c
	}
	if in.Blank || !in.Ready {
		return e.notReady(in.Blank, in.ModTime, now), nil
	}
	return e.ready(now)
}

// not makes e a file that is not an arena, for reason.
func (e arenaEntry) not(reason string) arenaEntry {
	e.State, e.Detail = stateNotArena, reason
	return e
}

// notReady classifies a file whose creator has not marked it ready.
func (e arenaEntry) notReady(blank bool, mtime, now time.Time) arenaEntry {
	var created time.Time
	if e.Created != nil {
		created = *e.Created
	}
	if e.CreatorPID > 0 {
		e.CreatorAlive = processAlive(e.CreatorPID, created)
		if e.CreatorAlive {
			e.State = stateInitializing
			e.Detail = fmt.Sprintf("not ready: creator %d is still creating it", e.CreatorPID)
		} else {
			e.State = stateIncomplete
			e.Detail = fmt.Sprintf("not ready: creator %d exited before finishing it", e.CreatorPID)
		}
		return e
	}
	what := "header incomplete, no creator recorded"
	if blank {
		what = "blank: no header written"
	}
	age := now.Sub(mtime)
	if pid, held := fileUser(e.dev, e.ino); held {
		// Maybe not ours at all (any zero-filled file reads as blank):
		// whoever holds it, it is not abandoned.
		e.State = stateInitializing
		e.Detail = fmt.Sprintf("%s, held open or mapped by pid %d", what, pid)
		if pid == 0 {
			e.Detail = what + ", maybe held by a process this platform cannot see"
		}
		return e
	}
	if age > incompleteGrace {
		e.State = stateIncomplete
		e.Detail = fmt.Sprintf("%s, unchanged for %v", what, age.Truncate(time.Second))
	} else {
		e.State = stateInitializing
		e.Detail = fmt.Sprintf("%s, changed %v ago", what, age.Truncate(time.Millisecond))
	}
	return e
}

// ready classifies an arena its creator marked ready: it opens it
// read-only and looks at every ring's peer table.
func (e arenaEntry) ready(now time.Time) (arenaEntry, error) {
	a, err := openReadOnly(e.Path)
	switch {
	case errors.Is(err, arena.ErrNotFound):
		return e, errVanished
	case errors.Is(err, arena.ErrPermission):
		return e.not(reason(err, e.Path)), nil
	case errors.Is(err, arena.ErrNotReady):
		// Peek saw it ready a moment ago: a hostile writer at work.
		e.State, e.Detail = stateCorrupt, reason(err, e.Path)
		return e, nil
	case errors.Is(err, arena.ErrCorrupt), errors.Is(err, arena.ErrVersion):
		e.State, e.Detail = stateCorrupt, reason(err, e.Path)
		e.CreatorAlive = e.CreatorPID > 0 && processAlive(e.CreatorPID, e.createdTime())
		return e, nil
	case err != nil:
		e.State, e.Detail = stateUnreadable, reason(err, e.Path)
		return e, nil
	}
	defer a.Close()
	e.opened = true
	e.Size = a.Size()
	e.CreatorPID = a.CreatorPID()
	c := a.Created()
	e.Created = &c
	e.CreatorAlive = processAlive(e.CreatorPID, c)
	if locked, err := a.LiveLocked(0, a.Size()); err == nil {
		e.LiveLocked = locked
	}

	var problems []string
	regions, err := a.Regions()
	if err != nil {
		problems = append(problems, reason(err, e.Path))
	}
	e.Regions = len(regions)
	end := a.DataOffset()
	for _, r := range regions {
		end = max(end, r.Offset()+r.Size())
		if !isRingKind(r.Kind()) {
			continue
		}
		e.Rings++
		// No wait for a ring whose creator has not initialised it (no
		// peer can be attached to it yet).
		v, err := ring.OpenView(a, r.Name(), ring.WithOpenTimeout(0))
		if errors.Is(err, ring.ErrNotReady) {
			continue
		}
		if err != nil {
			problems = append(problems, reason(err, e.Path))
			continue
		}
		for _, p := range v.Peers() {
			if p.Alive {
				e.peers = append(e.peers, livePeer{ring: r.Name(), pid: p.PID, roles: p.Roles})
			}
		}
		v.Close()
	}
	e.Used = end - a.DataOffset()
	e.LivePeers = len(e.peers)
	switch {
	case len(problems) > 0:
		e.State, e.Detail = stateCorrupt, strings.Join(problems, "; ")
	case e.LivePeers > 0 || e.LiveLocked || e.CreatorAlive:
		e.State = stateLive
		if e.LivePeers == 0 {
			if e.LiveLocked {
				e.Detail = "a liveness lock is held"
			} else {
				e.Detail = "no live peer, but its creator is running"
			}
		}
	default:
		e.State = stateStale
		e.Detail = "no live peer, creator gone"
	}
	return e, nil
}

func (e *arenaEntry) createdTime() time.Time {
	if e.Created == nil {
		return time.Time{}
	}
	return *e.Created
}

// removable reports whether gc may remove an arena in this state.
func removable(state string) bool { return state == stateStale || state == stateIncomplete }

// isArena reports whether the state is that of a shmring arena (rm's
// test: it never removes a file that is not one).
func isArena(state string) bool { return state != stateNotArena }

// fileKind describes a file that is not a regular file.
func fileKind(path string, m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		if t, err := os.Readlink(path); err == nil {
			return "symbolic link to " + t
		}
		return "symbolic link"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "not a regular file (" + m.String() + ")"
}

// reason turns an arena error into a detail: the library's messages repeat
// the path and the "arena:" prefix, which a table row already says.
func reason(err error, path string) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	s := err.Error()
	for _, p := range []string{"open " + path + ": ", "peek " + path + ": ", path + ": ", "arena: ", "ring: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return strings.ReplaceAll(s, "file refused: permission denied: ", "refused: ")
}

// safeText returns s as is if it prints as it is (valid UTF-8, no control
// or other invisible characters), and quoted otherwise: file names and
// error details come from hostile files and must not move the cursor or
// break a table.
func safeText(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
