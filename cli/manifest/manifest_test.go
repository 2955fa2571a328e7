package manifest

import (
	"strings"
	"testing"
)

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		lines []int
		first []string // first line of each document
	}{
		{"single", "a: 1\nb: 2\n", []int{1}, []string{"a: 1"}},
		{"leading marker", "---\na: 1\n", []int{2}, []string{"a: 1"}},
		{"blanks and comments", "# head\n\n---\n\n\na: 1\n---\n# only\n---\n\nb: 2", []int{6, 11}, []string{"a: 1", "b: 2"}},
		{"comment above content", "---\n# about a\na: 1\n", []int{3}, []string{"a: 1"}},
		{"content on marker", "--- {a: 1}\n--- !!map\nb: 2\n", []int{1, 2}, []string{"{a: 1}", "!!map"}},
		{"marker comment", "a: 1\n--- # next\nb: 2\n", []int{1, 3}, []string{"a: 1", "b: 2"}},
		{"document end", "a: 1\n...\n---\nb: 2\n", []int{1, 4}, []string{"a: 1", "b: 2"}},
		{"dashes are content", "a: |\n  ---\n----\n---x\n", []int{1}, []string{"a: |"}},
		{"crlf", "a: 1\r\n---\r\nb: 2\r\n", []int{1, 3}, []string{"a: 1\r", "b: 2\r"}},
		{"json stream", "{\"a\": 1}\n\n{\"b\":\n 2}\n", []int{1, 3}, []string{`{"a": 1}`, `{"b":`}},
		{"yaml flow, not json", "{a: 1}\n---\n{b: 2}\n", []int{1, 3}, []string{"{a: 1}", "{b: 2}"}},
		{"bom", "\xef\xbb\xbfa: 1\n", []int{1}, []string{"a: 1"}},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := Split([]byte(tt.in))
			if len(docs) != len(tt.lines) {
				t.Fatalf("got %d documents, want %d: %+v", len(docs), len(tt.lines), docs)
			}
			for i, d := range docs {
				first, _, _ := strings.Cut(string(d.Data), "\n")
				if d.Index != i+1 || d.Line != tt.lines[i] || first != tt.first[i] {
					t.Errorf("doc %d: index %d line %d first %q; want line %d first %q", i, d.Index, d.Line, first, tt.lines[i], tt.first[i])
				}
			}
		})
	}
}

func TestFileLines(t *testing.T) {
	got := FileLines("error converting YAML to JSON: yaml: line 3: bad; line 10: worse", 20)
	if got != "yaml: line 22: bad; line 29: worse" {
		t.Errorf("got %q", got)
	}
}
