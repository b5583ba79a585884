package arena

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// fieldOffsets lists every named field of the shared records with its
// offset and size as the code has them.
func fieldOffsets() map[string]map[string][2]uintptr {
	var h header
	var e dirEntry
	return map[string]map[string][2]uintptr{
		"header": {
			"Magic":            {unsafe.Offsetof(h.Magic), unsafe.Sizeof(h.Magic)},
			"VersionMajor":     {unsafe.Offsetof(h.VersionMajor), unsafe.Sizeof(h.VersionMajor)},
			"VersionMinor":     {unsafe.Offsetof(h.VersionMinor), unsafe.Sizeof(h.VersionMinor)},
			"ByteOrder":        {unsafe.Offsetof(h.ByteOrder), unsafe.Sizeof(h.ByteOrder)},
			"IncompatFeatures": {unsafe.Offsetof(h.IncompatFeatures), unsafe.Sizeof(h.IncompatFeatures)},
			"CompatFeatures":   {unsafe.Offsetof(h.CompatFeatures), unsafe.Sizeof(h.CompatFeatures)},
			"TotalSize":        {unsafe.Offsetof(h.TotalSize), unsafe.Sizeof(h.TotalSize)},
			"PageSize":         {unsafe.Offsetof(h.PageSize), unsafe.Sizeof(h.PageSize)},
			"PadUnit":          {unsafe.Offsetof(h.PadUnit), unsafe.Sizeof(h.PadUnit)},
			"HeaderSize":       {unsafe.Offsetof(h.HeaderSize), unsafe.Sizeof(h.HeaderSize)},
			"DirEntrySize":     {unsafe.Offsetof(h.DirEntrySize), unsafe.Sizeof(h.DirEntrySize)},
			"DirOffset":        {unsafe.Offsetof(h.DirOffset), unsafe.Sizeof(h.DirOffset)},
			"DirCapacity":      {unsafe.Offsetof(h.DirCapacity), unsafe.Sizeof(h.DirCapacity)},
			"CreatorPID":       {unsafe.Offsetof(h.CreatorPID), unsafe.Sizeof(h.CreatorPID)},
			"CreatedUnixNano":  {unsafe.Offsetof(h.CreatedUnixNano), unsafe.Sizeof(h.CreatedUnixNano)},
			"DataOffset":       {unsafe.Offsetof(h.DataOffset), unsafe.Sizeof(h.DataOffset)},
			"RoCompatFeatures": {unsafe.Offsetof(h.RoCompatFeatures), unsafe.Sizeof(h.RoCompatFeatures)},
			"Checksum":         {unsafe.Offsetof(h.Checksum), unsafe.Sizeof(h.Checksum)},
			"State":            {unsafe.Offsetof(h.State), unsafe.Sizeof(h.State)},
			"DirCount":         {unsafe.Offsetof(h.DirCount), unsafe.Sizeof(h.DirCount)},
			"AllocNext":        {unsafe.Offsetof(h.AllocNext), unsafe.Sizeof(h.AllocNext)},
			"DirGeneration":    {unsafe.Offsetof(h.DirGeneration), unsafe.Sizeof(h.DirGeneration)},
		},
		"dirEntry": {
			"Name":            {unsafe.Offsetof(e.Name), unsafe.Sizeof(e.Name)},
			"Offset":          {unsafe.Offsetof(e.Offset), unsafe.Sizeof(e.Offset)},
			"Size":            {unsafe.Offsetof(e.Size), unsafe.Sizeof(e.Size)},
			"Align":           {unsafe.Offsetof(e.Align), unsafe.Sizeof(e.Align)},
			"Kind":            {unsafe.Offsetof(e.Kind), unsafe.Sizeof(e.Kind)},
			"Flags":           {unsafe.Offsetof(e.Flags), unsafe.Sizeof(e.Flags)},
			"CreatorPID":      {unsafe.Offsetof(e.CreatorPID), unsafe.Sizeof(e.CreatorPID)},
			"CreatedUnixNano": {unsafe.Offsetof(e.CreatedUnixNano), unsafe.Sizeof(e.CreatedUnixNano)},
			"Checksum":        {unsafe.Offsetof(e.Checksum), unsafe.Sizeof(e.Checksum)},
			"State":           {unsafe.Offsetof(e.State), unsafe.Sizeof(e.State)},
		},
	}
}

// TestLayoutOffsets pins every field to docs/layout.md: the doc's tables
// (rows "| offset | size | Field | ...", under a heading that names the Go
// struct in backquotes and its size) must list exactly the code's fields at
// the code's offsets, every 8-byte field must be 8-byte aligned, and the
// rows, reserved ones included, must tile each record from 0 to its size
// with no gap or overlap.
func TestLayoutOffsets(t *testing.T) {
	want := fieldOffsets()
	sizes := map[string]uintptr{"header": HeaderSize, "dirEntry": DirEntrySize}
	doc, err := os.ReadFile("../docs/layout.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("^#+ .*`(header|dirEntry)`")
	row := regexp.MustCompile(`^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*` + "`?" + `([A-Za-z]+)` + "`?" + `\s*\|`)
	got := map[string]map[string][2]uintptr{}
	rows := map[string][][2]uintptr{} // every row in document order, reserved included
	headings := map[string]string{}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		if m := heading.FindStringSubmatch(line); m != nil {
			cur = m[1]
			got[cur] = map[string][2]uintptr{}
			headings[cur] = line
			continue
		}
		if strings.HasPrefix(line, "#") {
			cur = ""
			continue
		}
		if cur == "" {
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil {
			off, _ := strconv.Atoi(m[1])
			size, _ := strconv.Atoi(m[2])
			rows[cur] = append(rows[cur], [2]uintptr{uintptr(off), uintptr(size)})
			if m[3] == "reserved" {
				continue
			}
			if _, dup := got[cur][m[3]]; dup {
				t.Errorf("docs/layout.md lists %s.%s twice", cur, m[3])
			}
			got[cur][m[3]] = [2]uintptr{uintptr(off), uintptr(size)}
		}
	}
	for rec, fields := range want {
		if got[rec] == nil {
			t.Errorf("docs/layout.md has no table for `%s`", rec)
			continue
		}
		if w := fmt.Sprintf("%d bytes", sizes[rec]); !strings.Contains(headings[rec], w) {
			t.Errorf("docs/layout.md: heading %q does not say %q", headings[rec], w)
		}
		for name, os := range fields {
			if os[1] == 8 && os[0]%8 != 0 {
				t.Errorf("%s.%s: 8-byte field at unaligned offset %d", rec, name, os[0])
			}
			d, ok := got[rec][name]
			if !ok {
				t.Errorf("docs/layout.md: %s.%s missing", rec, name)
				continue
			}
			if d != os {
				t.Errorf("%s.%s: code has offset %d size %d, docs/layout.md says offset %d size %d", rec, name, os[0], os[1], d[0], d[1])
			}
		}
		for name := range got[rec] {
			if _, ok := fields[name]; !ok {
				t.Errorf("docs/layout.md lists %s.%s, which the code does not have", rec, name)
			}
		}
		// The rows, in document order, must tile [0, size).
		var end uintptr
		for _, r := range rows[rec] {
			if r[0] != end {
				t.Errorf("docs/layout.md: %s row at offset %d, but the previous row ends at %d (gap or overlap)", rec, r[0], end)
			}
			if r[1] == 0 {
				t.Errorf("docs/layout.md: %s row at offset %d has size 0", rec, r[0])
			}
			end = r[0] + r[1]
		}
		if end != sizes[rec] {
			t.Errorf("docs/layout.md: %s rows end at %d, the record is %d bytes", rec, end, sizes[rec])
		}
	}
	// The constants a reader in another language needs.
	for _, c := range []string{
		fmt.Sprintf("0x%08X", stateReady),
		fmt.Sprintf("0x%08X", byteOrderMark),
		fmt.Sprintf("0x%08X", crc32cCheck),
		fmt.Sprintf("%d", HeaderSize),
		fmt.Sprintf("%d", DirEntrySize),
	} {
		if !bytes.Contains(doc, []byte(c)) {
			t.Errorf("docs/layout.md does not mention %s", c)
		}
	}
	if unsafe.Sizeof(header{}) != HeaderSize || unsafe.Sizeof(dirEntry{}) != DirEntrySize {
		t.Fatal("record sizes changed")
	}
}

// crc32cCheck is the standard check value of CRC-32C: the checksum of the
// nine ASCII bytes "123456789", given in docs/layout.md.
const crc32cCheck uint32 = 0xE3069283

func TestChecksumCheckValue(t *testing.T) {
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != crc32cCheck {
		t.Fatalf("CRC-32C(\"123456789\") = %#08x, want %#08x", got, crc32cCheck)
	}
}

func TestResolve(t *testing.T) {
	long := strings.Repeat("a", 256)
	tests := []struct {
		name, want string
		bad        bool
	}{
		{name: "orders", want: "/dev/shm/orders"},
		{name: "/tmp/x/orders", want: "/tmp/x/orders"},
		{name: "./rel/arena", want: "./rel/arena"},
		{name: "", bad: true},
		{name: "..", bad: true},
		{name: ".", bad: true},
		{name: "a..b", bad: true},
		{name: "/tmp/../etc/passwd", bad: true},
		{name: "a\x00b", bad: true},
		{name: long, bad: true},
		{name: "/tmp/" + long, bad: true},
		{name: "/tmp/dir/", bad: true},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.name)
		if tt.bad {
			if err == nil {
				t.Errorf("Resolve(%q) = %q, want ErrBadName", tt.name, got)
			} else if !errorsIs(err, ErrBadName) {
				t.Errorf("Resolve(%q): %v, want ErrBadName", tt.name, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}
