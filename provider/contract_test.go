package provider

import (
	"encoding/json"
	"os"
	"testing"
)

// The driver builds permission with json.Marshal(os.FileMode(0644)) and ASCP
// reads it back with json.Unmarshal: DriverPermission must be exactly what
// the first gives and decode to 0644 with the second.
func TestDriverPermission(t *testing.T) {
	b, err := json.Marshal(os.FileMode(0o644))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != DriverPermission {
		t.Errorf("json.Marshal(os.FileMode(0644)) = %s, DriverPermission = %s", b, DriverPermission)
	}
	var m os.FileMode
	if err := json.Unmarshal([]byte(DriverPermission), &m); err != nil || m != 0o644 {
		t.Errorf("DriverPermission decodes to %o (%v), want 644", m, err)
	}
	// Octal text is not what the driver sends, and a decoder must not
	// take it for 0644.
	if err := json.Unmarshal([]byte(`"0644"`), &m); err == nil {
		t.Errorf(`"0644" decoded to %o, want an error`, m)
	}
}
