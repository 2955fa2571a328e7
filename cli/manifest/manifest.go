// Package manifest reads the manifests the operator tools (validate, fetch)
// are given: files, directories (their .yaml, .yml and .json files) and
// standard input, each read with a size bound, split into YAML or JSON
// documents with the line where each starts.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// MaxInputBytes bounds one input file (or stdin): manifests are small, a bigger
// input is a mistake (a binary, a log), not something to load into memory.
const MaxInputBytes = 32 << 20

// StdinName is how standard input is named in the output.
const StdinName = "<stdin>"

// manifestExts are the file extensions read when walking a directory.
var manifestExts = []string{".yaml", ".yml", ".json"}

// Input is one file's content, or the error reading it.
type Input struct {
	// Name is the file's path, or StdinName.
	Name string
	// Data is the content (nil when Err is set).
	Data []byte
	// Err is why the file could not be read.
	Err error
}

// Collect expands the paths into the files to read, in argument order and,
// within a directory, in lexical order. Errors (a missing file, an unreadable
// directory) are returned as inputs carrying err.
func Collect(paths []string, stdin io.Reader) []Input {
	var out []Input
	for _, p := range paths {
		if p == "-" {
			data, err := ReadLimited(stdin)
			out = append(out, Input{Name: StdinName, Data: data, Err: err})
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			out = append(out, Input{Name: p, Err: statErr(err)})
			continue
		}
		if !info.IsDir() {
			out = append(out, ReadFile(p))
			continue
		}
		walkErr := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				out = append(out, Input{Name: path, Err: statErr(err)})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				// Hidden directories (.git, .github, ...) hold no manifests to check.
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || !hasManifestExt(path) {
				return nil
			}
			out = append(out, ReadFile(path))
			return nil
		})
		if walkErr != nil {
			out = append(out, Input{Name: p, Err: walkErr})
		}
	}
	return out
}

func hasManifestExt(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	for _, e := range manifestExts {
		if ext == e {
			return true
		}
	}
	return false
}

// ReadFile reads one file with ReadLimited.
func ReadFile(path string) Input {
	f, err := os.Open(path)
	if err != nil {
		return Input{Name: path, Err: statErr(err)}
	}
	defer f.Close() //nolint:errcheck // read-only file
	data, err := ReadLimited(f)
	return Input{Name: path, Data: data, Err: err}
}

// ReadLimited reads r up to MaxInputBytes; a larger input is an error naming the bound.
func ReadLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxInputBytes {
		return nil, fmt.Errorf("larger than %d MiB, not a manifest", MaxInputBytes>>20)
	}
	return data, nil
}

// statErr drops the path that os errors repeat (the caller prints it).
func statErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Document is one YAML or JSON document of an input.
type Document struct {
	// Index counts the non-empty documents of the input from 1.
	Index int
	// Line is the 1-based line of the input where the document starts.
	Line int
	// Data is the document's text.
	Data []byte
}

// Split splits an input into its documents. A JSON input (one value or a
// stream of values) is split by the JSON decoder; anything else as a YAML stream on
// "---" document markers (and "..." document ends). Documents holding only blanks and
// comments are dropped and not counted.
func Split(data []byte) []Document {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if docs, ok := splitJSON(data); ok {
		return docs
	}
	return splitYAML(data)
}

func splitJSON(data []byte) ([]Document, bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var docs []Document
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return docs, true
		}
		if err != nil {
			return nil, false // not JSON after all: a YAML flow mapping, or broken
		}
		end := int(dec.InputOffset())
		start := end - len(raw)
		docs = append(docs, Document{Index: len(docs) + 1, Line: 1 + bytes.Count(data[:start], []byte("\n")), Data: raw})
	}
}

func splitYAML(data []byte) []Document {
	var docs []Document
	var cur bytes.Buffer
	curLine := 1
	flush := func() {
		if !blank(cur.Bytes()) {
			docs = append(docs, Document{Index: len(docs) + 1, Line: curLine, Data: bytes.Clone(cur.Bytes())})
		}
		cur.Reset()
	}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			line, data = data, nil
		}
		rest, isMarker := docMarker(line)
		if !isMarker {
			if cur.Len() == 0 || blank(cur.Bytes()) {
				// The document starts at its first line with content; keep the blank
				// lines out of the count so error lines stay right.
				if blank(line) {
					cur.Reset()
					curLine = lineNo + 1
					continue
				}
			}
			cur.Write(line)
			continue
		}
		flush()
		curLine = lineNo + 1
		if len(rest) > 0 {
			// Content on the marker line ("--- !!map", "--- {a: 1}") starts the document.
			cur.Write(rest)
			cur.WriteByte('\n')
			curLine = lineNo
		}
	}
	flush()
	return docs
}

// docMarker reports whether line is a document marker ("---" or "..." at column 0,
// alone or followed by blanks) and returns the content after "---", if any, without
// a trailing comment-only remainder.
func docMarker(line []byte) ([]byte, bool) {
	l := bytes.TrimRight(line, "\r\n")
	var isStart bool
	switch {
	case bytes.HasPrefix(l, []byte("---")):
		isStart = true
	case bytes.HasPrefix(l, []byte("...")):
	default:
		return nil, false
	}
	rest := l[3:]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' {
		return nil, false // "----" or "---x": ordinary content
	}
	rest = bytes.TrimSpace(rest)
	if !isStart || len(rest) == 0 || rest[0] == '#' {
		return nil, true
	}
	return rest, true
}

// blank reports whether b holds only whitespace and comment lines.
func blank(b []byte) bool {
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

var yamlLineRE = regexp.MustCompile(`\bline (\d+)\b`)

// FileLines rewrites the "line N" of a YAML error (relative to the document) into the
// line of the input file, and drops the library's prefix.
func FileLines(msg string, docLine int) string {
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	return yamlLineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.Atoi(m[len("line "):])
		if err != nil {
			return m
		}
		return "line " + strconv.Itoa(n+docLine-1)
	})
}
