package mounter_test

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
)

// FuzzRedact: whatever the request holds, the tokens and the secrets field
// never reach the rendered log line, and the request itself is not modified.
func FuzzRedact(f *testing.F) {
	f.Add("pod", `{"sts.amazonaws.com":{"token":"eyJhbGciOi.payload.sig"}}`, "s3cr3t-value", "x")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, pod, tokens, secret, other string) {
		req := &csi.NodePublishVolumeRequest{
			VolumeId: "v",
			VolumeContext: map[string]string{
				mounter.CtxPodName: pod, mounter.CtxTokens: tokens, "my.token.key": secret, "other": other,
			},
			Secrets: map[string]string{"k": secret},
		}
		out := mounter.Redact(req)
		for _, leak := range []string{tokens, secret} {
			// Short values can occur in the output by chance (field names, "<redacted>").
			if len(leak) >= 12 && !strings.Contains(other+pod+"volumeIdvolumeContextsecrets", leak) && strings.Contains(out, leak) {
				t.Fatalf("Redact leaks %q: %s", leak, out)
			}
		}
		if req.VolumeContext[mounter.CtxTokens] != tokens || req.Secrets["k"] != secret {
			t.Fatal("Redact modified the request")
		}
	})
}
