package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/yaml"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// review builds an AdmissionReview for obj.
func review(t testing.TB, op admissionv1.Operation, kind metav1.GroupVersionKind, ns string, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: uuid.NewUUID(), Kind: kind, Operation: op, Namespace: ns,
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Object:   runtime.RawExtension{Raw: raw},
		},
	}
	b, err := json.Marshal(ar)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends body to the admission webhook over HTTP and decodes the answer.
func post(t *testing.T, h *Handler, body []byte, contentType string) *admissionv1.AdmissionResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, MutatePath, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	h.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("decode response %q: %v", rec.Body.String(), err)
	}
	if out.Response == nil {
		t.Fatalf("no response in %s", rec.Body.String())
	}
	return out.Response
}

// applyPatch is doc with the JSON patch applied, as the API server applies
// a webhook's patch.
func applyPatch(t *testing.T, doc, patch []byte) []byte {
	t.Helper()
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("decode patch %s: %v", patch, err)
	}
	patched, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("apply patch %s to %s: %v", patch, doc, err)
	}
	return patched
}

// patchedYAML is pod with the JSON patch applied, as YAML.
func patchedYAML(t *testing.T, pod *corev1.Pod, patch []byte) []byte {
	t.Helper()
	raw, _ := json.Marshal(pod)
	patched := applyPatch(t, raw, patch)
	var got corev1.Pod
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	y, _ := yaml.Marshal(&got)
	return y
}

func TestHandlerPatchProducesGoldenPod(t *testing.T) {
	h := &Handler{Config: testConfig(), Lookups: testLookups()}
	pod := testPod(nil)
	body := review(t, admissionv1.Create, podKind, "apps", pod)
	resp := post(t, h, body, "application/json")
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("want an allowed JSON patch, got %+v", resp)
	}
	// The same golden file as the pure mutation: the patch is exactly it.
	golden(t, "csi-default.yaml", append([]byte("# mutated\n"), patchedYAML(t, pod, resp.Patch)...))
}

// TestHandlerExecPatchAndDenial: through the HTTP layer, the exec pod's
// patch yields the exec-csi golden pod exactly, and a wrapped container
// without command is a denial (403) carrying the webhook's message.
func TestHandlerExecPatchAndDenial(t *testing.T) {
	h := &Handler{Config: testConfig(), Lookups: testLookups()}
	pod := withCommands(testPod(map[string]string{AnnotationExec: "true"}))
	resp := post(t, h, review(t, admissionv1.Create, podKind, "apps", pod), "application/json")
	if !resp.Allowed || resp.PatchType == nil {
		t.Fatalf("want an allowed patch, got %+v", resp)
	}
	golden(t, "exec-csi.yaml", append([]byte("# mutated\n"), patchedYAML(t, pod, resp.Patch)...))

	resp = post(t, h, review(t, admissionv1.Create, podKind, "apps", testPod(map[string]string{AnnotationExec: "true"})), "application/json")
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusForbidden ||
		!strings.Contains(resp.Result.Message, `container "app" has no command`) || len(resp.Patch) != 0 {
		t.Fatalf("want a denial naming the container, got %+v", resp)
	}
}

func TestHandlerKeepsFieldsItDoesNotKnow(t *testing.T) {
	h := &Handler{Config: testConfig(), Lookups: testLookups()}
	raw, _ := json.Marshal(testPod(nil))
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["spec"].(map[string]any)["futureField"] = map[string]any{"x": 1}
	resp := post(t, h, review(t, admissionv1.Create, podKind, "apps", m), "application/json")
	if !resp.Allowed {
		t.Fatalf("denied: %v", resp.Result)
	}
	if strings.Contains(string(resp.Patch), "futureField") {
		t.Fatalf("patch touches an unknown field: %s", resp.Patch)
	}
}

// A panic while handling one review is that review's error answer; the
// next review is served, and the answer is for the request's UID in the
// request's AdmissionReview version.
func TestHandlerRecoversAndEchoes(t *testing.T) {
	h := &Handler{Config: testConfig(), Lookups: panicLookups{}}
	body := review(t, admissionv1.Create, podKind, "apps", testPod(nil))
	resp := post(t, h, body, "application/json")
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusInternalServerError || !strings.Contains(resp.Result.Message, "panic: lookup exploded") {
		t.Fatalf("a panicking lookup: %+v", resp.Result)
	}
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &ar); err != nil {
		t.Fatal(err)
	}
	if resp.UID != ar.Request.UID {
		t.Errorf("answer UID %q, want the request's %q", resp.UID, ar.Request.UID)
	}
	h.Lookups = testLookups()
	beta := bytes.Replace(body, []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1)
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, MutatePath, bytes.NewReader(beta))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1beta1" || out.Kind != "AdmissionReview" || out.Response == nil || !out.Response.Allowed || len(out.Response.Patch) == 0 {
		t.Errorf("a v1beta1 review after the panic: %s", rec.Body.Bytes())
	}
}

type panicLookups struct{}

func (panicLookups) SecretProviderClass(context.Context, string, string) (*spc.Class, error) {
	panic("lookup exploded")
}

func (panicLookups) ServiceAccount(context.Context, string, string) (*corev1.ServiceAccount, error) {
	panic("lookup exploded")
}

func TestHandlerAnswers(t *testing.T) {
	h := &Handler{Config: testConfig(), Lookups: testLookups()}
	svcKind := metav1.GroupVersionKind{Version: "v1", Kind: "Service"}
	svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}}
	cases := []struct {
		name        string
		body        []byte
		contentType string
		allowed     bool
		code        int32
		msg         string
		patched     bool
	}{
		{name: "mutated", body: review(t, admissionv1.Create, podKind, "apps", testPod(nil)), allowed: true, patched: true},
		{name: "not annotated", body: review(t, admissionv1.Create, podKind, "apps", testPod(map[string]string{AnnotationInject: "-"})), allowed: true},
		{name: "denied", body: review(t, admissionv1.Create, podKind, "apps", testPod(map[string]string{AnnotationSecretProviderClass: "nope"})),
			code: http.StatusForbidden, msg: AnnotationSecretProviderClass + `: SecretProviderClass "nope" not found`},
		{name: "bad json", body: []byte(`{"kind":"AdmissionReview",`), code: http.StatusBadRequest},
		{name: "empty review", body: []byte("{}"), code: http.StatusBadRequest, msg: "the AdmissionReview has no request"},
		{name: "no request kind", body: []byte(`{"request":{"uid":"1"}}`), code: http.StatusBadRequest, msg: "this webhook mutates v1 Pods"},
		{name: "wrong content type", body: review(t, admissionv1.Create, podKind, "apps", testPod(nil)), contentType: "text/plain",
			code: http.StatusBadRequest, msg: "send application/json"},
		{name: "content type with a charset", body: review(t, admissionv1.Create, podKind, "apps", testPod(nil)), contentType: "application/json; charset=utf-8",
			allowed: true, patched: true},
		{name: "too large", body: bytes.Repeat([]byte(" "), maxReviewBytes+1), code: http.StatusRequestEntityTooLarge, msg: "over"},
		{name: "wrong kind", body: review(t, admissionv1.Create, svcKind, "apps", svc), code: http.StatusBadRequest, msg: "this webhook mutates v1 Pods"},
		{name: "non-pod object", body: review(t, admissionv1.Create, podKind, "apps", svc), code: http.StatusBadRequest, msg: "not a v1 Pod"},
		{name: "object not json", body: review(t, admissionv1.Create, podKind, "apps", "a string"), code: http.StatusBadRequest, msg: "decode"},
		{name: "a pod field of the wrong type", body: review(t, admissionv1.Create, podKind, "apps", json.RawMessage(`{"spec":{"containers":"x"}}`)),
			code: http.StatusBadRequest, msg: "decode pod"},
		{name: "no object", body: review(t, admissionv1.Create, podKind, "apps", nil), code: http.StatusBadRequest, msg: "no object"},
		{name: "delete", body: review(t, admissionv1.Delete, podKind, "apps", testPod(nil)), code: http.StatusBadRequest, msg: "operation DELETE is not handled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			resp := post(t, h, tc.body, ct)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%+v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if (len(resp.Patch) > 0) != tc.patched {
				t.Fatalf("patch %s, want patched %v", resp.Patch, tc.patched)
			}
			if tc.code != 0 && (resp.Result == nil || resp.Result.Code != tc.code) {
				t.Fatalf("result %+v, want code %d", resp.Result, tc.code)
			}
			if tc.msg != "" && !strings.Contains(resp.Result.Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", resp.Result.Message, tc.msg)
			}
		})
	}
}

// podReview, the one-pass decode, reads a pod's review as the general decode
// of the review and then of its object does: every field of the request, and
// the same pod.
func TestPodReviewDecodesTheWholeRequest(t *testing.T) {
	dry := true
	pod := withCommands(testPod(nil))
	raw, _ := json.Marshal(pod)
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "u-1", Kind: podKind, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			RequestKind: &podKind, RequestResource: &metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name: "web-1", Namespace: "apps", Operation: admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:apps:deployer", Groups: []string{"system:serviceaccounts"}},
			Object:   runtime.RawExtension{Raw: raw}, DryRun: &dry,
			Options: runtime.RawExtension{Raw: []byte(`{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}`)},
		},
	}
	body, _ := json.Marshal(ar)
	fast, ok := decodePodReview(body)
	if !ok {
		t.Fatal("the one-pass decode refused a review the API server could send")
	}
	if !equality.Semantic.DeepEqual(fast.Request.Object, pod) {
		t.Fatalf("the pod differs:\n%+v\nwant\n%+v", fast.Request.Object, pod)
	}
	checkSameReview(t, body, fast)
}

// TestPodReviewFallsBack: what the one-pass decode takes and what it leaves
// to the general decode, whose answers it must give either way.
func TestPodReviewFallsBack(t *testing.T) {
	for _, c := range []struct {
		name, body string
		onePass    bool
	}{
		{"names in another case, as encoding/json matches them", `{"request":{"uid":"u","object":{"Metadata":{"NAME":"a"},"spec":{"containers":[{"name":"c"}]}}}}`, true},
		{"a name with '_' where v1 sees another name", `{"request":{"object":{"metadata":{"name":"a"},"spec":{"service_account_name":"admin","containers":[{"name":"c"}]}}}}`, true},
		{"an object key with '-'", `{"request":{"ob-ject":{"spec":{"containers":[{"name":"c"}]}}}}`, false},
		{"a null pod field", `{"request":{"object":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}}}}`, true},
		{"a name twice", `{"request":{"object":{"metadata":{"name":"a","name":"b"}}}}`, false},
		{"a name twice in two cases", `{"request":{"object":{"metadata":{"name":"a","Name":"b"}}}}`, false},
		{"invalid UTF-8", "{\"request\":{\"object\":{\"metadata\":{\"name\":\"a\xff\"}}}}", false},
		{"no object", `{"request":{"uid":"u"}}`, false},
		{"a null object", `{"request":{"object":null}}`, false},
		{"no request", `{"apiVersion":"admission.k8s.io/v1"}`, false},
		{"a pod field of the wrong type", `{"request":{"object":{"spec":{"containers":{}}}}}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fast, ok := decodePodReview([]byte(c.body))
			if ok != c.onePass {
				t.Fatalf("one pass: %v, want %v", ok, c.onePass)
			}
			if ok {
				checkSameReview(t, []byte(c.body), fast)
			}
		})
	}
}

// checkSameReview fails the test unless the general decode of body (the
// review, then its object as a Pod) gives what the one-pass decode gave.
func checkSameReview(t *testing.T, body []byte, fast podReview) {
	t.Helper()
	var general admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &general); err != nil {
		t.Fatalf("the one-pass decode took a review the general one refuses (%v): %s", err, body)
	}
	if general.Request == nil {
		t.Fatalf("the one-pass decode found a request the general one does not: %s", body)
	}
	var want corev1.Pod
	if err := json.Unmarshal(general.Request.Object.Raw, &want); err != nil {
		t.Fatalf("the one-pass decode took a pod the general one refuses (%v): %s", err, body)
	}
	general.Request.Object = runtime.RawExtension{}
	if fast.APIVersion != general.APIVersion || !reflect.DeepEqual(&fast.Request.AdmissionRequest, general.Request) {
		t.Fatalf("the request differs:\n%+v\nwant\n%+v", fast.Request.AdmissionRequest, *general.Request)
	}
	if !reflect.DeepEqual(fast.Request.Object, &want) {
		t.Fatalf("the pod differs:\n%+v\nwant\n%+v", fast.Request.Object, &want)
	}
}

// FuzzPodReview: whatever the one-pass decode takes, the general decode
// takes too and gives the same request and pod, so the two paths answer
// alike; what it refuses goes down the general path.
func FuzzPodReview(f *testing.F) {
	for _, p := range []*corev1.Pod{testPod(nil), withCommands(testPod(nil))} {
		f.Add(review(f, admissionv1.Create, podKind, "apps", p))
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","request":{"uid":"u","object":{"Metadata":{"NAME":"a","labels":{"k":"v"}},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"1.5"}}}]}}}}`))
	f.Add([]byte(`{"request":{"object":{"metadata":{"name":"a","name":"b"}}}}`))
	f.Add([]byte(`{"request":{"object":{"metadata":{"creationTimestamp":null,"annotations":{"\u00e9":"\ud800"}},"spec":{"containers":null}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := decodePodReview(body)
		if !ok {
			return
		}
		checkSameReview(t, body, fast)
	})
}

func TestHandlerLookupFailureIsError(t *testing.T) {
	lk := testLookups()
	lk.err = context.DeadlineExceeded
	resp := post(t, &Handler{Config: testConfig(), Lookups: lk}, review(t, admissionv1.Create, podKind, "apps", testPod(nil)), "application/json")
	if resp.Allowed || resp.Result.Code != http.StatusInternalServerError {
		t.Fatalf("want a 500 error, got %+v", resp.Result)
	}
}
