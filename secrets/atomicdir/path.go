package atomicdir

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameBytes is the longest path element a Linux filesystem accepts.
const MaxNameBytes = 255

// MaxPathBytes bounds a whole relative path.
const MaxPathBytes = 4096

// ErrInvalidPath is wrapped by every ValidatePath error.
var ErrInvalidPath = errors.New("invalid file path")

// ValidatePath checks that p is a clean relative path that stays inside the
// target directory: not empty, not absolute, no empty, "." or ".." element, no
// element starting with ".." (those names are the writer's own: ..data and the
// timestamped directories), no NUL byte or invalid UTF-8, no element over 255
// bytes and the whole path at most 4096 bytes. Nested paths ("a/b") are
// allowed: they become subdirectories.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty name", ErrInvalidPath)
	case len(p) > MaxPathBytes:
		return fmt.Errorf("%w: %d bytes long, at most %d allowed", ErrInvalidPath, len(p), MaxPathBytes)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%w: %q is absolute, must be relative to the mount directory", ErrInvalidPath, p)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("%w: contains a NUL byte", ErrInvalidPath)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidPath)
	}
	for _, el := range strings.Split(p, "/") {
		switch {
		case el == "":
			return fmt.Errorf("%w: %q has an empty path element", ErrInvalidPath, p)
		case el == "." || el == "..":
			return fmt.Errorf("%w: %q has a %q element", ErrInvalidPath, p, el)
		case strings.HasPrefix(el, ".."):
			return fmt.Errorf("%w: %q: names starting with \"..\" are reserved for the atomic writer", ErrInvalidPath, p)
		case len(el) > MaxNameBytes:
			return fmt.Errorf("%w: element of %d bytes, at most %d allowed", ErrInvalidPath, len(el), MaxNameBytes)
		}
	}
	return nil
}
