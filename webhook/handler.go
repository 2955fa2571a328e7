package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// MutatePath is the path the webhook serves pod mutation on.
const MutatePath = "/mutate-pods"

var podKind = metav1.GroupVersionKind{Group: "", Version: "v1", Kind: "Pod"}

// Handler is the admission layer over Mutate: it checks the request, decodes
// the pod, calls Mutate and turns the result into a JSON patch (typedPatch).
type Handler struct {
	// Config is the mutation configuration.
	Config Config
	// Lookups reads SecretProviderClasses and ServiceAccounts.
	Lookups Lookups
	// Metrics, when set, counts outcomes and latency.
	Metrics *Metrics
	// Log is where ServeHTTP logs (and what Handle finds in its context).
	Log logr.Logger
}

var _ admission.Handler = (*Handler)(nil)

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	return h.handleDecoded(ctx, req, nil, time.Now())
}

// handleDecoded is Handle for a request whose pod is decoded already (nil:
// decode req.Object.Raw), from start, when its decode began (the latency
// metric's start).
func (h *Handler) handleDecoded(ctx context.Context, req admission.Request, pod *corev1.Pod, start time.Time) admission.Response {
	resp, result := h.handle(ctx, req, pod)
	h.Metrics.observe(result, time.Since(start))
	// The request's logger is built only for a line that is written: its
	// values cost allocations on every admission otherwise.
	log := logr.FromContextOrDiscard(ctx)
	withRequest := func(l logr.Logger) logr.Logger {
		return l.WithValues("uid", req.UID, "namespace", req.Namespace, "name", req.Name)
	}
	switch result {
	case resultError:
		withRequest(log).Error(errors.New(resp.Result.Message), "admission failed")
	case resultDenied:
		withRequest(log).Info("pod denied", "reason", resp.Result.Message)
	case resultMutated:
		if v := log.V(1); v.Enabled() {
			withRequest(v).Info("pod mutated")
		}
	}
	return resp
}

const (
	resultMutated = "mutated"
	resultSkipped = "skipped"
	resultDenied  = "denied"
	resultError   = "error"
)

func (h *Handler) handle(ctx context.Context, req admission.Request, pod *corev1.Pod) (admission.Response, string) {
	if req.Kind != podKind {
		return admission.Errored(http.StatusBadRequest,
			fmt.Errorf("kind %s/%s %s is not handled: this webhook mutates v1 Pods", req.Kind.Group, req.Kind.Version, req.Kind.Kind)), resultError
	}
	if req.SubResource != "" {
		return admission.Allowed("subresource " + req.SubResource + " is not mutated"), resultSkipped
	}
	if req.Operation != admissionv1.Create {
		return admission.Errored(http.StatusBadRequest,
			fmt.Errorf("operation %s is not handled: register this webhook for CREATE only", req.Operation)), resultError
	}
	var err error
	if pod == nil {
		pod, err = decodePod(req.Object.Raw)
	} else {
		err = checkPodType(pod)
	}
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err), resultError
	}
	// pod is this request's own decode: the mutation changes it in place,
	// and the patch is the difference from its snapshot. Both are typed
	// values, so fields this build's API types do not know (a newer API
	// server's) are in neither, and never patched away.
	before := takeSnapshot(pod)
	defer before.release()
	out, outcome, warnings, err := mutateOwned(ctx, pod, req.Namespace, h.Config, h.Lookups)
	var denied *DeniedError
	switch {
	case errors.As(err, &denied):
		return admission.Denied(denied.Error()), resultDenied
	case err != nil:
		return admission.Errored(http.StatusInternalServerError, err), resultError
	case outcome == Skipped:
		return admission.Allowed(""), resultSkipped
	}
	patch, err := typedPatch(&before.pod, out)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("patch the pod: %w", err)), resultError
	}
	// The patch's JSON itself, not admission.Response.Patches, which
	// Complete would encode again through each operation's MarshalJSON.
	resp := admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, Patch: patch, Warnings: warnings}}
	if len(patch) > 0 {
		pt := admissionv1.PatchTypeJSONPatch
		resp.PatchType = &pt
	}
	return resp, resultMutated
}

// decodePod decodes raw as a v1 Pod.
func decodePod(raw []byte) (*corev1.Pod, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("request has no object")
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(raw, pod); err != nil {
		return nil, fmt.Errorf("decode pod: %w", err)
	}
	if err := checkPodType(pod); err != nil {
		return nil, err
	}
	return pod, nil
}

// checkPodType refuses an object that says it is something else.
func checkPodType(pod *corev1.Pod) error {
	if (pod.Kind != "" && pod.Kind != "Pod") || (pod.APIVersion != "" && pod.APIVersion != "v1") {
		return fmt.Errorf("object is %s %s, not a v1 Pod", pod.APIVersion, pod.Kind)
	}
	return nil
}
