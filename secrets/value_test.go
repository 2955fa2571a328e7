package secrets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	const secret = "supersecretpassword"
	v := NewStringValue(secret)
	f := File{Path: "db-password", Mode: 0o600, Content: v}

	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "value", v, "file", f)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "value", v)
	js, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q %x %d", v, v, v, v, v, v, v),
		fmt.Sprintf("%v %+v %#v", f, f, f), string(js), logBuf.String(),
		fmt.Errorf("wrap %v", v).Error(),
	}
	for _, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
			t.Errorf("secret leaked in %q", out)
		}
		if !strings.Contains(out, Redacted) && !strings.Contains(out, `\u003credacted\u003e`) {
			t.Errorf("output %q lacks %s", out, Redacted)
		}
	}
	if string(v.Bytes()) != secret || v.Len() != len(secret) {
		t.Errorf("Bytes/Len do not return the content")
	}
	if !v.Equal(NewValue([]byte(secret))) || v.Equal(NewStringValue("other")) {
		t.Errorf("Equal is wrong")
	}
}
