package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// maxReviewBytes bounds an AdmissionReview's body: the API server sends at
// most its own request limit (3 MiB) plus the review's envelope.
const maxReviewBytes = 7 << 20

// reviewVersions are the AdmissionReview versions served (the chart
// registers v1; v1beta1 has the same shape); the answer takes the request's.
var reviewVersions = map[string]bool{"admission.k8s.io/v1": true, "admission.k8s.io/v1beta1": true}

// bodyBuffers hold request bodies between requests: a review's decode
// copies the strings and the raw object it keeps, so the body's buffer is
// free once serve returns.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody bounds the buffers kept for reuse: a rare large pod's body
// is not held for good.
const maxPooledBody = 256 << 10

func releaseBody(b *bytes.Buffer) {
	if b.Cap() > maxPooledBody {
		return
	}
	b.Reset()
	bodyBuffers.Put(b)
}

// ServeHTTP answers an AdmissionReview with Handle's response: what
// controller-runtime's admission.Webhook does, with one JSON decode of the
// review instead of its scheme's two (a type sniff, then the decode), which
// the profile put at a sixth of the webhook's CPU. A panic in Handle is an
// error answer, never the end of the process.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ar, resp := h.serve(r)
	ar.Response = &resp.AdmissionResponse
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(ar); err != nil {
		h.Log.Error(err, "write the admission response", "uid", resp.UID)
	}
}

// serve decodes the review and runs Handle; the returned review carries the
// request's apiVersion and kind for the answer.
func (h *Handler) serve(r *http.Request) (ar admissionv1.AdmissionReview, resp admission.Response) {
	ar.APIVersion, ar.Kind = "admission.k8s.io/v1", "AdmissionReview"
	bad := func(code int32, err error) (admissionv1.AdmissionReview, admission.Response) {
		h.Log.Error(err, "bad admission request")
		return ar, admission.Errored(code, err)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return bad(http.StatusBadRequest, errors.New("request body is empty"))
	}
	defer func() { _ = r.Body.Close() }()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return bad(http.StatusBadRequest, fmt.Errorf("content type %q: send application/json", r.Header.Get("Content-Type")))
	}
	if r.ContentLength > maxReviewBytes {
		return bad(http.StatusRequestEntityTooLarge, fmt.Errorf("request over %d bytes", maxReviewBytes))
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer releaseBody(buf) // the decode below copies what it keeps
	if r.ContentLength > 0 {
		// One read to EOF, no regrowth; a declared length is not trusted
		// beyond what the pool keeps (a larger body grows as it arrives).
		buf.Grow(int(min(r.ContentLength, maxPooledBody)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxReviewBytes+1)); err != nil {
		return bad(http.StatusBadRequest, fmt.Errorf("read the request: %w", err))
	}
	if buf.Len() > maxReviewBytes {
		return bad(http.StatusRequestEntityTooLarge, fmt.Errorf("request over %d bytes", maxReviewBytes))
	}
	body := buf.Bytes()
	var err error
	onWarmStack(func() { ar, resp, err = h.admit(r.Context(), ar, body) })
	if err != nil {
		return bad(http.StatusBadRequest, err)
	}
	return ar, resp
}

// admit decodes the review in body and runs Handle: the CPU of an admission
// (see onWarmStack). An error is the request's: it answers 400.
//
// The review is decoded in one pass, the object as a Pod with the review
// (podReview, see decodePodReview); encoding/json would otherwise scan the
// pod's bytes four times (the review's validity check and decode, the pod's)
// and copy them once. handle checks the kind and the operation either way. A
// review whose object is missing or does not decode so takes the general
// decode, whose errors name what is wrong.
func (h *Handler) admit(ctx context.Context, ar admissionv1.AdmissionReview, body []byte) (admissionv1.AdmissionReview, admission.Response, error) {
	start := time.Now()
	var pod *corev1.Pod
	var in admissionv1.AdmissionReview
	if fast, ok := decodePodReview(body); ok {
		in.APIVersion, in.Request, pod = fast.APIVersion, &fast.Request.AdmissionRequest, fast.Request.Object
	} else if err := json.Unmarshal(body, &in); err != nil {
		return ar, admission.Response{}, fmt.Errorf("decode the AdmissionReview: %w", err)
	}
	if in.Request == nil {
		return ar, admission.Response{}, errors.New("the AdmissionReview has no request")
	}
	if reviewVersions[in.APIVersion] {
		ar.APIVersion = in.APIVersion
	}
	req := admission.Request{AdmissionRequest: *in.Request}
	resp := h.handleSafely(logr.NewContext(ctx, h.Log), req, pod, start)
	// Complete sets the UID and the status code and encodes the patch.
	if err := resp.Complete(req); err != nil {
		resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode the patch: %w", err))
		resp.UID = req.UID
	}
	return ar, resp, nil
}

// decodePodReview is the one-pass decode of a review with a pod; false when
// the review has no object or it does not decode as one. A panic in a type's
// UnmarshalJSON is false too: the general path decodes the pod again inside
// handleSafely, which answers it.
//
// It decodes with encoding/json/v2 (the go-json-experiment module, the
// package Go 1.27 ships as encoding/json/v2): a quarter less CPU per
// admission than v1 (BenchmarkServeHTTP) and a quarter fewer allocations. The
// types' own UnmarshalJSON methods (Quantity, Time, IntOrString) run as in
// v1, and names match in any case, only in case, as in v1. What v2 refuses
// and v1 takes, a name given twice or invalid UTF-8, is false here, so the
// general decode answers it as before; FuzzPodReview checks that whatever v2
// takes, v1 gives the same request and pod.
func decodePodReview(body []byte) (r podReview, ok bool) {
	defer func() {
		if recover() != nil {
			r, ok = podReview{}, false
		}
	}()
	if jsonv2.Unmarshal(body, &r, reviewOptions) != nil || r.Request == nil || r.Request.Object == nil {
		return podReview{}, false
	}
	return r, true
}

// reviewOptions match names in any case, as encoding/json v1 does, and only
// in case: v2's own folding also ignores '_' and '-', which v1 does not
// (service_account_name is not serviceAccountName).
var reviewOptions = jsonv2.JoinOptions(jsonv2.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true))

// podReview is an AdmissionReview whose object is decoded as a Pod in the
// review's own decode: its Object shadows AdmissionRequest's (both
// encoding/json versions take the shallower of two fields of one name), which
// stays empty.
type podReview struct {
	APIVersion string      `json:"apiVersion"`
	Request    *podRequest `json:"request"`
}

type podRequest struct {
	admissionv1.AdmissionRequest
	Object *corev1.Pod `json:"object"`
}

// handleSafely is handleDecoded, with a panic turned into an error answer.
func (h *Handler) handleSafely(ctx context.Context, req admission.Request, pod *corev1.Pod, start time.Time) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			h.Metrics.observe(resultError, 0)
			h.Log.Error(fmt.Errorf("panic: %v", p), "admission failed", "uid", req.UID, "namespace", req.Namespace)
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("panic: %v [recovered]", p))
		}
	}()
	return h.handleDecoded(ctx, req, pod, start)
}
