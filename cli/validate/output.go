package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// writeJSON writes the records as one indented JSON array.
func writeJSON(w io.Writer, recs []Record) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(recs)
}

// writeText writes, per class, a header line with the verdict, then the file list
// (valid) or the errors (invalid), then the warnings; and a summary line.
func writeText(w io.Writer, rep *Report) error {
	ew := &errWriter{w: w}
	for i := range rep.Records {
		writeRecord(ew, &rep.Records[i])
	}
	if len(rep.Records) > 0 {
		ew.printf("\n")
	}
	ew.printf("%s\n", summary(rep))
	return ew.err
}

func writeRecord(ew *errWriter, r *Record) {
	where := fmt.Sprintf("%s#%d", r.File, r.Document)
	if r.Item != nil {
		where += fmt.Sprintf(" items[%d]", *r.Item)
	}
	verdict := "valid"
	if !r.Valid {
		verdict = "invalid (" + plural(len(r.Errors), "error") + ")"
	}
	if len(r.Warnings) > 0 {
		verdict += ", " + plural(len(r.Warnings), "warning")
	}
	ew.printf("%s SecretProviderClass %s: %s\n", clean(where), clean(qualified(r.Namespace, r.Name)), verdict)

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	for _, f := range r.Files {
		source := fmt.Sprintf("objects[%d] %s", f.Object, clean(f.ObjectName))
		switch {
		case f.AllKeys:
			source += "\tallKeys"
		case f.JMESPath != "":
			source += fmt.Sprintf("\tjmesPath %q", f.JMESPath)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", clean(f.Name), f.Mode, source) //nolint:errcheck // errWriter keeps the error
	}
	tw.Flush() //nolint:errcheck,gosec // errWriter keeps the error
	for _, is := range r.Errors {
		ew.printf("  error: %s\n", indentLines(is.Message))
	}
	for _, is := range r.Warnings {
		ew.printf("  warning: %s\n", indentLines(is.Message))
	}
}

func summary(rep *Report) string {
	var s string
	if n := len(rep.Records); n == 0 {
		s = fmt.Sprintf("no SecretProviderClass for provider aws found in %s", plural(rep.Files, "file"))
	} else {
		s = fmt.Sprintf("%s in %s: %d valid, %d invalid, %s",
			plural(n, "SecretProviderClass"), plural(rep.Files, "file"), n-rep.Invalid(), rep.Invalid(), plural(rep.Warnings(), "warning"))
	}
	if rep.Skipped > 0 {
		s += fmt.Sprintf("; %s skipped", plural(rep.Skipped, "other object"))
	}
	if len(rep.InputErrors) > 0 {
		s += fmt.Sprintf("; %s unreadable", plural(len(rep.InputErrors), "input"))
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	if strings.HasSuffix(word, "s") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// indentLines keeps multi-line fixes under their issue; other control characters
// (from names in the manifest) are escaped so they cannot garble a terminal or a log.
func indentLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = escapeControls(l)
	}
	return strings.Join(lines, "\n      ")
}

// clean quotes s when it holds characters that are not printable (a newline, a tab,
// an escape sequence), so one manifest value stays one field on one line.
func clean(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func escapeControls(s string) string {
	if clean(s) == s {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// errWriter remembers the first write error so the renderers stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...) //nolint:errcheck // kept in e.err
}
