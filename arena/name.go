package arena

import (
	"fmt"
	"path/filepath"
	"strings"
)

const (
	// ShmDir is where a bare arena name lives.
	ShmDir = "/dev/shm"
	// nameMax is NAME_MAX: the longest path element.
	nameMax = 255
	// pathMax is PATH_MAX.
	pathMax = 4096
)

// Resolve maps an arena name to the path it is created at: a bare name such
// as "orders" means /dev/shm/orders; a name containing a slash is a path used
// as given. Names that are empty, contain NUL, have a ".." element, or have
// an element longer than NAME_MAX are refused with ErrBadName.
func Resolve(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrBadName)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: %q contains NUL", ErrBadName, name)
	}
	if len(name) >= pathMax {
		return "", fmt.Errorf("%w: longer than PATH_MAX", ErrBadName)
	}
	if !strings.Contains(name, "/") {
		if name == "." || strings.Contains(name, "..") {
			return "", fmt.Errorf("%w: %q", ErrBadName, name)
		}
		if len(name) > nameMax {
			return "", fmt.Errorf("%w: longer than NAME_MAX (%d)", ErrBadName, nameMax)
		}
		return filepath.Join(ShmDir, name), nil
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: %q has a \"..\" element", ErrBadName, name)
		}
		if len(el) > nameMax {
			return "", fmt.Errorf("%w: element longer than NAME_MAX (%d)", ErrBadName, nameMax)
		}
	}
	if strings.HasSuffix(name, "/") {
		return "", fmt.Errorf("%w: %q names a directory", ErrBadName, name)
	}
	return name, nil
}

// checkRegionName validates the name of a new region: one that the layout
// allows (see checkStoredName) that never reads as a path: no '/', and not
// "." or "..".
func checkRegionName(name string) error {
	if err := checkStoredName(name); err != nil {
		return err
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: region name %q reads as a path", ErrBadName, name)
	}
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return fmt.Errorf("%w: region name %q: '/' at %d", ErrBadName, name, i)
	}
	return nil
}

// checkStoredName validates a region name as the layout defines it, for
// names read from a directory entry: 1..MaxNameLen bytes of printable ASCII
// (0x21..0x7e), so a name is the same string in every language and holds
// no NUL or other control character. It is looser than checkRegionName so
// that an entry allocated by an earlier build, which allowed '/', "." and
// "..", still validates.
func checkStoredName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: region name must be 1..%d bytes, got %d", ErrBadName, MaxNameLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: region name %q: byte %#x at %d is not printable ASCII", ErrBadName, name, c, i)
		}
	}
	return nil
}
