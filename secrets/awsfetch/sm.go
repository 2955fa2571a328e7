package awsfetch

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// maxBatchPages bounds the NextToken loop of one BatchGetSecretValue chunk.
const maxBatchPages = 20

// isAccessDenied says whether err is AWS's access denied (the identity lacks the permission).
func isAccessDenied(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode() == "AccessDeniedException" || apiErr.ErrorCode() == "AccessDenied")
}

// getSM reads one ref with GetSecretValue.
func (f *Fetcher) getSM(ctx context.Context, c SecretsManagerAPI, region string, ref spc.Ref) outcome {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Name)}
	if ref.Version != "" {
		in.VersionId = aws.String(ref.Version)
	}
	if ref.VersionLabel != "" {
		in.VersionStage = aws.String(ref.VersionLabel)
	}
	start := time.Now()
	out, err := c.GetSecretValue(ctx, in)
	f.obs.AWSCall(APIGetSecretValue, region, reasonOf(err), time.Since(start))
	if err != nil {
		return outcome{err: classified(err)}
	}
	return smValue(out.SecretString, out.SecretBinary, out.VersionId, region)
}

// smValue is the outcome of one Secrets Manager value: the value, or
// ErrLimitExceeded past secrets.MaxValueBytes.
func smValue(s *string, b []byte, version *string, region string) outcome {
	v := secrets.Fetched{VersionID: aws.ToString(version), Region: region}
	if s == nil && b != nil {
		if oc, over := overLimit("SecretBinary", len(b)); over {
			return oc
		}
		v.Value, v.Binary = secrets.NewValue(b), true
	} else {
		if oc, over := overLimit("SecretString", len(aws.ToString(s))); over {
			return oc
		}
		v.Value = secrets.NewStringValue(aws.ToString(s))
	}
	return outcome{val: v}
}

// overLimit fails a value of n bytes past secrets.MaxValueBytes.
func overLimit(field string, n int) (outcome, bool) {
	if n <= secrets.MaxValueBytes {
		return outcome{}, false
	}
	return outcome{err: kindError(ErrLimitExceeded, "%s is %d bytes, over the limit of %d bytes (secrets.MaxValueBytes)",
		field, n, secrets.MaxValueBytes)}, true
}

// batchSM reads up to 20 plain refs with BatchGetSecretValue and returns the
// refs to read again with GetSecretValue:
//   - all of them when the batch call is refused (AccessDenied: the identity
//     lacks secretsmanager:BatchGetSecretValue, remembered for this identity
//     for 15 minutes), throttled after retries (remembered for a minute: the
//     batch quota is the fleet's scarcest), or rejected for another 4xx;
//   - the ids the batch reports with an error other than not-found or
//     decryption failure (those are definitive), or does not return at all.
//
// A 5xx, network or malformed-answer failure of the batch fails all its refs
// (ErrUnavailable), so failover can take over without a second round of doomed
// calls; so do an answer over the size limit (ErrLimitExceeded) and credentials
// the identity could not get (the same for every call).
func (f *Fetcher) batchSM(ctx context.Context, c SecretsManagerAPI, idKey, region string, refs []spc.Ref, res *results) []spc.Ref {
	// Several refs can share an id ("current" spelled with and without
	// VersionLabel AWSCURRENT): each id is asked once and answers all of them.
	pending := make(map[string][]spc.Ref, len(refs))
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		if _, ok := pending[r.Name]; !ok {
			ids = append(ids, r.Name)
		}
		pending[r.Name] = append(pending[r.Name], r)
	}
	settle := func(id string, oc outcome) {
		for _, r := range pending[id] {
			res.set(r, oc)
		}
		delete(pending, id)
	}
	var token *string
	for page := 0; page < maxBatchPages && len(pending) > 0; page++ {
		start := time.Now()
		out, err := c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids, NextToken: token})
		f.obs.AWSCall(APIBatchGetSecretValue, region, reasonOf(err), time.Since(start))
		if err != nil {
			ae := classified(err)
			if _, creds := credentialsFailure(err); creds || errors.Is(ae.kind, ErrUnavailable) || errors.Is(ae.kind, ErrLimitExceeded) {
				for id := range pending {
					settle(id, outcome{err: ae})
				}
				return nil
			}
			switch {
			case isAccessDenied(err):
				f.batchSkip.skip(idKey, f.now().Add(refusedTTL))
			case errors.Is(ae.kind, ErrThrottled):
				// The SDK's retries did not get through: the fleet is over the
				// batch quota. Read this identity's secrets one by one for a while.
				f.batchSkip.skip(idKey, f.now().Add(batchThrottledTTL))
			}
			break
		}
		for i := range out.SecretValues {
			e := &out.SecretValues[i]
			for _, key := range []string{aws.ToString(e.Name), aws.ToString(e.ARN)} {
				if _, ok := pending[key]; ok && key != "" {
					settle(key, smValue(e.SecretString, e.SecretBinary, e.VersionId, region))
					break
				}
			}
		}
		for _, e := range out.Errors {
			id := aws.ToString(e.SecretId)
			if _, ok := pending[id]; !ok {
				continue
			}
			switch code := aws.ToString(e.ErrorCode); {
			case notFoundCodes[code]:
				settle(id, outcome{err: kindError(ErrNotFound, "%s: %s: %s", APIBatchGetSecretValue, code, aws.ToString(e.Message))})
			case decryptionCodes[code]:
				settle(id, outcome{err: kindError(ErrDecryption, "%s: %s: %s", APIBatchGetSecretValue, code, aws.ToString(e.Message))})
			}
			// Other per-id errors (access denied, internal, unknown) stay pending:
			// GetSecretValue gives the definitive answer.
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		token = out.NextToken
	}
	var fb []spc.Ref
	for _, id := range ids {
		fb = append(fb, pending[id]...)
	}
	return fb
}
