package provider_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-ddac166a/aws-secrets-injector/provider"
	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// wantErr checks a Mount failure: its gRPC code, that its text starts with
// the reason, and that it names what it must.
func wantErr(t *testing.T, err error, code codes.Code, reason string, names ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("mount succeeded, want %v %s", code, reason)
	}
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Errorf("code %v, want %v: %v", st.Code(), code, err)
	}
	if !strings.HasPrefix(st.Message(), reason+": ") {
		t.Errorf("message does not start with %q: %s", reason+": ", st.Message())
	}
	for _, n := range names {
		if !strings.Contains(st.Message(), n) {
			t.Errorf("message does not name %q: %s", n, st.Message())
		}
	}
	if strings.Contains(st.Message(), "s3cr3t") || strings.Contains(st.Message(), "eyJ") {
		t.Errorf("message leaks a value or a token: %s", st.Message())
	}
	if strings.Contains(st.Message(), "\n") {
		t.Errorf("message spans lines: %q", st.Message())
	}
}

// TestMountBadToken: a token STS refuses (signed by a key the issuer never
// had) fails the mount with AccessDenied naming the identity; no secret is read.
func TestMountBadToken(t *testing.T) {
	e := startEnv(t, envOptions{})
	rogue, err := fakeaws.NewTokenIssuer(issuerURL) // same issuer URL and subject, another key
	if err != nil {
		t.Fatal(err)
	}
	req := e.firstMount(t, pod{name: "web-1", sa: saApp, class: "db", params: seedParams, tokenJSON: e.tokens(t, rogue, namespace, saApp)})
	_, err = e.Client.Mount(ctx(t), req)
	wantErr(t, err, codes.PermissionDenied, "AccessDenied", roleApp, `"team-a/app"`, "IRSA", "SecretProviderClass team-a/db")
	if n := e.AWS.Calls().Count("secretsmanager:BatchGetSecretValue", "") + e.AWS.Calls().Count("ssm:GetParameters", ""); n != 0 {
		t.Errorf("%d secret reads with a refused token", n)
	}
}

// TestMountAccessDeniedOnSecret: the role may not read the secret: AWS's
// AccessDenied, the object named.
func TestMountAccessDeniedOnSecret(t *testing.T) {
	e := startEnv(t, envOptions{})
	params := map[string]string{"region": region, "objects": `- {objectName: "other/token", objectType: secretsmanager}`}
	_, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "other", params: params}))
	wantErr(t, err, codes.PermissionDenied, "AccessDenied", `"other/token"`, "access denied", "fix:")
	if strings.Contains(err.Error(), otherValue) {
		t.Errorf("error leaks the value: %v", err)
	}
}

// TestMountBrokenClass: a class the parser refuses fails before any AWS call,
// every problem named by its field.
func TestMountBrokenClass(t *testing.T) {
	e := startEnv(t, envOptions{})
	params := map[string]string{"region": region, "objects": `
- {objectName: "app/db", objectType: vault}
- {objectName: "app/x", objectType: secretsmanager, jmesPath: [{path: "a[", objectAlias: a}]}`}
	_, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "broken", params: params}))
	wantErr(t, err, codes.FailedPrecondition, "InvalidSecretProviderClass", "objects[0].objectType", "objects[1].jmesPath[0].path", "SecretProviderClass team-a/broken")
	if n := e.awsCalls(); n != 0 {
		t.Errorf("%d AWS calls for a broken class, want 0", n)
	}
}

// TestMountStrictClasses: an unknown key is served as ASCP serves it, and
// refused naming the key with --strict-classes, before any AWS call.
func TestMountStrictClasses(t *testing.T) {
	params := map[string]string{"region": region, "objects": `- {objectName: "app/db", objectType: secretsmanager, objectAlais: db}`}
	lenient := startEnv(t, envOptions{})
	if _, err := lenient.Client.Mount(ctx(t), lenient.firstMount(t, pod{name: "web-1", sa: saApp, class: "typo", params: params})); err != nil {
		t.Errorf("lenient: %v", err)
	}
	strict := startEnv(t, envOptions{strict: true})
	_, err := strict.Client.Mount(ctx(t), strict.firstMount(t, pod{name: "web-1", sa: saApp, class: "typo", params: params}))
	wantErr(t, err, codes.FailedPrecondition, "InvalidSecretProviderClass", "objects[0].objectAlais", `did you mean "objectAlias"`)
	if n := strict.awsCalls(); n != 0 {
		t.Errorf("%d AWS calls for a refused class, want 0", n)
	}
}

// TestMountBadInput: requests the provider refuses before any AWS call (and
// before reading the ServiceAccount), each naming the field.
func TestMountBadInput(t *testing.T) {
	e := startEnv(t, envOptions{})
	good := pod{name: "web-1", sa: saApp, class: "db", params: seedParams}
	attrsWithout := func(keys ...string) func(*v1alpha1.MountRequest) {
		return func(r *v1alpha1.MountRequest) {
			var m map[string]string
			if err := json.Unmarshal([]byte(r.Attributes), &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				delete(m, k)
			}
			r.Attributes = mustJSON(t, m)
		}
	}
	attrsWith := func(k, v string) func(*v1alpha1.MountRequest) {
		return func(r *v1alpha1.MountRequest) {
			var m map[string]string
			if err := json.Unmarshal([]byte(r.Attributes), &m); err != nil {
				t.Fatal(err)
			}
			m[k] = v
			r.Attributes = mustJSON(t, m)
		}
	}
	otherTokens := e.tokens(t, e.Issuer, namespace, saOther)
	for _, tc := range []struct {
		name  string
		edit  func(*v1alpha1.MountRequest)
		names []string
	}{
		{"attributes not JSON", func(r *v1alpha1.MountRequest) { r.Attributes = `{"csi.storage.k8s.io/pod.name": eyJhbGciOi}` },
			[]string{"attributes", "not JSON", "byte 33 of 43"}},
		{"attributes empty", func(r *v1alpha1.MountRequest) { r.Attributes = "" }, []string{"attributes", "empty"}},
		{"attributes null", func(r *v1alpha1.MountRequest) { r.Attributes = "null" }, []string{"attributes", "null"}},
		{"attributes not strings", func(r *v1alpha1.MountRequest) { r.Attributes = `{"objects": 3}` },
			[]string{"attributes", `key "objects" holds a number`}},
		{"no pod identity", attrsWithout(provider.AttrPodNamespace, provider.AttrServiceAccount),
			[]string{"lacks the pod's identity", provider.AttrPodNamespace, provider.AttrServiceAccount, "podInfoOnMount: true"}},
		{"no pod uid", attrsWithout(provider.AttrPodUID), []string{provider.AttrPodUID}},
		{"bad namespace", attrsWith(provider.AttrPodNamespace, "../kube-system"), []string{provider.AttrPodNamespace, "not a valid name"}},
		{"bad service account", attrsWith(provider.AttrServiceAccount, "a/b"), []string{provider.AttrServiceAccount}},
		{"class of another provider", attrsWith("keyvaultName", "kv"),
			[]string{"parameters.keyvaultName", "Azure Key Vault", "spec.provider"}},
		{"class of Vault", attrsWith("vaultAddress", "https://vault:8200"), []string{"parameters.vaultAddress", "HashiCorp Vault"}},
		{"tokens not JSON", attrsWith(provider.AttrTokens, "eyJhbGciOiJSUzI1NiJ9.e30.sig"),
			[]string{`attributes["csi.storage.k8s.io/serviceAccount.tokens"]`, "not a JSON object"}},
		{"token of another service account", attrsWith(provider.AttrTokens, otherTokens),
			[]string{"system:serviceaccount:team-a:other", "not the pod's service account", `"system:serviceaccount:team-a:app"`}},
		{"token not a JWT", attrsWith(provider.AttrTokens, `{"sts.amazonaws.com":{"token":"opaque","expirationTimestamp":"2030-01-01T00:00:00Z"}}`),
			[]string{"not a service account JWT"}},
		{"secrets not JSON", func(r *v1alpha1.MountRequest) { r.Secrets = "{token" }, []string{"secrets", "not JSON"}},
		{"permission octal text", func(r *v1alpha1.MountRequest) { r.Permission = `"0644"` }, []string{"permission", "not a decimal file mode"}},
		{"permission zero", func(r *v1alpha1.MountRequest) { r.Permission = "0" }, []string{"permission", "from 1 to 511"}},
		{"permission too big", func(r *v1alpha1.MountRequest) { r.Permission = "4096" }, []string{"permission"}},
		{"permission missing", func(r *v1alpha1.MountRequest) { r.Permission = "" }, []string{"permission"}},
		{"relative target", func(r *v1alpha1.MountRequest) { r.TargetPath = "mount" }, []string{"target_path"}},
		{"too many versions", func(r *v1alpha1.MountRequest) {
			r.CurrentObjectVersion = make([]*v1alpha1.ObjectVersion, 1025)
		}, []string{"current_object_version", "at most 1024"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := e.firstMount(t, good)
			tc.edit(req)
			e.AWS.ResetCalls()
			reads := e.SAs.reads.Load()
			_, err := e.Client.Mount(ctx(t), req)
			wantErr(t, err, codes.InvalidArgument, "InvalidRequest", tc.names...)
			if n := e.awsCalls(); n != 0 {
				t.Errorf("%d AWS calls, want 0", n)
			}
			if n := e.SAs.reads.Load() - reads; n != 0 {
				t.Errorf("%d ServiceAccount reads, want 0", n)
			}
		})
	}
}

// TestMountUnsafeFileNames: a file name the driver's writer would refuse
// (absolute, "..", an element over 255 bytes) is refused by us first, with
// the object named: class-level names before any AWS call, names that come
// from a value (allKeys) once it is read.
func TestMountUnsafeFileNames(t *testing.T) {
	e := startEnv(t, envOptions{})
	long := strings.Repeat("x", 256)
	for _, tc := range []struct {
		name, objects, pathTranslation string
		names                          []string
	}{
		{"dot-dot alias", `- {objectName: "app/db", objectType: secretsmanager, objectAlias: "../../etc/cron.d/x"}`, "False",
			[]string{"objects[0].objectAlias", `"app/db"`, `".." element`}},
		{"dot-dot alias translated", `- {objectName: "app/db", objectType: secretsmanager, objectAlias: "../../etc/cron.d/x"}`, "",
			[]string{"objects[0].objectAlias", `"app/db"`, "reserved"}},
		{"long alias", `- {objectName: "app/db", objectType: secretsmanager, objectAlias: "` + long + `"}`, "",
			[]string{"objects[0].objectAlias", "256 bytes"}},
		{"dot-dot jmesPath alias", `- {objectName: "app/db", objectType: secretsmanager, jmesPath: [{path: username, objectAlias: ".."}]}`, "",
			[]string{"objects[0].jmesPath[0].objectAlias"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.AWS.ResetCalls()
			params := map[string]string{"region": region, "objects": tc.objects}
			if tc.pathTranslation != "" {
				params["pathTranslation"] = tc.pathTranslation
			}
			_, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "bad", params: params}))
			wantErr(t, err, codes.FailedPrecondition, "InvalidSecretProviderClass", tc.names...)
			if n := e.awsCalls(); n != 0 {
				t.Errorf("%d AWS calls, want 0", n)
			}
		})
	}
	// An absolute name never reaches the writer: with pathTranslation
	// "False" its leading slashes go (as ASCP does), else "/" becomes "_".
	t.Run("absolute names", func(t *testing.T) {
		for tr, want := range map[string]string{"False": "etc/passwd", "": "_etc_passwd"} {
			params := map[string]string{"region": region, "objects": `- {objectName: "/app/port", objectType: ssmparameter, objectAlias: "/etc/passwd"}`}
			if tr != "" {
				params["pathTranslation"] = tr
			}
			resp, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "abs", params: params}))
			if err != nil {
				t.Fatal(err)
			}
			if f := resp.GetFiles(); len(f) != 1 || f[0].GetPath() != want || resp.GetObjectVersion()[0].GetId() != want {
				t.Errorf("pathTranslation %q: files %v, want one %q", tr, f, want)
			}
		}
	})
	t.Run("allKeys key", func(t *testing.T) {
		if _, err := e.AWS.PutSecret("app/keys", fmt.Sprintf(`{"ok":"1",%q:"2"}`, long)); err != nil {
			t.Fatal(err)
		}
		params := map[string]string{"region": region, "objects": `- {objectName: "app/keys", objectType: secretsmanager, allKeys: true}`}
		_, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "keys", params: params}))
		wantErr(t, err, codes.FailedPrecondition, "InvalidSecretValue", "objects[0].allKeys", `"app/keys"`, "256 bytes")
	})
}

// TestMountResponseLimit: a set whose response would reach the driver's 4 MiB
// receive limit is refused with the limit named; one under it reaches the
// driver's client whole.
func TestMountResponseLimit(t *testing.T) {
	e := startEnv(t, envOptions{})
	value := strings.Repeat("v", 60<<10) // 60 KiB, under Secrets Manager's 64 KiB
	classOf := func(n int) map[string]string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "- {objectName: \"app/big-%d\", objectType: secretsmanager}\n", i)
		}
		return map[string]string{"region": region, "objects": b.String()}
	}
	for i := range 72 {
		if _, err := e.AWS.PutSecret(fmt.Sprintf("app/big-%d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	// 60 × 60 KiB = 3.5 MiB: under the limit.
	resp, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "big", params: classOf(60)}))
	if err != nil {
		t.Fatalf("60 files of 60 KiB: %v", err)
	}
	if len(resp.GetFiles()) != 60 || len(resp.GetObjectVersion()) != 60 || len(resp.GetFiles()[59].GetContents()) != len(value) {
		t.Errorf("got %d files, %d versions", len(resp.GetFiles()), len(resp.GetObjectVersion()))
	}
	// 72 × 60 KiB = 4.2 MiB: refused by us, naming the limit and the fix,
	// rather than failing in the driver with RESOURCE_EXHAUSTED.
	_, err = e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-2", sa: saApp, class: "big", params: classOf(72)}))
	wantErr(t, err, codes.FailedPrecondition, "LimitExceeded", "4194304 bytes", "--max-call-recv-msg-size", "72 files")
}

// TestLogsNeverHoldSecrets: with the logger at its most verbose, no log line
// holds a secret value, a token or any part of one, through successes and
// failures; the tokens and the secrets field appear as <redacted>.
func TestLogsNeverHoldSecrets(t *testing.T) {
	e := startEnv(t, envOptions{})
	p := pod{name: "web-1", sa: saApp, class: "db", params: seedParams}
	first := e.firstMount(t, p)
	resp, err := e.Client.Mount(ctx(t), first)
	if err != nil {
		t.Fatal(err)
	}
	inSecrets := e.firstMount(t, pod{name: "web-2", sa: saApp, class: "db", params: seedParams, tokensInSecrets: true})
	if _, err := e.Client.Mount(ctx(t), inSecrets); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Mount(ctx(t), e.rotationMount(t, p, resp.GetObjectVersion())); err != nil {
		t.Fatal(err)
	}
	// Failures: access denied, a token of another account, broken JSON around a token.
	denied := e.firstMount(t, pod{name: "web-3", sa: saOther, class: "db", params: seedParams})
	_, _ = e.Client.Mount(ctx(t), denied)
	wrongSA := e.firstMount(t, pod{name: "web-4", sa: saApp, class: "db", params: seedParams, tokenJSON: e.tokens(t, e.Issuer, namespace, saOther)})
	_, _ = e.Client.Mount(ctx(t), wrongSA)
	broken := e.firstMount(t, p)
	broken.Attributes = broken.Attributes[:len(broken.Attributes)/2]
	_, _ = e.Client.Mount(ctx(t), broken)

	logs := e.Logs.String()
	if !strings.Contains(logs, `"msg":"gRPC call"`) || !strings.Contains(logs, "gRPC call failed") || !strings.Contains(logs, "redacted") {
		t.Fatalf("the logs do not show the calls at this verbosity:\n%s", logs)
	}
	var secretsTexts []string
	secretsTexts = append(secretsTexts, "s3cr3t-passw0rd", portValue, otherValue, dbValue)
	for _, r := range []*v1alpha1.MountRequest{first, inSecrets, denied, wrongSA} {
		for _, tok := range tokensOf(t, r) {
			parts := strings.Split(tok, ".")
			secretsTexts = append(secretsTexts, tok, parts[1], parts[2])
		}
	}
	for _, s := range secretsTexts {
		if strings.Contains(logs, s) {
			t.Errorf("a log line holds secret material %.24q…", s)
		}
	}
	// The redaction of a request, directly.
	red := provider.Redact(first)
	if strings.Contains(red, "eyJ") || !strings.Contains(red, `"csi.storage.k8s.io/serviceAccount.tokens":"<redacted>"`) || !strings.Contains(red, `"team-a"`) {
		t.Errorf("Redact = %s", red)
	}
	if red := provider.Redact(inSecrets); strings.Contains(red, "eyJ") || !strings.Contains(red, `"secrets":{"csi.storage.k8s.io/serviceAccount.tokens":"<redacted>"}`) {
		t.Errorf("Redact = %s", red)
	}
	if red := provider.Redact(broken); strings.Contains(red, "eyJ") || !strings.Contains(red, "not a JSON object") {
		t.Errorf("Redact of broken attributes = %s", red)
	}
}

// tokensOf returns the token strings a request carries (attributes or secrets).
func tokensOf(t *testing.T, r *v1alpha1.MountRequest) []string {
	t.Helper()
	var out []string
	for _, field := range []string{r.GetAttributes(), r.GetSecrets()} {
		var m map[string]string
		if json.Unmarshal([]byte(field), &m) != nil || m[provider.AttrTokens] == "" {
			continue
		}
		toks, err := identity.ParseTokens(m[provider.AttrTokens])
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range toks {
			out = append(out, tk.Token)
		}
	}
	if len(out) == 0 {
		t.Fatal("request without tokens")
	}
	return out
}

// TestMountDeadline: AWS slower than the fetch timeout fails with
// AWSUnavailable (UNAVAILABLE, which the driver retries), not a hang.
func TestMountDeadline(t *testing.T) {
	e := startEnv(t, envOptions{fetchTimeout: 500 * time.Millisecond})
	e.AWS.SetFault(fakeaws.Fault{API: "secretsmanager:*", Hang: true, HangMS: 20000})
	c := ctx(t)
	start := time.Now()
	_, err := e.Client.Mount(c, e.firstMount(t, pod{name: "web-1", sa: saApp, class: "db", params: seedParams}))
	if status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("hung AWS: %v, want Unavailable", err)
	}
	t.Logf("failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

// TestMountNoRegion: a class without a region, on a node where no default was
// found, fails before any AWS call naming every place looked at.
func TestMountNoRegion(t *testing.T) {
	e := startEnv(t, envOptions{noDefaultRegion: true})
	params := map[string]string{"objects": seedParams["objects"]}
	_, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "db", params: params}))
	wantErr(t, err, codes.FailedPrecondition, "InvalidSecretProviderClass", "parameters.region", "aws.region (--region, AWS_REGION)",
		"instance metadata service (not allowed)")
	if n := e.awsCalls(); n != 0 {
		t.Errorf("%d AWS calls without a region", n)
	}
	// With the class's own region it mounts.
	if _, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-2", sa: saApp, class: "db", params: seedParams})); err != nil {
		t.Errorf("class with its region: %v", err)
	}
}
