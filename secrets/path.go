package secrets

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameBytes is the longest path element a Linux filesystem accepts.
const MaxNameBytes = 255

// MaxPathBytes bounds a whole relative path (Linux's PATH_MAX).
const MaxPathBytes = 4096

// ErrInvalidPath is wrapped by every ValidatePath error.
var ErrInvalidPath = errors.New("invalid file path")

// ValidatePath checks that p is a clean relative path that stays inside the
// target directory (see PathProblem). Every stage that names a file (spc,
// extract) and the writer (atomicdir) use it, so a set one accepts the others
// accept too.
func ValidatePath(p string) error {
	if prob := PathProblem(p); prob != "" {
		return fmt.Errorf("%w: %s", ErrInvalidPath, prob)
	}
	return nil
}

// PathProblem returns "" when p is a valid file path of a set, else what is
// wrong with it (the path quoted and cut with Quote). Valid: not empty, not
// absolute, no empty, "." or ".." element, no element starting with ".."
// (those names are the writer's own: ..data and the timestamped directories),
// no NUL byte or invalid UTF-8, no element over MaxNameBytes and the whole path
// at most MaxPathBytes. Nested paths ("a/b") are allowed: they become
// subdirectories.
func PathProblem(p string) string {
	switch {
	case p == "":
		return "empty name"
	case len(p) > MaxPathBytes:
		return fmt.Sprintf("%s is %d bytes long, at most %d allowed", Quote(p), len(p), MaxPathBytes)
	case strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%s is absolute, must be relative to the mount directory", Quote(p))
	case strings.ContainsRune(p, 0):
		return fmt.Sprintf("%s contains a NUL byte", Quote(p))
	case !utf8.ValidString(p):
		return fmt.Sprintf("%s is not valid UTF-8", Quote(p))
	}
	for _, el := range strings.Split(p, "/") {
		switch {
		case el == "":
			return fmt.Sprintf("%s has an empty path element", Quote(p))
		case el == "." || el == "..":
			return fmt.Sprintf("%s has a %q element", Quote(p), el)
		case strings.HasPrefix(el, ".."):
			return fmt.Sprintf("%s: names starting with \"..\" are reserved for the atomic writer", Quote(p))
		case len(el) > MaxNameBytes:
			return fmt.Sprintf("%s has an element of %d bytes, at most %d allowed", Quote(p), len(el), MaxNameBytes)
		}
	}
	return ""
}
