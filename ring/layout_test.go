package ring

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

type fieldPos struct{ off, size uintptr }

func ringFields() map[string]map[string]fieldPos {
	var h ringHeader
	var p prodUnit
	var c consUnit
	var e peerEntry
	var s spscSlot
	var m mpmcSlot
	var bs bcastSlot
	var rp recordProd
	var rh recordHeader
	f := func(off, size uintptr) fieldPos { return fieldPos{off, size} }
	return map[string]map[string]fieldPos{
		"ringHeader": {
			"Magic": f(unsafe.Offsetof(h.Magic), unsafe.Sizeof(h.Magic)), "VersionMajor": f(unsafe.Offsetof(h.VersionMajor), 2),
			"VersionMinor": f(unsafe.Offsetof(h.VersionMinor), 2), "Kind": f(unsafe.Offsetof(h.Kind), 4),
			"Slots": f(unsafe.Offsetof(h.Slots), 4), "SlotSize": f(unsafe.Offsetof(h.SlotSize), 4),
			"SlotStride": f(unsafe.Offsetof(h.SlotStride), 4), "PadUnit": f(unsafe.Offsetof(h.PadUnit), 4),
			"RegionSize": f(unsafe.Offsetof(h.RegionSize), 8), "ProdOffset": f(unsafe.Offsetof(h.ProdOffset), 8),
			"ConsOffset": f(unsafe.Offsetof(h.ConsOffset), 8), "PeersOffset": f(unsafe.Offsetof(h.PeersOffset), 8),
			"PeerCapacity": f(unsafe.Offsetof(h.PeerCapacity), 4), "PeerStride": f(unsafe.Offsetof(h.PeerStride), 4),
			"SlotsOffset": f(unsafe.Offsetof(h.SlotsOffset), 8), "CreatorPID": f(unsafe.Offsetof(h.CreatorPID), 4),
			"Flags": f(unsafe.Offsetof(h.Flags), 4), "CreatedUnixNano": f(unsafe.Offsetof(h.CreatedUnixNano), 8),
			"Checksum": f(unsafe.Offsetof(h.Checksum), 4), "State": f(unsafe.Offsetof(h.State), 4), "Closed": f(unsafe.Offsetof(h.Closed), 4),
			"Skipped": f(unsafe.Offsetof(h.Skipped), 8), "Redelivered": f(unsafe.Offsetof(h.Redelivered), 8),
			"Subscribers": f(unsafe.Offsetof(h.Subscribers), 4),
			"DataAlign":   f(unsafe.Offsetof(h.DataAlign), 4), "Capacity": f(unsafe.Offsetof(h.Capacity), 8),
		},
		"recordProd": {
			"Pos": f(unsafe.Offsetof(rp.Pos), 8), "NotEmptySeq": f(unsafe.Offsetof(rp.NotEmptySeq), 4),
			"NotEmptyWaiters": f(unsafe.Offsetof(rp.NotEmptyWaiters), 4),
			"ClaimLock":       f(unsafe.Offsetof(rp.ClaimLock), 4), "HeadCache": f(unsafe.Offsetof(rp.HeadCache), 8),
		},
		"recordHeader": {
			"Size": f(unsafe.Offsetof(rh.Size), 4), "State": f(unsafe.Offsetof(rh.State), 4),
			"Len": f(unsafe.Offsetof(rh.Len), 4), "Owner": f(unsafe.Offsetof(rh.Owner), 4),
		},
		"prodUnit": {
			"Pos": f(unsafe.Offsetof(p.Pos), 8), "NotEmptySeq": f(unsafe.Offsetof(p.NotEmptySeq), 4),
			"NotEmptyWaiters": f(unsafe.Offsetof(p.NotEmptyWaiters), 4),
		},
		"consUnit": {
			"Pos": f(unsafe.Offsetof(c.Pos), 8), "NotFullSeq": f(unsafe.Offsetof(c.NotFullSeq), 4),
			"NotFullWaiters": f(unsafe.Offsetof(c.NotFullWaiters), 4),
		},
		"peerEntry": {
			"PID": f(unsafe.Offsetof(e.PID), 4), "Roles": f(unsafe.Offsetof(e.Roles), 4),
			"StartTicks": f(unsafe.Offsetof(e.StartTicks), 8), "AttachUnixNano": f(unsafe.Offsetof(e.AttachUnixNano), 8),
			"HeartbeatUnixNano": f(unsafe.Offsetof(e.HeartbeatUnixNano), 8), "MsgsIn": f(unsafe.Offsetof(e.MsgsIn), 8),
			"BytesIn": f(unsafe.Offsetof(e.BytesIn), 8), "MsgsOut": f(unsafe.Offsetof(e.MsgsOut), 8),
			"BytesOut": f(unsafe.Offsetof(e.BytesOut), 8), "FullEvents": f(unsafe.Offsetof(e.FullEvents), 8),
			"EmptyEvents": f(unsafe.Offsetof(e.EmptyEvents), 8), "Sleeps": f(unsafe.Offsetof(e.Sleeps), 8),
			"Wakes": f(unsafe.Offsetof(e.Wakes), 8), "Generation": f(unsafe.Offsetof(e.Generation), 4),
			"SleepingEmpty": f(unsafe.Offsetof(e.SleepingEmpty), 4), "SleepingFull": f(unsafe.Offsetof(e.SleepingFull), 4),
			"ProdClaim": f(unsafe.Offsetof(e.ProdClaim), 8), "ConsClaim": f(unsafe.Offsetof(e.ConsClaim), 8),
		},
		"spscSlot":  {"Len": f(unsafe.Offsetof(s.Len), 4), "Seq": f(unsafe.Offsetof(s.Seq), 4)},
		"mpmcSlot":  {"Seq": f(unsafe.Offsetof(m.Seq), 8), "Len": f(unsafe.Offsetof(m.Len), 4), "Owner": f(unsafe.Offsetof(m.Owner), 4)},
		"bcastSlot": {"Seq": f(unsafe.Offsetof(bs.Seq), 8), "Len": f(unsafe.Offsetof(bs.Len), 4)},
		// A subscriber entry is a peerEntry read with other names
		// (subscriber.go, subCursor).
		"subscriberEntry": {
			"PID": f(unsafe.Offsetof(e.PID), 4), "Roles": f(unsafe.Offsetof(e.Roles), 4),
			"StartTicks": f(unsafe.Offsetof(e.StartTicks), 8), "HeartbeatUnixNano": f(unsafe.Offsetof(e.HeartbeatUnixNano), 8),
			"Missed": f(unsafe.Offsetof(e.MsgsIn), 8), "Lapped": f(unsafe.Offsetof(e.FullEvents), 8),
			"SleepingFull": f(unsafe.Offsetof(e.SleepingFull), 4), "Generation": f(unsafe.Offsetof(e.Generation), 4),
			"Cursor": f(unsafe.Offsetof(e.ConsClaim), 8), "AttachUnixNano": f(unsafe.Offsetof(e.AttachUnixNano), 8),
			"Delivered": f(unsafe.Offsetof(e.MsgsOut), 8), "BytesOut": f(unsafe.Offsetof(e.BytesOut), 8),
			"EmptyEvents": f(unsafe.Offsetof(e.EmptyEvents), 8), "Sleeps": f(unsafe.Offsetof(e.Sleeps), 8),
			"Wakes": f(unsafe.Offsetof(e.Wakes), 8), "SleepingEmpty": f(unsafe.Offsetof(e.SleepingEmpty), 4),
		},
	}
}

// TestRingLayout pins every ring field to the tables of docs/ring.md and
// checks 8-byte atomics are 8-byte aligned.
func TestRingLayout(t *testing.T) {
	want := ringFields()
	f, err := os.Open("../docs/ring.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	heading := regexp.MustCompile("^#+ .*`(ringHeader|prodUnit|consUnit|peerEntry|subscriberEntry|spscSlot|mpmcSlot|bcastSlot|recordProd|recordHeader)`")
	row := regexp.MustCompile("^\\|\\s*(\\d+)\\s*\\|\\s*(\\d+)\\s*\\|\\s*`?([A-Za-z]+)`?\\s*\\|")
	got := map[string]map[string]fieldPos{}
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := heading.FindStringSubmatch(line); m != nil {
			cur = m[1]
			got[cur] = map[string]fieldPos{}
			continue
		}
		if strings.HasPrefix(line, "#") {
			cur = ""
		}
		if cur == "" {
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil && m[3] != "reserved" {
			off, _ := strconv.Atoi(m[1])
			size, _ := strconv.Atoi(m[2])
			got[cur][m[3]] = fieldPos{uintptr(off), uintptr(size)}
		}
	}
	for rec, fields := range want {
		for name, p := range fields {
			if p.size == 8 && p.off%8 != 0 {
				t.Errorf("%s.%s: 8-byte field at offset %d", rec, name, p.off)
			}
			d, ok := got[rec][name]
			switch {
			case !ok:
				t.Errorf("docs/ring.md: %s.%s missing", rec, name)
			case d != p:
				t.Errorf("%s.%s: code offset %d size %d, docs/ring.md offset %d size %d", rec, name, p.off, p.size, d.off, d.size)
			}
		}
		for name := range got[rec] {
			if _, ok := fields[name]; !ok {
				t.Errorf("docs/ring.md lists %s.%s, which the code does not have", rec, name)
			}
		}
	}
	// Geometry: offsets are padding-aligned and in order for both units.
	for _, pad := range []uint64{64, 128, 256} {
		for _, k := range kinds {
			g := computeGeometry(k.kind, pad, Config{Slots: 8, SlotSize: 100, Peers: 3})
			if g.prodOff%pad != 0 || g.consOff%pad != 0 || g.peersOff%pad != 0 || g.slotsOff%pad != 0 ||
				g.prodOff < ringHeaderSize || g.consOff < g.prodOff+pad || g.slotsOff < g.peersOff+3*g.peerStride ||
				g.stride%8 != 0 || g.size != g.slotsOff+8*g.stride {
				t.Errorf("pad %d %s: geometry %+v", pad, k.name, g)
			}
		}
	}
}
