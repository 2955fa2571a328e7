package injector

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

const (
	testKeyID     = "AKIDINJECTOR"
	testSecretKey = "injector-secret"
	testRoleARN   = "arn:aws:iam::111122223333:role/my-app"
	testIssuer    = "https://oidc.example.test/cluster"
	seedPassword  = "supersecretpassword"
)

// seedObjects is the user's SecretProviderClass (test/examples) plus an SSM parameter.
const seedObjects = `- objectName: "my-app/db-credentials"
  objectType: "secretsmanager"
  jmesPath:
    - path: "username"
      objectAlias: "db-user"
    - path: "password"
      objectAlias: "db-password"
- objectName: "/my-app/db-port"
  objectType: "ssmparameter"
  objectAlias: "db-port"
`

func testState() fakeaws.State {
	return fakeaws.State{
		Region: "us-east-1",
		Users: []fakeaws.User{{AccessKeyID: testKeyID, SecretAccessKey: testSecretKey,
			Allow: []string{"my-app/*", "/my-app/*"}}},
		Roles: []fakeaws.Role{{ARN: testRoleARN, Allow: []string{"my-app/*", "/my-app/*"}}},
		Secrets: []fakeaws.Secret{
			{Name: "my-app/db-credentials", Value: `{"username":"admin","password":"` + seedPassword + `"}`},
			{Name: "other-app/token", Value: "not-yours"},
		},
		Parameters: []fakeaws.Parameter{{Name: "/my-app/db-port", Value: "5432"}},
	}
}

// startFake runs a fake AWS on loopback for the test.
func startFake(t testing.TB, st fakeaws.State) *fakeaws.Server {
	t.Helper()
	s, err := fakeaws.New(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testOptions are Options for an in-process run against fake: static user
// credentials, no shared config files, short backoffs.
func testOptions(t testing.TB, fake *fakeaws.Server, objects string) *Options {
	t.Helper()
	// Our own transport, whose idle connections are closed before the fake (a
	// cleanup registered after startFake's runs first): otherwise the fake's
	// graceful Close may wait 5 s for a pre-dialled connection that never sent a request.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	return &Options{
		MountPath: t.TempDir(),
		Deadline:  20 * time.Second,
		Jitter:    0,
		Params:    map[string]string{"objects": objects},
		ClassName: "default/my-spc",
		getenv:    func(string) string { return "" },
		loadConfig: func(ctx context.Context) (aws.Config, error) {
			return config.LoadDefaultConfig(ctx,
				config.WithRegion("us-east-1"),
				config.WithBaseEndpoint(fake.URL()),
				config.WithHTTPClient(client),
				config.WithSharedConfigFiles([]string{}),
				config.WithSharedCredentialsFiles([]string{}),
				config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
				config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testKeyID, testSecretKey, "")),
			)
		},
		fetch:      awsfetch.Options{MaxAttempts: 1, MaxBackoff: 20 * time.Millisecond},
		minBackoff: 10 * time.Millisecond,
		maxBackoff: 50 * time.Millisecond,
	}
}

// readFiles returns the visible files of dir (not the ..-prefixed internals) and their contents.
func readFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// entries lists every name in dir, internals included.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func kObjects(k int) string {
	var b strings.Builder
	for i := range k {
		fmt.Fprintf(&b, "- objectName: \"my-app/secret-%02d\"\n  objectType: \"secretsmanager\"\n", i)
	}
	return b.String()
}

func removeBinary() { testbin.Remove() }
