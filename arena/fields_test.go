package arena

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// TestFieldTables pins the field tables Header, Directory and Check use to
// the structs: every named row at the struct field's unsafe.Offsetof and
// Sizeof (fieldOffsets, which TestLayoutOffsets pins to docs/layout.md),
// every struct field listed, and the rows, reserved ones included, tiling
// the record from 0 to its size.
func TestFieldTables(t *testing.T) {
	want := fieldOffsets()
	for _, tc := range []struct {
		rec   string
		table []fieldDesc
		size  uintptr
	}{{"header", headerFields, unsafe.Sizeof(header{})}, {"dirEntry", entryFields, unsafe.Sizeof(dirEntry{})}} {
		seen := map[string]bool{}
		var end uintptr
		for _, d := range tc.table {
			if d.off != end {
				t.Errorf("%s: row %s at %d, previous row ends at %d", tc.rec, d.name, d.off, end)
			}
			end = d.off + d.size
			if d.name == "reserved" {
				continue
			}
			w, ok := want[tc.rec][d.name]
			if !ok {
				t.Errorf("%s: row %s names no field of the struct", tc.rec, d.name)
				continue
			}
			if w != [2]uintptr{d.off, d.size} {
				t.Errorf("%s.%s: table has offset %d size %d, struct %d %d", tc.rec, d.name, d.off, d.size, w[0], w[1])
			}
			seen[d.name] = true
		}
		if end != tc.size {
			t.Errorf("%s: rows end at %d, record is %d bytes", tc.rec, end, tc.size)
		}
		for name := range want[tc.rec] {
			if !seen[name] {
				t.Errorf("%s.%s missing from the table", tc.rec, name)
			}
		}
	}
	// Every rule reports at a field the table has.
	has := func(table []fieldDesc, name string) bool {
		for _, d := range table {
			if d.name == name {
				return true
			}
		}
		return false
	}
	for _, r := range headerRules {
		if !has(headerFields, r.field) {
			t.Errorf("header rule field %q not in the table", r.field)
		}
	}
	for _, r := range entryRules {
		if !has(entryFields, r.field) {
			t.Errorf("entry rule field %q not in the table", r.field)
		}
	}
}

// TestHeaderAndDirectory: Header and Directory read the fields of a real
// arena at the right offsets: each integer field's Value is the
// little-endian integer at its Offset in the file, and the values are the
// arena's.
func TestHeaderAndDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fields")
	a, err := Create(p, 64<<10, WithDirCapacity(4), WithPadUnit(128))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Alloc("first", 100, 64); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AllocKind("second", Kind(0x43535053), 4096, 4096); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := Open(p, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	hf, err := ro.Header()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := ro.Directory()
	if err != nil {
		t.Fatal(err)
	}
	checkValues := func(fields []Field) map[string]Field {
		t.Helper()
		byName := map[string]Field{}
		for _, f := range fields {
			b := file[f.Offset : f.Offset+int64(f.Size)]
			var v uint64
			switch f.Size {
			case 2:
				v = uint64(binary.LittleEndian.Uint16(b))
			case 4:
				v = uint64(binary.LittleEndian.Uint32(b))
			case 8:
				if f.Name != "Magic" {
					v = binary.LittleEndian.Uint64(b)
				}
			}
			if f.Value != v {
				t.Errorf("%s at %d: Value %d, file has %d", f.Name, f.Offset, f.Value, v)
			}
			if f.Text == "" {
				t.Errorf("%s: no Text", f.Name)
			}
			if f.Name != "reserved" {
				byName[f.Name] = f
			} else if f.Text != "zero" {
				t.Errorf("reserved at %d: %s", f.Offset, f.Text)
			}
		}
		return byName
	}
	h := checkValues(hf)
	for name, want := range map[string]uint64{
		"TotalSize": uint64(a.Size()), "DataOffset": uint64(a.DataOffset()), "DirCapacity": 4, "DirCount": 2,
		"PadUnit": 128, "VersionMajor": VersionMajor, "CreatorPID": uint64(os.Getpid()), "State": stateReady,
		"DirGeneration": 2,
	} {
		if h[name].Value != want {
			t.Errorf("header %s = %d, want %d", name, h[name].Value, want)
		}
	}
	if h["Magic"].Text != `"SHMRING\x00"` || !strings.Contains(h["State"].Text, "ready") || h["ByteOrder"].Text != "0x1020304" {
		t.Errorf("texts: Magic %s, State %s, ByteOrder %s", h["Magic"].Text, h["State"].Text, h["ByteOrder"].Text)
	}
	regs, _ := ro.Regions()
	if len(dir) != 2 || len(regs) != 2 {
		t.Fatalf("%d entries, %d regions", len(dir), len(regs))
	}
	for i, d := range dir {
		if d.Index != i || d.Offset != HeaderSize+int64(i)*DirEntrySize {
			t.Errorf("entry %d: index %d offset %d", i, d.Index, d.Offset)
		}
		e := checkValues(d.Fields)
		if e["Name"].Text != `"`+regs[i].Name()+`"` || int64(e["Offset"].Value) != regs[i].Offset() || int64(e["Size"].Value) != regs[i].Size() {
			t.Errorf("entry %d: %+v, region %s at %d", i, e, regs[i].Name(), regs[i].Offset())
		}
	}
	if k := checkValues(dir[1].Fields)["Kind"].Text; k != "0x43535053 (SPSC)" {
		t.Errorf("kind text %q", k)
	}
	if k := checkValues(dir[0].Fields)["Kind"].Text; k != "0 (raw)" {
		t.Errorf("kind text %q", k)
	}
	ro.Close()
	if _, err := ro.Header(); err == nil {
		t.Error("Header after Close: no error")
	}
	if _, err := ro.Directory(); err == nil {
		t.Error("Directory after Close: no error")
	}
}
