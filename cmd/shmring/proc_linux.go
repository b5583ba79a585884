//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/procfs"
)

// How ls, rm and gc tell whether an arena's creator still runs. A pid alone
// does not say: pids are reused, so a process found under the creator's pid
// must also have started no later than the arena was created.

// maxPID bounds the pids worth asking about (PID_MAX_LIMIT); a header's pid
// is hostile input, and kill(2) with a pid <= 0 signals process groups.
const maxPID = 1 << 22

// clockTicks is USER_HZ, the unit of /proc/PID/stat's start time: 100 on
// every Linux architecture (sysconf(_SC_CLK_TCK) returns this constant).
const clockTicks = 100

// processAlive reports whether pid names a running process that may be the
// one that created an arena at created (zero: unknown): it exists (kill 0;
// EPERM means it exists but is another user's), is not a zombie, and did
// not start more than creatorSlack after created. Where /proc cannot be
// read (hidepid, no procfs) kill's answer stands.
func processAlive(pid int, created time.Time) bool {
	if pid <= 0 || pid > maxPID {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	ticks, zombie, ok := procfs.Stat(pid)
	if !ok {
		return true
	}
	if zombie {
		return false
	}
	boot, ok := bootTime()
	if !ok || created.IsZero() {
		return true
	}
	start := boot.Add(time.Duration(ticks) * (time.Second / clockTicks))
	return !start.After(created.Add(creatorSlack))
}

// bootTime is when the system booted, from the btime line of /proc/stat
// (whole seconds).
var bootTime = sync.OnceValues(func() (time.Time, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	return parseBootTime(f)
})

func parseBootTime(f *os.File) (time.Time, bool) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, found := bytes.CutPrefix(sc.Bytes(), []byte("btime "))
		if !found {
			continue
		}
		secs, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
		if err != nil || secs <= 0 {
			return time.Time{}, false
		}
		return time.Unix(secs, 0), true
	}
	return time.Time{}, false
}

// fileUser returns the pid of a process that has the file (device dev,
// inode ino) open or mapped, found by scanning /proc/PID/fd and
// /proc/PID/maps of every process this one may read, and ok=false if none
// does. A blank file in /dev/shm names no creator, and may as well be
// another program's POSIX shared memory as an arena whose creator died
// before writing its header: one that any process holds is never called
// incomplete, so gc never removes it. Processes whose /proc entries are
// unreadable (other users') are not seen; they cannot open a 0600 file of
// ours either.
func fileUser(dev, ino uint64) (pid int, ok bool) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	self := os.Getpid()
	for _, p := range procs {
		n, err := strconv.Atoi(p.Name())
		if err != nil || n == self {
			continue
		}
		dir := "/proc/" + p.Name()
		if fds, err := os.ReadDir(dir + "/fd"); err == nil {
			for _, fd := range fds {
				var st unix.Stat_t
				if unix.Stat(dir+"/fd/"+fd.Name(), &st) == nil && uint64(st.Dev) == dev && uint64(st.Ino) == ino {
					return n, true
				}
			}
		}
		if mappedIn(dir+"/maps", dev, ino) {
			return n, true
		}
	}
	return 0, false
}

// mappedIn reports whether a /proc/PID/maps file lists a mapping of the
// file dev/ino ("addr perms offset MAJ:MIN inode path" lines).
func mappedIn(maps string, dev, ino uint64) bool {
	b, err := os.ReadFile(maps)
	if err != nil {
		return false
	}
	want := strconv.FormatUint(ino, 10)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != want {
			continue
		}
		var maj, mnr uint64
		if _, err := fmt.Sscanf(f[3], "%x:%x", &maj, &mnr); err == nil && unix.Mkdev(uint32(maj), uint32(mnr)) == dev {
			return true
		}
	}
	return false
}
