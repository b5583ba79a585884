package metrics

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// collectArena scrapes one arena: Peek, a read-only Open, one View per
// ring, and everything closed before it returns.
func (c *Collector) collectArena(ch chan<- prometheus.Metric, t target) {
	opts := append([]arena.Option{arena.ReadOnly(), arena.WithReadyTimeout(c.cfg.ReadyTimeout)}, c.cfg.OpenOptions...)
	info, err := arena.Peek(t.path, c.cfg.OpenOptions...)
	switch {
	case err != nil && !t.explicit && skippable(t.path, err):
		return
	case err != nil:
		c.arenaError(ch, t, err)
		return
	case info.Blank && !t.explicit:
		return // nothing says it is an arena (yet)
	case !info.Ready:
		// Open would wait the ready timeout for a creator that may be
		// dead: report it down now, and again at the next scrape.
		c.arenaError(ch, t, fmt.Errorf("%w: header not marked ready (creator pid %d)", arena.ErrNotReady, info.CreatorPID))
		return
	}
	a, err := arena.Open(t.path, opts...)
	if err != nil {
		c.arenaError(ch, t, err)
		return
	}
	defer a.Close()
	regions, err := a.Regions()
	if err != nil {
		c.arenaError(ch, t, err)
		return
	}
	used := a.DataOffset()
	for _, r := range regions {
		used = max(used, r.Offset()+r.Size())
	}
	gauge(ch, arenaUp, 1, t.label)
	gauge(ch, arenaSize, float64(a.Size()), t.label)
	gauge(ch, arenaUsed, float64(used), t.label)
	gauge(ch, arenaRegions, float64(len(regions)), t.label)
	gauge(ch, arenaCreated, float64(a.Created().UnixNano())/1e9, t.label)
	for _, r := range regions {
		if kind, ok := ring.KindName(r.Kind()); ok {
			c.collectRing(ch, t, a, r, kind)
		}
	}
}

// skippable reports whether a discovered file that Peek refused is simply
// not one of ours to export: gone since the directory was read, not an
// arena, or refused by the ownership checks and owned by someone else (a
// file of our own that they refuse, say group-writable, is reported).
func skippable(path string, err error) bool {
	switch {
	case errors.Is(err, arena.ErrNotFound), errors.Is(err, arena.ErrNotArena):
		return true
	case errors.Is(err, arena.ErrPermission):
		fi, lerr := os.Lstat(path)
		if lerr != nil || !fi.Mode().IsRegular() {
			return true
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		return !ok || int(st.Uid) != os.Getuid()
	}
	return false
}

// collectRing scrapes one ring through one View.
func (c *Collector) collectRing(ch chan<- prometheus.Metric, t target, a *arena.Arena, r *arena.Region, kind string) {
	name := labelOf(r.Name())
	fail := func(err error) {
		c.ringErrors.Add(1)
		c.report(t.label, name, err)
		gauge(ch, ringUp, 0, t.label, name, kind)
	}
	// No wait: a creator killed between allocating the region and
	// initialising the ring never comes, and a scrape must stay short.
	v, err := ring.OpenView(a, r.Name(), ring.WithOpenTimeout(0))
	if err != nil {
		fail(err)
		return
	}
	defer v.Close()
	st := v.Stats()
	cfg := v.Config()
	peers := v.Peers()
	subs := v.Subscribers()

	l := []string{t.label, name, kind}
	gauge(ch, ringUp, 1, l...)
	counter(ch, ringMsgsIn, st.MsgsIn, l...)
	counter(ch, ringMsgsOut, st.MsgsOut, l...)
	counter(ch, ringBytesIn, st.BytesIn, l...)
	counter(ch, ringBytesOut, st.BytesOut, l...)
	counter(ch, ringFull, st.FullEvents, l...)
	counter(ch, ringEmpty, st.EmptyEvents, l...)
	counter(ch, ringSleeps, st.Sleeps, l...)
	counter(ch, ringWakes, st.Wakes, l...)
	switch v.Kind() {
	case ring.KindMPMC:
		counter(ch, ringSkipped, st.Skipped, l...)
		counter(ch, ringRedelivered, st.Redelivered, l...)
	case ring.KindBroadcast:
		counter(ch, ringSkipped, st.Skipped, l...)
		var lapped, missed uint64
		for _, s := range subs {
			lapped += s.Lapped
			missed += s.Missed
		}
		counter(ch, ringLapped, lapped, l...)
		counter(ch, ringMissed, missed, l...)
	case ring.KindRecords:
		counter(ch, ringSkipped, st.Skipped, l...)
		u := v.RecordUsage()
		gauge(ch, ringCapBytes, float64(u.Capacity), l...)
		gauge(ch, ringUsedBytes, float64(u.Used), l...)
		for _, s := range [...]struct {
			state string
			n     int
		}{{"committed", u.Messages}, {"busy", u.Busy}, {"skip", u.Skip}, {"padding", u.Padding}} {
			gauge(ch, ringRecords, float64(s.n), append(l, s.state)...)
		}
		gauge(ch, ringLargest, float64(u.Largest), l...)
		gauge(ch, ringMirrored, boolValue(u.Mirrored), l...)
	}
	gauge(ch, ringDepth, float64(st.Len), l...)
	if v.Kind() != ring.KindRecords {
		gauge(ch, ringCapacity, float64(cfg.Slots), l...)
	}
	gauge(ch, ringSlotSize, float64(cfg.SlotSize), l...)
	gauge(ch, ringPeers, float64(st.Peers), append(l, "live")...)
	gauge(ch, ringPeers, float64(st.DeadPeers), append(l, "dead")...)
	gauge(ch, ringClosed, boolValue(st.Closed), l...)
	gauge(ch, ringWaiters, float64(st.NotEmptyWaiters), append(l, "not_empty")...)
	gauge(ch, ringWaiters, float64(st.NotFullWaiters), append(l, "not_full")...)

	for _, p := range peers {
		pl := []string{t.label, name, kind, strconv.Itoa(p.Index), strconv.Itoa(p.PID), p.Roles.String()}
		gauge(ch, peerUp, boolValue(p.Alive), pl...)
		if p.Roles&ring.RoleSubscriber == 0 { // a subscriber pushes nothing
			counter(ch, peerMsgsIn, p.MsgsIn, pl...)
			counter(ch, peerBytesIn, p.BytesIn, pl...)
		}
		counter(ch, peerMsgsOut, p.MsgsOut, pl...)
		counter(ch, peerBytesOut, p.BytesOut, pl...)
		if !p.LastActive.IsZero() {
			gauge(ch, peerLastActive, float64(p.LastActive.UnixNano())/1e9, pl...)
		}
	}
	for _, s := range subs {
		sl := []string{t.label, name, strconv.Itoa(s.Index), strconv.Itoa(s.PID), strconv.FormatBool(s.Lossy)}
		gauge(ch, subUp, boolValue(s.Alive), sl...)
		gauge(ch, subLag, float64(s.Lag), sl...)
		counter(ch, subDelivered, s.Delivered, sl...)
		counter(ch, subBytes, s.Bytes, sl...)
		counter(ch, subLapped, s.Lapped, sl...)
		counter(ch, subMissed, s.Missed, sl...)
	}
}
