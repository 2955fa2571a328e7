//go:build integration

package injector

import (
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// TestBinaryPerServiceEndpoints: the SDK's own per-service variables
// (AWS_ENDPOINT_URL_STS, _SECRETS_MANAGER, _SSM, as VPC endpoints are set up)
// reach each service on its own endpoint; the fake serves each on its own
// port and refuses another service's calls, so a mix-up fails (the control
// swaps two of them).
func TestBinaryPerServiceEndpoints(t *testing.T) {
	fake := startFake(t, testState())
	urls := map[string]string{}
	for _, svc := range []string{fakeaws.ServiceSTS, fakeaws.ServiceSecretsManager, fakeaws.ServiceSSM} {
		u, err := fake.StartService("127.0.0.1:0", svc)
		if err != nil {
			t.Fatal(err)
		}
		urls[svc] = u
	}
	run := func(t *testing.T, sts, sm, ssm string) (int, string) {
		p := newPod(t, fake, seedObjects)
		env := p.env[:0:0]
		for _, kv := range p.env {
			if !strings.HasPrefix(kv, "AWS_ENDPOINT_URL") {
				env = append(env, kv)
			}
		}
		p.env = append(env, "AWS_ENDPOINT_URL_STS="+sts, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+sm, "AWS_ENDPOINT_URL_SSM="+ssm)
		return p.run(t, "inject")
	}
	if code, stderr := run(t, urls[fakeaws.ServiceSTS], urls[fakeaws.ServiceSecretsManager], urls[fakeaws.ServiceSSM]); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := fake.Calls().ByAPI["fakeaws:WrongEndpoint"]; n != 0 {
		t.Fatalf("%d calls reached the wrong service's endpoint", n)
	}
	// Control: Secrets Manager and SSM swapped must fail at the fake.
	if code, _ := run(t, urls[fakeaws.ServiceSTS], urls[fakeaws.ServiceSSM], urls[fakeaws.ServiceSecretsManager]); code == 0 {
		t.Fatal("swapped endpoints succeeded: the per-service check proves nothing")
	}
	if n := fake.Calls().ByAPI["fakeaws:WrongEndpoint"]; n == 0 {
		t.Fatal("the swapped run made no call to a wrong endpoint")
	}
}
