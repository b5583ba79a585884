package arena

import (
	"bufio"
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
// struct in backquotes) must list exactly the code's fields at the code's
// offsets, and every 8-byte field must be 8-byte aligned.
func TestLayoutOffsets(t *testing.T) {
	want := fieldOffsets()
	f, err := os.Open("../docs/layout.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	heading := regexp.MustCompile("^#+ .*`(header|dirEntry)`")
	row := regexp.MustCompile(`^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*` + "`?" + `([A-Za-z]+)` + "`?" + `\s*\|`)
	got := map[string]map[string][2]uintptr{}
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := heading.FindStringSubmatch(line); m != nil {
			cur = m[1]
			got[cur] = map[string][2]uintptr{}
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
			if m[3] == "reserved" {
				continue
			}
			got[cur][m[3]] = [2]uintptr{uintptr(off), uintptr(size)}
		}
	}
	for rec, fields := range want {
		if got[rec] == nil {
			t.Errorf("docs/layout.md has no table for `%s`", rec)
			continue
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
	}
	if unsafe.Sizeof(header{}) != HeaderSize || unsafe.Sizeof(dirEntry{}) != DirEntrySize {
		t.Fatal("record sizes changed")
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
