package fakeaws

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// EKS Pod Identity agent endpoint: GET /v1/credentials with the pod's service-account token (audience
// pods.eks.amazonaws.com) as the Authorization header, answered with the JSON the SDK's
// endpoint-credentials provider reads (AWS_CONTAINER_CREDENTIALS_FULL_URI +
// AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]). The role comes from the podIdentityAssociations of
// the token's namespace and service account. Errors are {"code","message"} with a 4xx/5xx status.

const podIdentityAPI = "eks-auth:AssumeRoleForPodIdentity"

type podIdentityCreds struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	AccountID       string `json:"AccountId"`
	Expiration      string `json:"Expiration"`
}

func writeEndpointError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, "application/json", map[string]string{"code": e.Code, "message": e.Message})
}

func (s *Server) servePodIdentity(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	key := "anonymous"
	fx := noEffect
	creds, aerr := func() (*podIdentityCreds, *apiError) {
		if r.Method != http.MethodGet {
			return nil, newErr(http.StatusMethodNotAllowed, "InvalidRequestException", "use GET")
		}
		token := strings.TrimSpace(r.Header.Get("Authorization"))
		if token == "" {
			return nil, newErr(http.StatusBadRequest, "InvalidTokenException", "Authorization header with the service account token is required")
		}
		claims, _, terr := s.verifyToken(r.Context(), token)
		if terr != nil {
			switch terr.kind {
			case tokenExpired:
				return nil, newErr(http.StatusBadRequest, "ExpiredTokenException", "%s", terr.msg)
			case tokenFetchFailed:
				return nil, newErr(http.StatusInternalServerError, "ServiceUnavailableException", "%s", terr.msg)
			default:
				return nil, newErr(http.StatusBadRequest, "InvalidTokenException", "%s", terr.msg)
			}
		}
		if !contains(claims.Audience, PodIdentityAudience) {
			return nil, newErr(http.StatusBadRequest, "InvalidTokenException", "token audience must be %s", PodIdentityAudience)
		}
		ns, sa := serviceAccountOf(claims)
		if ns == "" {
			return nil, newErr(http.StatusBadRequest, "InvalidTokenException", "token is not a Kubernetes service account token")
		}
		key = "system:serviceaccount:" + ns + ":" + sa
		fx = s.applyFaults(r.Context(), podIdentityAPI, s.region, key, protoPodIdentity)
		if fx.err != nil {
			return nil, fx.err
		}
		s.stalled(r, fx, podIdentityAPI, key, s.region, start)
		s.mu.Lock()
		defer s.mu.Unlock()
		var roleARN string
		for _, a := range s.pia {
			if a.Namespace == ns && a.ServiceAccount == sa {
				roleARN = a.RoleARN
			}
		}
		if roleARN == "" {
			return nil, newErr(http.StatusBadRequest, "ResourceNotFoundException", "no pod identity association for service account %s/%s", ns, sa)
		}
		if s.roles[roleARN] == nil {
			return nil, newErr(http.StatusForbidden, "AccessDeniedException", "role %s of the pod identity association does not exist", roleARN)
		}
		key = roleARN
		name := "eks-pod-identity-" + ns + "-" + sa
		if len(name) > 64 {
			name = name[:64]
		}
		se := s.issueSession(roleARN, name, s.credTTL, "podidentity")
		return &podIdentityCreds{
			AccessKeyID: se.akid, SecretAccessKey: se.secret, Token: se.token,
			AccountID: accountFromARN(roleARN), Expiration: se.expires.UTC().Format(time.RFC3339),
		}, nil
	}()
	s.record(podIdentityAPI, key, s.region, aerr)
	s.logCall(podIdentityAPI, key, s.region, aerr, time.Since(start))
	if aerr != nil {
		writeEndpointError(w, aerr)
		return
	}
	b, err := json.Marshal(creds)
	if err != nil {
		http.Error(w, "fakeaws: encode response", http.StatusInternalServerError)
		return
	}
	deliver(w, r, fx, http.StatusOK, "application/json", b)
}

// serviceAccountOf reads namespace and name from the kubernetes.io claim or the sub.
func serviceAccountOf(c *tokenClaims) (ns, sa string) {
	if c.K8s != nil && c.K8s.Namespace != "" && c.K8s.ServiceAccount.Name != "" {
		return c.K8s.Namespace, c.K8s.ServiceAccount.Name
	}
	parts := strings.Split(c.Subject, ":")
	if len(parts) == 4 && parts[0] == "system" && parts[1] == "serviceaccount" {
		return parts[2], parts[3]
	}
	return "", ""
}
