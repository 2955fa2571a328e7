package awsfetch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// currentStage is the label a ref without version or label reads (a "plain"
// read, which the batch API can serve).
const currentStage = "AWSCURRENT"

// revalidateRefs checks the previous values of Secrets Manager refs with one
// DescribeSecret per secret id. It returns the refs it settled (settled):
// those whose value still holds, each with its previous value read as of now,
// and those DescribeSecret found AWS unavailable for (ErrUnavailable, so the
// failover region is read next, without a second round of retries here); and
// those whose selected version is another one now (changed). A ref is in
// neither (to be read as usual) when its value names no version, when
// DescribeSecret fails otherwise (throttled, refused), or when the secret is
// scheduled for deletion. AccessDenied makes this identity skip revalidation
// for a while (refusedTTL).
func (f *Fetcher) revalidateRefs(ctx context.Context, id Identity, region string, prev map[spc.Ref]secrets.Fetched) (settled map[spc.Ref]outcome, changed map[spc.Ref]bool) {
	byName := map[string][]spc.Ref{}
	for ref, v := range prev {
		if ref.Type == spc.SSMParameter || v.VersionID == "" {
			continue
		}
		byName[ref.Name] = append(byName[ref.Name], ref)
	}
	if len(byName) == 0 {
		return nil, nil
	}
	smc := f.clients.SecretsManager(region, id.Credentials)
	began := f.now()
	settled, changed = make(map[spc.Ref]outcome, len(prev)), map[spc.Ref]bool{}
	var (
		mu   sync.Mutex
		jobs = make([]func(), 0, len(byName))
	)
	for name, refs := range byName {
		jobs = append(jobs, func() {
			start := time.Now()
			out, err := smc.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
			f.obs.AWSCall(APIDescribeSecret, region, reasonOf(err), time.Since(start))
			if err != nil {
				if isAccessDenied(err) {
					f.revalidateSkip.skip(id.Key, f.now().Add(refusedTTL))
				}
				if ae := classified(err); errors.Is(ae.kind, ErrUnavailable) {
					// AWS is unavailable here (5xx, network, timeouts, after the
					// SDK's retries): a read now would only retry as long again,
					// and the failover region must have its turn in time.
					mu.Lock()
					for _, ref := range refs {
						settled[ref] = outcome{err: ae}
					}
					mu.Unlock()
				}
				return
			}
			if out.DeletedDate != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ref := range refs {
				if old := prev[ref]; stillSelects(out.VersionIdsToStages, ref, old.VersionID) {
					old.ReadAt = began
					settled[ref] = outcome{val: old, revalidated: true}
				} else {
					changed[ref] = true
				}
			}
		})
	}
	runBounded(f.concurrency, jobs)
	return settled, changed
}

// stillSelects says whether ref, read now, would give the version version,
// by a secret's VersionIdsToStages: a pinned VersionId that still exists (and
// still has the ref's label, when it names one too), or the version that
// holds the ref's label (AWSCURRENT when it names none).
func stillSelects(stages map[string][]string, ref spc.Ref, version string) bool {
	if ref.Version != "" {
		got, ok := stages[ref.Version]
		return ok && ref.Version == version && (ref.VersionLabel == "" || slices.Contains(got, ref.VersionLabel))
	}
	label := ref.VersionLabel
	if label == "" {
		label = currentStage
	}
	return slices.Contains(stages[version], label)
}
