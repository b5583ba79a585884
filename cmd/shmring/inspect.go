package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// `shmring inspect ARENA [REGION]`: an arena's header and directory field
// by field, with offsets and the docs/layout.md names; with REGION, that
// region's directory entry and, for a ring, its header (docs/ring.md
// names), positions, peer table and, with --slots, slot headers. It reads
// through a read-only mapping (openReadOnly) and a ring.View, so it cannot
// change a byte of what it shows.

const inspectDescription = `Inspect shows an arena as it lies in the file. Without REGION: the arena
header and every directory entry, field by field, with offsets (hex and
decimal) and the names of docs/layout.md. With REGION: that region's
directory entry and, for a ring, the ring header and its producer and
consumer units (names of docs/ring.md), the positions decoded, and every
occupied peer table entry; ring offsets are given relative to the ring and
absolute in the file. --slots dumps the slot headers of the N positions
before and after the consumer position (a broadcast ring: the slowest
subscriber's) and before the producer position, with the first bytes of
each payload (--slots alone: N = 8). A record ring has no slots: its
capacity is bytes, and --slots dumps the headers of the first N records
from the consumer position on (state, size, length, owner), with the first
bytes of each committed one.

An arena that does not open is reported with Open's error (exit 1): run
'shmring check' for every problem in it.`

// inspectSlotsDefault is the --slots window when no N is given.
const inspectSlotsDefault = 8

// inspectSlotsMax bounds --slots=N (it is capped at the ring's slot count
// anyway).
const inspectSlotsMax = 1 << 16

// inspectPreviewLen is how many payload bytes a slot dump shows.
const inspectPreviewLen = 32

// inspectSlotsFlag is --slots[=N]: a flag that takes an optional value.
type inspectSlotsFlag struct{ n int }

func (f *inspectSlotsFlag) String() string {
	if f == nil || f.n == 0 {
		return ""
	}
	return strconv.Itoa(f.n)
}

// IsBoolFlag lets the flag package accept a bare --slots (Set("true")).
func (f *inspectSlotsFlag) IsBoolFlag() bool { return true }

func (f *inspectSlotsFlag) Set(s string) error {
	switch s {
	case "true":
		f.n = inspectSlotsDefault
		return nil
	case "false":
		f.n = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > inspectSlotsMax {
		return fmt.Errorf("want a number of positions from 1 to %d", inspectSlotsMax)
	}
	f.n = n
	return nil
}

// The JSON of inspect. Names are snake_case and part of the output
// contract: add fields, never rename them.

// inspectReport is everything inspect shows.
type inspectReport struct {
	Arena   string `json:"arena"` // the file's path
	Size    int64  `json:"size"`
	Version string `json:"version"`
	// Header and Directory: without REGION.
	Header    []inspectField `json:"header,omitempty"`
	Directory []inspectEntry `json:"directory,omitempty"`
	// Region is REGION's directory entry; Ring its ring, or nil with Note
	// saying why not.
	Region *inspectEntry `json:"region,omitempty"`
	Ring   *inspectRing  `json:"ring,omitempty"`
	Note   string        `json:"note,omitempty"`
}

// inspectField is one field of a shared record. Offset is from the start
// of its container (the file for the arena's records, the ring for a
// ring's), FileOffset from the start of the file.
type inspectField struct {
	Name       string `json:"name"`
	Offset     int64  `json:"offset"`
	FileOffset int64  `json:"file_offset"`
	Size       int    `json:"size"`
	Value      uint64 `json:"value"`
	Text       string `json:"text"`
}

// inspectEntry is one directory entry: where it is (Offset), the region
// it describes, and its fields.
type inspectEntry struct {
	Index        int            `json:"index"`
	Offset       int64          `json:"offset"`
	Name         string         `json:"name"`
	RegionOffset int64          `json:"region_offset"`
	Size         int64          `json:"size"`
	Align        int64          `json:"align"`
	Kind         uint32         `json:"kind"`
	KindName     string         `json:"kind_name"`
	CreatorPID   int            `json:"creator_pid"`
	Created      string         `json:"created"`
	Fields       []inspectField `json:"fields"`
}

// inspectRing is a ring: its geometry, header fields, positions, peer
// table and (with --slots) slot headers.
type inspectRing struct {
	Name        string              `json:"name"`
	Kind        string              `json:"kind"`
	Offset      int64               `json:"offset"` // the ring's offset in the file
	Slots       int                 `json:"slots"`
	SlotSize    int                 `json:"slot_size"`
	Peers       int                 `json:"peer_entries"`
	Subscribers int                 `json:"subscriber_entries"`
	Header      []inspectField      `json:"header"`
	Positions   inspectPositions    `json:"positions"`
	PeerTable   []inspectPeer       `json:"peers"`
	SubTable    []inspectSubscriber `json:"subscribers,omitempty"`
	SlotHeaders []inspectSlot       `json:"slot_headers,omitempty"`
	// Record rings: the occupancy (stat's records object), and with
	// --slots the first records from the consumer position.
	Usage   *recordsReport  `json:"records_usage,omitempty"`
	Records []inspectRecord `json:"records,omitempty"`
}

// inspectRecord is one record of a record ring (ring.RecordHeader) and
// the start of its payload if it is committed.
type inspectRecord struct {
	Pos           uint64 `json:"pos"` // the record's position: a byte offset in the stream
	At            string `json:"at"`  // relative to the consumer position, in bytes: "cons+64"
	Offset        int64  `json:"offset"`
	FileOffset    int64  `json:"file_offset"`
	Size          uint32 `json:"size"`  // bytes taken, header included
	State         string `json:"state"` // busy, message, padding, skip
	Lap           uint32 `json:"lap"`
	Len           uint32 `json:"len"`
	Owner         uint32 `json:"owner"`      // the claiming handle's tag
	Entry         int    `json:"entry"`      // the peer entry the tag names
	OwnerGone     bool   `json:"owner_gone"` // busy, and its handle is dead or released
	Preview       string `json:"preview"`
	PreviewFormat string `json:"preview_format"`
}

// inspectPositions are ring.Positions, with the depth.
type inspectPositions struct {
	ProducerWord    uint64 `json:"producer_word"`
	ConsumerWord    uint64 `json:"consumer_word"`
	Producer        uint64 `json:"producer"`
	Consumer        uint64 `json:"consumer"`
	ProducerEpoch   uint8  `json:"producer_epoch"`
	ConsumerEpoch   uint8  `json:"consumer_epoch"`
	Len             uint64 `json:"len"` // producer - consumer (0 for broadcast, and if the consumer is ahead)
	Closed          bool   `json:"closed"`
	ClosedMirror    bool   `json:"closed_mirror"`
	NotEmptySeq     uint32 `json:"not_empty_seq"`
	NotEmptyWaiters uint32 `json:"not_empty_waiters"`
	NotFullSeq      uint32 `json:"not_full_seq"`
	NotFullWaiters  uint32 `json:"not_full_waiters"`
}

// inspectPeer is one occupied peer table entry (ring.Peer), at Offset
// from the ring and FileOffset in the file.
type inspectPeer struct {
	Index       int    `json:"index"`
	Offset      int64  `json:"offset"`
	FileOffset  int64  `json:"file_offset"`
	PID         int    `json:"pid"`
	Roles       string `json:"roles"`
	RoleBits    uint32 `json:"role_bits"`
	Alive       bool   `json:"alive"`
	Locked      bool   `json:"locked"` // the liveness answer came from the entry's lock
	Attached    string `json:"attached"`
	LastActive  string `json:"last_active"`
	Generation  uint32 `json:"generation"`
	MsgsIn      uint64 `json:"msgs_in"`
	MsgsOut     uint64 `json:"msgs_out"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
	FullEvents  uint64 `json:"full_events"`
	EmptyEvents uint64 `json:"empty_events"`
	Sleeps      uint64 `json:"sleeps"`
	Wakes       uint64 `json:"wakes"`
}

// inspectSubscriber is one occupied subscriber entry of a broadcast ring
// (ring.SubscriberStats).
type inspectSubscriber struct {
	Index      int    `json:"index"`
	Offset     int64  `json:"offset"`
	FileOffset int64  `json:"file_offset"`
	PID        int    `json:"pid"`
	Alive      bool   `json:"alive"`
	Lossy      bool   `json:"lossy"`
	Cursor     uint64 `json:"cursor"`
	Lag        uint64 `json:"lag"`
	Delivered  uint64 `json:"delivered"`
	Bytes      uint64 `json:"bytes"`
	Lapped     uint64 `json:"lapped"`
	Missed     uint64 `json:"missed"`
}

// inspectSlot is one slot header (ring.SlotHeader) and the start of its
// payload: Preview as text when printable, else hex (PreviewFormat).
type inspectSlot struct {
	Pos           uint64 `json:"pos"`
	At            string `json:"at"` // the position relative to the consumer or producer: "cons-1", "prod-2"
	Index         int    `json:"index"`
	Offset        int64  `json:"offset"`
	FileOffset    int64  `json:"file_offset"`
	Seq           uint64 `json:"seq"`
	Len           uint32 `json:"len"`
	Owner         uint32 `json:"owner"`   // MPMC: the claim tag
	Writing       bool   `json:"writing"` // broadcast: the seqlock's writing bit
	Preview       string `json:"preview"`
	PreviewFormat string `json:"preview_format"`
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("inspect", "ARENA [REGION] [--slots[=N]] [--json]", inspectDescription, stderr)
	asJSON := flags.Bool("json", false, "print the report as one JSON object")
	var slots inspectSlotsFlag
	flags.Var(&slots, "slots", fmt.Sprintf("with a ring REGION, dump the slot headers of `N` positions around the consumer and before the producer (--slots alone: %d)", inspectSlotsDefault))
	// --slots 16 as well as --slots=16 (a REGION named like a number
	// goes before the flag, or after --).
	args = joinValue(args, "slots", func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n > 0 })
	pos, err := parseArgs(flags, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageError(flags, "missing ARENA")
	case len(pos) > 2:
		return usageError(flags, "unexpected argument %q", pos[2])
	case slots.n > 0 && len(pos) < 2:
		return usageError(flags, "--slots needs a ring REGION")
	}
	a, err := openReadOnly(pos[0])
	if err != nil {
		return err
	}
	defer a.Close()
	region := ""
	if len(pos) == 2 {
		region = pos[1]
	}
	rep, err := gatherInspect(a, region, slots.n)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	writeInspectText(stdout, &rep)
	return nil
}

// gatherInspect builds the report of arena a, or with region of that
// region (slots: the --slots window, 0 for none).
func gatherInspect(a *arena.Arena, region string, slots int) (inspectReport, error) {
	major, minor := a.Version()
	rep := inspectReport{Arena: a.Path(), Size: a.Size(), Version: fmt.Sprintf("%d.%d", major, minor)}
	entries, err := inspectDirectory(a)
	if err != nil {
		return rep, err
	}
	if region == "" {
		hf, err := a.Header()
		if err != nil {
			return rep, err
		}
		rep.Header = inspectFields(hf, 0)
		rep.Directory = entries
		return rep, nil
	}
	for i := range entries {
		if entries[i].Name == region {
			rep.Region = &entries[i]
		}
	}
	if rep.Region == nil {
		// Lookup says why: no such region, or a name no region can have.
		if _, err := a.Lookup(region); err != nil {
			return rep, err
		}
		return rep, fmt.Errorf("region %q: not in the directory", region)
	}
	kind := arena.Kind(rep.Region.Kind)
	if !isRingKind(kind) {
		rep.Note = fmt.Sprintf("region %q is not a ring (kind %s): nothing more to show", region, rep.Region.KindName)
		return rep, nil
	}
	v, err := ring.OpenView(a, region)
	if err != nil {
		return rep, err
	}
	defer v.Close()
	r := inspectRingView(v, slots)
	rep.Ring = &r
	return rep, nil
}

// inspectDirectory pairs the directory's fields with the regions they
// describe.
func inspectDirectory(a *arena.Arena) ([]inspectEntry, error) {
	regs, err := a.Regions()
	if err != nil {
		return nil, err
	}
	dir, err := a.Directory()
	if err != nil {
		return nil, err
	}
	n := min(len(regs), len(dir)) // an allocation between the two calls adds one to one of them
	out := make([]inspectEntry, 0, n)
	for i := 0; i < n; i++ {
		r := regs[i]
		out = append(out, inspectEntry{
			Index: dir[i].Index, Offset: dir[i].Offset,
			Name: r.Name(), RegionOffset: r.Offset(), Size: r.Size(), Align: r.Align(),
			Kind: uint32(r.Kind()), KindName: kindName(r.Kind()),
			CreatorPID: r.CreatorPID(), Created: inspectTime(r.Created()),
			Fields: inspectFields(dir[i].Fields, 0),
		})
	}
	return out, nil
}

// inspectFields converts arena fields (file offsets; base 0) to the
// report's form.
func inspectFields(fs []arena.Field, base int64) []inspectField {
	out := make([]inspectField, len(fs))
	for i, f := range fs {
		out[i] = inspectField{Name: f.Name, Offset: f.Offset - base, FileOffset: f.Offset, Size: f.Size, Value: f.Value, Text: f.Text}
	}
	return out
}

// inspectTime renders a time for the report: RFC 3339 in UTC, "" for the
// zero Unix time (a field never written).
func inspectTime(t time.Time) string {
	if t.UnixNano() == 0 || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// inspectRingView reads everything inspect shows of the ring v.
func inspectRingView(v *ring.View, slots int) inspectRing {
	base := v.Offset()
	cfg := v.Config()
	r := inspectRing{
		Name: v.Name(), Kind: v.KindName(), Offset: base,
		Slots: cfg.Slots, SlotSize: cfg.SlotSize, Peers: cfg.Peers, Subscribers: cfg.Subscribers,
	}
	for _, f := range v.Header() {
		r.Header = append(r.Header, inspectField{Name: f.Name, Offset: f.Offset, FileOffset: base + f.Offset, Size: f.Size, Value: f.Value, Text: f.Text})
	}
	p := v.Positions()
	r.Positions = inspectPositions{
		ProducerWord: p.ProducerWord, ConsumerWord: p.ConsumerWord,
		Producer: p.Producer, Consumer: p.Consumer,
		ProducerEpoch: p.ProducerEpoch, ConsumerEpoch: p.ConsumerEpoch,
		Closed: p.Closed, ClosedMirror: p.ClosedMirror,
		NotEmptySeq: p.NotEmptySeq, NotEmptyWaiters: p.NotEmptyWaiters,
		NotFullSeq: p.NotFullSeq, NotFullWaiters: p.NotFullWaiters,
	}
	switch {
	case v.Kind() == ring.KindRecords:
		r.Positions.Len = v.RecordUsage().Used // bytes, modulo the ring's position modulus
	case v.Kind() != ring.KindBroadcast && p.Producer >= p.Consumer:
		r.Positions.Len = p.Producer - p.Consumer
	}
	r.PeerTable = []inspectPeer{}
	for _, pe := range v.Peers() {
		off := v.PeerOffset(pe.Index)
		r.PeerTable = append(r.PeerTable, inspectPeer{
			Index: pe.Index, Offset: off, FileOffset: base + off, PID: pe.PID,
			Roles: pe.Roles.String(), RoleBits: uint32(pe.Roles), Alive: pe.Alive, Locked: pe.Locked,
			Attached: inspectTime(pe.Attached), LastActive: inspectTime(pe.LastActive), Generation: pe.Generation,
			MsgsIn: pe.MsgsIn, MsgsOut: pe.MsgsOut, BytesIn: pe.BytesIn, BytesOut: pe.BytesOut,
			FullEvents: pe.FullEvents, EmptyEvents: pe.EmptyEvents, Sleeps: pe.Sleeps, Wakes: pe.Wakes,
		})
	}
	subs := v.Subscribers()
	for _, s := range subs {
		off := v.PeerOffset(s.Index)
		r.SubTable = append(r.SubTable, inspectSubscriber{
			Index: s.Index, Offset: off, FileOffset: base + off, PID: s.PID, Alive: s.Alive, Lossy: s.Lossy,
			Cursor: s.Cursor, Lag: s.Lag, Delivered: s.Delivered, Bytes: s.Bytes, Lapped: s.Lapped, Missed: s.Missed,
		})
	}
	if v.Kind() == ring.KindRecords {
		inspectRecords(v, &r, slots)
		return r
	}
	if slots > 0 {
		cons := p.Consumer
		if v.Kind() == ring.KindBroadcast {
			// No consumer word: the slowest subscriber's cursor, or the
			// oldest position the ring still holds.
			cons = p.Producer - min(p.Producer, uint64(cfg.Slots))
			for i, s := range subs {
				if i == 0 || s.Cursor < cons {
					cons = s.Cursor
				}
			}
		}
		r.SlotHeaders = inspectSlots(v, cons, p.Producer, slots)
	}
	return r
}

// inspectRecords fills in a record ring's capacity, usage and (slots > 0)
// its first slots records from the consumer position.
func inspectRecords(v *ring.View, r *inspectRing, slots int) {
	u := v.RecordUsage()
	r.Usage = &recordsReport{
		Capacity: u.Capacity, Used: u.Used, Mirrored: u.Mirrored, MaxRecord: u.MaxRecord,
		Committed: u.Messages, Busy: u.Busy, Skip: u.Skip, Padding: u.Padding,
		Largest: u.Largest, Complete: u.Complete,
	}
	if slots <= 0 {
		return
	}
	base, cons := v.Offset(), v.Positions().Consumer
	r.Records = []inspectRecord{}
	var buf [inspectPreviewLen]byte
	for _, h := range v.Records(slots) {
		rec := inspectRecord{
			Pos: h.Pos, At: fmt.Sprintf("cons+%d", h.Pos-cons), Offset: h.Offset, FileOffset: base + h.Offset,
			Size: h.Size, State: h.State.String(), Lap: h.Lap, Len: h.Len, Owner: h.Owner, Entry: h.Entry, OwnerGone: h.OwnerGone,
		}
		if h.State == ring.RecordMessage {
			if _, n, err := v.ReadRecord(h.Pos, buf[:]); err == nil {
				rec.Preview, rec.PreviewFormat = inspectPreview(buf[:n])
			}
		}
		r.Records = append(r.Records, rec)
	}
}

// inspectSlotWindows lists the positions a slot dump covers, ascending and
// without repeats: the n before and after the consumer position cons and
// the n before the producer position prod (n capped at the slot count).
func inspectSlotWindows(cons, prod uint64, n, slots int) []uint64 {
	w := uint64(min(n, slots))
	seen := map[uint64]bool{}
	var out []uint64
	add := func(from, to uint64) { // [from, to)
		for p := from; p < to; p++ {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	add(cons-min(cons, w), cons+w)
	add(prod-min(prod, w), prod)
	for i := 1; i < len(out); i++ { // insertion sort: at most 3 windows of sorted runs
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// inspectSlotLabel places pos relative to the consumer and producer positions.
func inspectSlotLabel(pos, cons, prod uint64) string {
	rel := func(name string, d int64) string {
		switch {
		case d == 0:
			return name
		case d > 0:
			return fmt.Sprintf("%s+%d", name, d)
		}
		return fmt.Sprintf("%s%d", name, d)
	}
	switch {
	case pos < cons:
		return rel("cons", -int64(cons-pos))
	case pos >= prod:
		return rel("prod", int64(pos-prod))
	case pos-cons <= prod-1-pos:
		return rel("cons", int64(pos-cons))
	}
	return rel("prod", -int64(prod-pos))
}

// inspectSlots reads the slot headers of the dump's windows.
func inspectSlots(v *ring.View, cons, prod uint64, n int) []inspectSlot {
	base := v.Offset()
	var out []inspectSlot
	var buf [inspectPreviewLen]byte
	for _, pos := range inspectSlotWindows(cons, prod, n, v.Config().Slots) {
		hs := v.Slots(pos, 1)
		if len(hs) == 0 {
			continue
		}
		h := hs[0]
		s := inspectSlot{
			Pos: pos, At: inspectSlotLabel(pos, cons, prod), Index: h.Index, Offset: h.Offset, FileOffset: base + h.Offset,
			Seq: h.Seq, Len: h.Len, Owner: h.Owner,
		}
		if v.Kind() == ring.KindBroadcast {
			s.Writing = h.Seq&(1<<63) != 0 // bcastWriting (docs/ring.md, broadcast slot Seq)
		}
		k := v.Payload(pos, buf[:])
		s.Preview, s.PreviewFormat = inspectPreview(buf[:k])
		out = append(out, s)
	}
	return out
}

// inspectPreview renders payload bytes: quoted text when printable, hex
// otherwise.
func inspectPreview(b []byte) (string, string) {
	if printable(b) {
		return strconv.Quote(string(b)), "text"
	}
	return fmt.Sprintf("%x", b), "hex"
}

// inspectOffset renders a file offset in hex and decimal.
func inspectOffset(off int64) string { return fmt.Sprintf("%#x\t%d", off, off) }

func writeInspectText(w io.Writer, rep *inspectReport) {
	fmt.Fprintf(w, "arena %s: %d bytes, layout %s\n", rep.Arena, rep.Size, rep.Version)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	defer tw.Flush()
	fields := func(fs []inspectField, ring bool) {
		if ring {
			fmt.Fprintln(tw, "  RING\tFILE\t\tSIZE\tFIELD\tVALUE")
		} else {
			fmt.Fprintln(tw, "  OFFSET\t\tSIZE\tFIELD\tVALUE")
		}
		for _, f := range fs {
			if ring {
				fmt.Fprintf(tw, "  +%d\t%s\t%d\t%s\t%s\n", f.Offset, inspectOffset(f.FileOffset), f.Size, f.Name, f.Text)
			} else {
				fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", inspectOffset(f.FileOffset), f.Size, f.Name, f.Text)
			}
		}
	}
	entry := func(e *inspectEntry) {
		fmt.Fprintf(tw, "\ndirectory entry %d at %#x (%d): %q, %s, [%d,+%d) align %d, created by pid %d at %s\n",
			e.Index, e.Offset, e.Offset, e.Name, e.KindName, e.RegionOffset, e.Size, e.Align, e.CreatorPID, e.Created)
		fields(e.Fields, false)
	}
	if rep.Header != nil {
		fmt.Fprintf(tw, "\nheader at 0 (%d bytes, docs/layout.md)\n", arena.HeaderSize)
		fields(rep.Header, false)
		fmt.Fprintf(tw, "\ndirectory: %d entries at %d, %d bytes each\n", len(rep.Directory), arena.HeaderSize, arena.DirEntrySize)
		for i := range rep.Directory {
			entry(&rep.Directory[i])
		}
	}
	if rep.Region != nil {
		entry(rep.Region)
	}
	if rep.Note != "" {
		fmt.Fprintf(tw, "\n%s\n", rep.Note)
	}
	if r := rep.Ring; r != nil {
		if u := r.Usage; u != nil {
			mirrored := "not mirrored: padding records at the wrap"
			if u.Mirrored {
				mirrored = "mirrored: the data area mapped twice"
			}
			fmt.Fprintf(tw, "\nring %q: %s, %d bytes of records up to %d bytes (%s), %d peer entries", r.Name, r.Kind, u.Capacity, u.MaxRecord, mirrored, r.Peers)
		} else {
			fmt.Fprintf(tw, "\nring %q: %s, %d slots of %d bytes, %d peer entries", r.Name, r.Kind, r.Slots, r.SlotSize, r.Peers)
		}
		if r.Subscribers > 0 {
			fmt.Fprintf(tw, " and %d subscriber entries", r.Subscribers)
		}
		fmt.Fprintf(tw, ", at file offset %#x (%d); offsets below are from the ring (+N) and from the file\n", r.Offset, r.Offset)
		fmt.Fprintf(tw, "\nring header and units (docs/ring.md)\n")
		fields(r.Header, true)
		inspectWritePositions(tw, r)
		inspectWritePeers(tw, r)
		if r.SlotHeaders != nil {
			inspectWriteSlots(tw, r)
		}
		if r.Records != nil {
			inspectWriteRecords(tw, r)
		}
	}
}

func inspectWritePositions(tw io.Writer, r *inspectRing) {
	p := r.Positions
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(tw, "\npositions\n")
	fmt.Fprintf(tw, "  producer\t%d\tword %#x, epoch %d\n", p.Producer, p.ProducerWord, p.ProducerEpoch)
	if r.Kind == "broadcast" {
		fmt.Fprintf(tw, "  consumer\t-\tword %#x (unused: each subscriber has its cursor)\n", p.ConsumerWord)
	} else {
		fmt.Fprintf(tw, "  consumer\t%d\tword %#x, epoch %d\n", p.Consumer, p.ConsumerWord, p.ConsumerEpoch)
		if u := r.Usage; u != nil {
			partial := ""
			if !u.Complete {
				partial = ", walk incomplete"
			}
			fmt.Fprintf(tw, "  used\t%d\tof %d bytes (claim - consumer)\n", u.Used, u.Capacity)
			fmt.Fprintf(tw, "  records\t%d\tcommitted; %d busy, %d skip, %d padding; largest in flight %d bytes%s\n", u.Committed, u.Busy, u.Skip, u.Padding, u.Largest, partial)
		} else {
			fmt.Fprintf(tw, "  len\t%d\t\n", p.Len)
		}
	}
	fmt.Fprintf(tw, "  closed\t%s\tmirror %s\n", yes(p.Closed), yes(p.ClosedMirror))
	fmt.Fprintf(tw, "  not-empty\tseq %d\t%d waiters\n", p.NotEmptySeq, p.NotEmptyWaiters)
	fmt.Fprintf(tw, "  not-full\tseq %d\t%d waiters\n", p.NotFullSeq, p.NotFullWaiters)
}

func inspectWritePeers(tw io.Writer, r *inspectRing) {
	fmt.Fprintf(tw, "\npeer table: %d of %d entries occupied (entry 0, shared by handles that found no free one, not listed)\n", len(r.PeerTable), r.Peers+r.Subscribers)
	if len(r.PeerTable) > 0 {
		fmt.Fprintln(tw, "  INDEX\tRING\tFILE\t\tPID\tROLES\tALIVE\tATTACHED\tLAST ACTIVE\tGEN\tMSGS IN\tMSGS OUT\tBYTES IN\tBYTES OUT\tFULL\tEMPTY\tSLEEPS\tWAKES")
	}
	for _, p := range r.PeerTable {
		alive := "dead"
		if p.Alive {
			alive = "alive"
		}
		fmt.Fprintf(tw, "  %d\t+%d\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n",
			p.Index, p.Offset, inspectOffset(p.FileOffset), p.PID, p.Roles, alive, inspectDash(p.Attached), inspectDash(p.LastActive),
			p.Generation, p.MsgsIn, p.MsgsOut, p.BytesIn, p.BytesOut, p.FullEvents, p.EmptyEvents, p.Sleeps, p.Wakes)
	}
	if len(r.SubTable) > 0 {
		fmt.Fprintf(tw, "\nsubscribers\n")
		fmt.Fprintln(tw, "  INDEX\tRING\tFILE\t\tPID\tALIVE\tLOSSY\tCURSOR\tLAG\tDELIVERED\tBYTES\tLAPPED\tMISSED")
		for _, s := range r.SubTable {
			fmt.Fprintf(tw, "  %d\t+%d\t%s\t%d\t%t\t%t\t%d\t%d\t%d\t%d\t%d\t%d\n",
				s.Index, s.Offset, inspectOffset(s.FileOffset), s.PID, s.Alive, s.Lossy, s.Cursor, s.Lag, s.Delivered, s.Bytes, s.Lapped, s.Missed)
		}
	}
}

func inspectWriteSlots(tw io.Writer, r *inspectRing) {
	fmt.Fprintf(tw, "\nslot headers\n")
	extra := ""
	switch r.Kind {
	case "mpmc":
		extra = "\tOWNER"
	case "broadcast":
		extra = "\tWRITING"
	}
	fmt.Fprintf(tw, "  POS\tAT\tSLOT\tRING\tFILE\t\tSEQ\tLEN%s\tPAYLOAD\n", extra)
	for _, s := range r.SlotHeaders {
		col := ""
		switch r.Kind {
		case "mpmc":
			col = fmt.Sprintf("\t%#x", s.Owner)
		case "broadcast":
			col = fmt.Sprintf("\t%t", s.Writing)
		}
		pv := s.Preview
		if s.PreviewFormat == "hex" && pv != "" {
			pv = "hex " + pv
		}
		fmt.Fprintf(tw, "  %d\t%s\t%d\t+%d\t%s\t%#x\t%d%s\t%s\n", s.Pos, s.At, s.Index, s.Offset, inspectOffset(s.FileOffset), s.Seq, s.Len, col, pv)
	}
}

func inspectWriteRecords(tw io.Writer, r *inspectRing) {
	fmt.Fprintf(tw, "\nrecords from the consumer position\n")
	fmt.Fprintf(tw, "  POS\tAT\tRING\tFILE\t\tSIZE\tSTATE\tLAP\tLEN\tOWNER\tENTRY\tPAYLOAD\n")
	for _, s := range r.Records {
		pv := s.Preview
		if s.PreviewFormat == "hex" && pv != "" {
			pv = "hex " + pv
		}
		state := s.State
		if s.OwnerGone {
			state += " (owner gone)"
		}
		fmt.Fprintf(tw, "  %d\t%s\t+%d\t%s\t%d\t%s\t%d\t%d\t%#x\t%d\t%s\n", s.Pos, s.At, s.Offset, inspectOffset(s.FileOffset), s.Size, state, s.Lap, s.Len, s.Owner, s.Entry, pv)
	}
}

func inspectDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
