package awsfetch

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// ssmName is the GetParameters name of a ref: name, name:version or name:label.
func ssmName(r spc.Ref) string {
	switch {
	case r.Version != "":
		return r.Name + ":" + r.Version
	case r.VersionLabel != "":
		return r.Name + ":" + r.VersionLabel
	}
	return r.Name
}

// getSSM reads up to 10 refs with one decrypted GetParameters call. Names AWS
// lists as InvalidParameters are not found. It returns the refs it could not
// match to a returned parameter; with single (one ref) a lone returned
// parameter is the answer and no parameter means not found.
func (f *Fetcher) getSSM(ctx context.Context, c SSMAPI, region string, refs []spc.Ref, single bool, res *results) []spc.Ref {
	byName := make(map[string][]spc.Ref, len(refs))
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		n := ssmName(r)
		if _, ok := byName[n]; !ok {
			names = append(names, n)
		}
		byName[n] = append(byName[n], r)
	}
	settle := func(n string, oc outcome) {
		for _, r := range byName[n] {
			res.set(r, oc)
		}
		delete(byName, n)
	}
	start := time.Now()
	out, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)})
	f.obs.AWSCall(APIGetParameters, region, reasonOf(err), time.Since(start))
	if err != nil {
		ae := classified(err)
		for _, n := range names {
			settle(n, outcome{err: ae})
		}
		return nil
	}
	for _, inv := range out.InvalidParameters {
		if _, ok := byName[inv]; ok {
			settle(inv, outcome{err: kindError(ErrNotFound, "%s: parameter, version or label does not exist (InvalidParameters)", APIGetParameters)})
		}
	}
	for i := range out.Parameters {
		p := &out.Parameters[i]
		sel := aws.ToString(p.Selector)
		if sel != "" && !strings.HasPrefix(sel, ":") {
			sel = ":" + sel
		}
		for _, key := range []string{aws.ToString(p.Name) + sel, aws.ToString(p.ARN) + sel} {
			if _, ok := byName[key]; ok {
				settle(key, ssmValue(p, region))
				break
			}
		}
	}
	if len(byName) == 0 {
		return nil
	}
	if single {
		for _, n := range names {
			if _, ok := byName[n]; !ok {
				continue
			}
			if len(out.Parameters) == 1 && len(out.InvalidParameters) == 0 {
				settle(n, ssmValue(&out.Parameters[0], region))
			} else {
				settle(n, outcome{err: kindError(ErrNotFound, "%s: parameter not returned", APIGetParameters)})
			}
		}
		return nil
	}
	var left []spc.Ref
	for _, n := range names {
		left = append(left, byName[n]...)
	}
	return left
}

// ssmValue is the outcome of one parameter: the value, or ErrLimitExceeded past
// secrets.MaxValueBytes.
func ssmValue(p *types.Parameter, region string) outcome {
	if oc, over := overLimit("the parameter value", len(aws.ToString(p.Value))); over {
		return oc
	}
	return outcome{val: secrets.Fetched{
		Value:     secrets.NewStringValue(aws.ToString(p.Value)),
		VersionID: strconv.FormatInt(p.Version, 10),
		Region:    region,
	}}
}
