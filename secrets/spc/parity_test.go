package spc

import (
	"strings"
	"testing"
)

// parity is how a class fares with the AWS provider (ASCP) and with us.
type parity int

const (
	// bothAccept: ASCP accepts it, so do we, without a warning on it.
	bothAccept parity = iota
	// weWarn: ASCP accepts it; we accept it with a warning at each of warn
	// (a key it ignores, one of its looser rules), and refuse it with
	// Options.Strict.
	weWarn
	// weRefuse: ASCP accepts it; we refuse it at field because it would harm
	// the node or the pod, and the problem says why.
	weRefuse
	// bothRefuse: ASCP refuses it, so do we.
	bothRefuse
	// onlyWeAccept: ASCP refuses it; we accept it (its rule is stricter than
	// the input needs).
	onlyWeAccept
)

// objs builds parameters: the objects YAML and key/value pairs.
func objs(objects string, kv ...string) map[string]string {
	p := map[string]string{"objects": objects}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

// TestASCPParity: each case mirrors one kind of input of the AWS provider's
// own tests (named in ascp: file and test), in our own YAML. ASCP's fake
// regions (fakeRegion, fakeBackupRegion) become real region codes: we check
// them, ASCP does not. The verdict table is summed up in doc.go.
func TestASCPParity(t *testing.T) {
	const (
		desc   = "provider/secret_descriptor_test.go "
		server = "server/server_test.go "
		fuzz   = "provider/secret_descriptor_fuzz_test.go "
	)
	cases := []struct {
		ascp    string
		params  map[string]string
		verdict parity
		files   []string // bothAccept, weWarn: the planned files, when given
		warn    []string // weWarn: fields with a warning
		field   string   // weRefuse: the field refused
	}{
		// --- Accepted by both.
		{ascp: desc + "TestSSMWithArn", params: objs(`
- objectName: "arn:aws:ssm:us-west-2:123456789012:parameter/app-port"`, "region", "us-west-2"),
			files: []string{"arn:aws:ssm:us-west-2:123456789012:parameter_app-port"}},
		{ascp: desc + "TestNewDescriptorList", params: objs(`
- {objectName: one, objectType: secretsmanager}
- {objectName: two, objectType: ssmparameter}
- {objectName: three, objectType: ssmparameter, objectAlias: myParam}`, "region", "us-west-2", "pathTranslation", "_"),
			files: []string{"one", "two", "myParam"}},
		{ascp: desc + "TestGetPath", params: objs(`
- {objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:db", objectAlias: db}
- {objectName: param1, objectType: ssmparameter}`, "region", "us-west-2"),
			files: []string{"db", "param1"}},
		{ascp: desc + "TestNotTraversal (\"..\" inside an element)", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:..dots-abc123"
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:dir../dots-abc123"
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:trailing.."
- {objectName: "dir../param", objectType: ssmparameter}
- {objectName: "param..", objectType: ssmparameter}`, "region", "us-west-2", "pathTranslation", "False"),
			files: []string{"arn:aws:secretsmanager:us-west-2:123456789012:secret:..dots-abc123",
				"arn:aws:secretsmanager:us-west-2:123456789012:secret:dir../dots-abc123",
				"arn:aws:secretsmanager:us-west-2:123456789012:secret:trailing..", "dir../param", "param.."}},
		{ascp: desc + "TestConflictingNameAndNotAliasWoVersionLabel", params: objs(`
- {objectName: shared, objectAlias: first, objectType: ssmparameter}
- {objectName: shared, objectAlias: second, objectType: ssmparameter}`, "region", "us-west-2"),
			files: []string{"first", "second"}},
		{ascp: desc + "TestConflictingNameAndNotAliasWithVersionLabel, TestConflictingNameWithAliasAndVersionLabel", params: objs(`
- {objectName: shared, objectAlias: current, objectVersionLabel: AWSCURRENT, objectType: ssmparameter}
- {objectName: shared, objectAlias: previous, objectVersionLabel: AWSPREVIOUS, objectType: ssmparameter}`, "region", "us-west-2"),
			files: []string{"current", "previous"}},
		{ascp: desc + "TestBackupArnSuccess", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-1:123456789012:secret:db"
  failoverObject: {objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:db"}
  objectAlias: db`, "region", "us-west-1", "failoverRegion", "us-west-2"),
			files: []string{"db"}},
		{ascp: desc + "TestGetPathForMultiregion", params: objs(`
- objectName: primary-param
  objectType: ssmparameter
  failoverObject:
    objectName: replica-param
  objectAlias: param`, "region", "us-west-1", "failoverRegion", "us-west-2"),
			files: []string{"param"}},
		{ascp: desc + "TestValidateDescriptorFilePermission/DescriptorValidPermission, TestGetJmesEntrySecretDescriptor/OverrideParent", params: objs(`
- objectName: app
  objectType: secretsmanager
  filePermission: "0600"
  jmesPath:
    - {path: user, objectAlias: user, filePermission: "0700"}
    - {path: pass, objectAlias: pass, filePermission: "0777"}`, "region", "us-west-2"),
			files: []string{"app", "user", "pass"}},
		{ascp: fuzz + "FuzzNewSecretDescriptorList (seeds)", params: objs(`
- {objectName: my/path/secret, objectType: secretsmanager}
- {objectName: label-param, objectType: ssmparameter, objectAlias: alias1, objectVersionLabel: AWSCURRENT}`, "region", "us-east-1", "pathTranslation", "-"),
			files: []string{"my-path-secret", "alias1"}},
		{ascp: server + "TestMounts/New Mount Success, Big Batch Success", params: objs(`
- {objectName: secret1, objectType: secretsmanager}
- {objectName: binary1, objectType: secretsmanager}
- {objectName: param1, objectType: ssmparameter}
- {objectName: param2, objectType: ssmparameter}
- {objectName: param3, objectType: ssmparameter}
- {objectName: param4, objectType: ssmparameter}
- {objectName: param5, objectType: ssmparameter}
- {objectName: param6, objectType: ssmparameter}
- {objectName: param7, objectType: ssmparameter}
- {objectName: param8, objectType: ssmparameter}
- {objectName: param9, objectType: ssmparameter}
- {objectName: param10, objectType: ssmparameter}
- {objectName: param11, objectType: ssmparameter}`, "region", "us-west-2")},
		{ascp: server + "TestMounts/Multi Region Success", params: objs(`
- {objectName: secret1, objectType: secretsmanager}
- {objectName: param1, objectType: ssmparameter}`, "region", "us-west-2", "failoverRegion", "us-east-2"),
			files: []string{"secret1", "param1"}},
		{ascp: server + "TestMounts/Mount Json Success", params: objs(`
- objectName: db
  objectType: secretsmanager
  jmesPath:
    - {path: dbUser.username, objectAlias: username}
    - {path: dbUser.password, objectAlias: password}
- objectName: dbParam
  objectType: ssmparameter
  jmesPath:
    - {path: dbUser.username, objectAlias: ssmUsername}`, "region", "us-west-2"),
			files: []string{"db", "username", "password", "dbParam", "ssmUsername"}},
		{ascp: server + "TestMounts/Mount Json Success-specify ARN", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:db-ABc123"
  objectAlias: db
  jmesPath:
    - {path: dbUser.username, objectAlias: username}`, "region", "us-west-2"),
			files: []string{"db", "username"}},
		{ascp: server + "TestMounts/Success With Slash", params: objs(`
- {objectName: mypath/secret1, objectType: secretsmanager}
- {objectName: mypath/param1, objectType: ssmparameter}`, "region", "us-west-2"),
			files: []string{"mypath_secret1", "mypath_param1"}},
		{ascp: server + "TestMounts/Slash to dash", params: objs(`
- {objectName: mypath/secret1, objectType: secretsmanager}`, "region", "us-west-2", "pathTranslation", "-"),
			files: []string{"mypath-secret1"}},
		{ascp: server + "TestMounts/Leading Slash OK", params: objs(`
- {objectName: /secret1, objectType: secretsmanager}
- {objectName: /param1, objectType: ssmparameter}`, "region", "us-west-2", "pathTranslation", "False"),
			files: []string{"secret1", "param1"}},
		{ascp: server + "TestMountsNoWrite/Full path OK", params: objs(`
- {objectName: /mypath/secret1, objectType: secretsmanager}
- {objectName: /mypath/param1, objectType: ssmparameter}`, "region", "us-west-2", "pathTranslation", "False"),
			files: []string{"mypath/secret1", "mypath/param1"}},
		{ascp: server + "remountTests/Initial Mount Success", params: objs(`
- {objectName: secret1, objectType: secretsmanager}
- {objectName: secret2, objectType: secretsmanager, objectVersionLabel: custom}
- {objectName: secret3, objectType: secretsmanager, objectVersion: secret3-1}
- {objectName: secretJSON, objectType: secretsmanager, jmesPath: [{path: username, objectAlias: username}]}
- {objectName: param1, objectType: ssmparameter, objectVersionLabel: current}
- {objectName: param2, objectType: ssmparameter, objectVersion: "1"}`, "region", "us-west-2")},
		{ascp: "tests/BasicTestMountSPC-PodIdentity.yaml", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:SecretsManagerTest2"
  objectAlias: "SecretsManagerTest2"
  failoverObject:
    objectName: "arn:aws:secretsmanager:us-east-2:123456789012:secret:SecretsManagerTest2"
- objectName: "jsonSsm"
  objectType: "ssmparameter"
  jmesPath:
    - Path: "username"
      ObjectAlias: "ssmUsername"`, "region", "us-west-2", "failoverRegion", "us-east-2", "usePodIdentity", "true"),
			files: []string{"SecretsManagerTest2", "jsonSsm", "ssmUsername"}},

		// --- Accepted by ASCP, by us with a warning (refused with Strict).
		{ascp: desc + "TestVersionidsMatch", params: objs(`
- objectName: primary-param
  objectType: ssmparameter
  objectVersion: VersionId
  failoverObject: {objectName: replica-param, objectVersion: VersionId}
  objectAlias: param`, "region", "us-west-1", "failoverRegion", "us-west-2"),
			verdict: weWarn, warn: []string{"objects[0].objectVersion"}, files: []string{"param"}},
		{ascp: server + "TestMounts/Multi Region Secrets Manager Backup Arn Success", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:db-ABc123"
  backupArn: "arn:aws:secretsmanager:us-east-2:123456789012:secret:db-backup-12345"
  objectType: secretsmanager
  objectAlias: db`, "region", "us-west-2", "failoverRegion", "us-east-2"),
			verdict: weWarn, warn: []string{"objects[0].backupArn", "objects[0].failoverObject"}, files: []string{"db"}},
		{ascp: server + "TestMounts/Multi Region Failover Descriptor Batch Success", params: objs(`
- {objectName: param13, objectType: ssmparameter}
- objectName: param15
  objectType: ssmparameter
  objectVersion: VersionId
  failoverObject: {objectName: param15-replica, objectVersion: VersionId}
  inFallback: "true"
  objectAlias: param15-alias`, "region", "us-west-2", "failoverRegion", "us-east-2"),
			verdict: weWarn, warn: []string{"objects[1].objectVersion", "objects[1].inFallback"}, files: []string{"param13", "param15-alias"}},
		{ascp: "tests/BasicTestMountSPC.yaml", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:SecretsManagerTest2"
  objectAlias: "SecretsManagerTest2"
- objectName: "secretsManagerJson"
  objectType: "secretsmanager"
  jmesPath:
    - Path: "username"
      ObjectAlias: "secretsManagerUsername"
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:SMSecret"
  failoverObject:
    objectName: "arn:aws:secretsmanager:us-east-2:123456789012:secret:SMBackupSecret"
  ObjectAlias: "smFailOverSecret"`, "failoverRegion", "us-east-2"),
			verdict: weWarn, warn: []string{"objects[0].failoverObject"},
			files: []string{"SecretsManagerTest2", "secretsManagerJson", "secretsManagerUsername", "smFailOverSecret"}},

		// --- Accepted by ASCP, refused by us with a Why.
		{ascp: desc + "TestNotTraversal (an element starting with \"..\" after the ARN's slash)", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:/..dots-abc123"`, "region", "us-west-2", "pathTranslation", "False"),
			verdict: weRefuse, field: "objects[0].objectName"},
		{ascp: desc + "TestNotTraversal (\"/..mypath\": the leading slash is dropped)", params: objs(`
- {objectName: "/..mypath", objectType: ssmparameter}`, "region", "us-west-2", "pathTranslation", "False"),
			verdict: weRefuse, field: "objects[0].objectName"},
		{ascp: desc + "TestNotTraversal (\"..mypath\")", params: objs(`
- {objectName: "..mypath", objectType: ssmparameter}`, "region", "us-west-2", "pathTranslation", "False"),
			verdict: weRefuse, field: "objects[0].objectName"},
		{ascp: desc + "TestConflictingNameAndNotVersionLabelWoAlias", params: objs(`
- {objectName: shared, objectVersionLabel: AWSCURRENT, objectType: ssmparameter}
- {objectName: shared, objectVersionLabel: AWSPREVIOUS, objectType: ssmparameter}`, "region", "us-west-2"),
			verdict: weRefuse, field: "objects[1].objectName"},

		// --- Refused by ASCP, accepted by us.
		{ascp: desc + "TestFallbackNonARNStillNeedsObjectType (the type comes from the primary ARN)", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-1:123456789012:secret:s"
  failoverObject: {objectName: MySecret}
  objectAlias: test`, "region", "us-west-1", "failoverRegion", "us-west-2"),
			verdict: onlyWeAccept, files: []string{"test"}},

		// --- Refused by both.
		{ascp: desc + "TestNoNamePresent; " + server + "Fail Descriptors", params: objs(`
- {objectName: secret1, objectType: secretsmanager}
- {objectType: ssmparameter}`), verdict: bothRefuse},
		{ascp: desc + "TestNoTypePresent", params: objs(`- {objectName: "arn::"}`), verdict: bothRefuse},
		{ascp: desc + "TestUnknownService", params: objs(`- {objectName: "arn:aws:sts:us-west-2:123456789012:parameter/x"}`), verdict: bothRefuse},
		{ascp: desc + "TestNoObjectTypeWoArn", params: objs(`- {objectName: SomeSecret}`), verdict: bothRefuse},
		{ascp: desc + "TestInvalidObjectType", params: objs(`- {objectName: SomeName, objectType: sts}`), verdict: bothRefuse},
		{ascp: desc + "TestSSMObjectType", params: objs(`- {objectName: SomeName, objectType: ssm}`), verdict: bothRefuse},
		{ascp: desc + "TestObjectTypeMisMatchArn", params: objs(`- {objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:x", objectType: ssmparameter}`, "region", "us-west-2"), verdict: bothRefuse},
		{ascp: desc + "TestSSMBothVersionandLabel", params: objs(`- {objectName: p, objectType: ssmparameter, objectVersion: "2", objectVersionLabel: l}`), verdict: bothRefuse},
		{ascp: desc + "TestConflictingNameWoAliasAndVersionLabel", params: objs(`
- {objectName: shared, objectType: ssmparameter}
- {objectName: shared, objectType: ssmparameter}`), verdict: bothRefuse},
		{ascp: desc + "TestConflictingNameAndAliasWoVersionLabel, TestConflictingNameAndAliasWithVersionLabel, TestConflictingNameAndVersionLabelAndAlias", params: objs(`
- {objectName: shared, objectAlias: same, objectVersionLabel: AWSCURRENT, objectType: ssmparameter}
- {objectName: shared, objectAlias: same, objectVersionLabel: AWSPREVIOUS, objectType: ssmparameter}`), verdict: bothRefuse},
		{ascp: desc + "TestConflictingNameAndVersionLabelWoAlias", params: objs(`
- {objectName: shared, objectVersionLabel: AWSCURRENT, objectType: ssmparameter}
- {objectName: shared, objectVersionLabel: AWSCURRENT, objectType: ssmparameter}`), verdict: bothRefuse},
		{ascp: desc + "TestConflictingAlias", params: objs(`
- {objectName: one, objectType: ssmparameter, objectAlias: same}
- {objectName: two, objectType: ssmparameter, objectAlias: same}`), verdict: bothRefuse},
		{ascp: desc + "TestConflictingAliasJMES", params: objs(`
- {objectName: one, objectType: ssmparameter, objectAlias: same}
- {objectName: two, objectType: ssmparameter, jmesPath: [{path: username, objectAlias: same}]}`), verdict: bothRefuse},
		{ascp: desc + "TestMissingAliasJMES", params: objs(`- {objectName: two, objectType: ssmparameter, jmesPath: [{path: username}]}`), verdict: bothRefuse},
		{ascp: desc + "TestMissingPathJMES", params: objs(`- {objectName: two, objectType: ssmparameter, jmesPath: [{objectAlias: user}]}`), verdict: bothRefuse},
		{ascp: desc + "TestBadYaml", params: objs("- objectName: secret1\n  objectType: secretsmanager\n- {"), verdict: bothRefuse},
		{ascp: desc + "TestErrorYaml", params: objs("- objectName: secret1"), verdict: bothRefuse},
		{ascp: desc + "TestBadTrans; " + server + "Fail pathTranslation", params: objs(`- {objectName: secret1, objectType: secretsmanager}`, "pathTranslation", "--"), verdict: bothRefuse},
		{ascp: desc + "TestTraversal (ARN)", params: objs(`- objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:mypath/../../pathTest"`, "region", "us-west-2", "pathTranslation", "False"), verdict: bothRefuse},
		{ascp: desc + "TestTraversal (name)", params: objs(`- {objectName: "mypath/..", objectType: ssmparameter}`, "pathTranslation", "False"), verdict: bothRefuse},
		{ascp: server + "Fail Write Param", params: objs(`- {objectName: "../param1", objectType: ssmparameter}`, "pathTranslation", "False"), verdict: bothRefuse},
		{ascp: server + "Fail Write Secret", params: objs(`- {objectName: "./../secret1", objectType: secretsmanager}`, "pathTranslation", "False"), verdict: bothRefuse},
		{ascp: server + "Region Equals FallbackRegion Fail", params: objs(`- {objectName: s, objectType: secretsmanager}`, "region", "us-west-2", "failoverRegion", "us-west-2"), verdict: bothRefuse},
		{ascp: desc + "TestFallbackObjectRequiresAlias", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-1:123456789012:secret:s"
  failoverObject: {objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:s"}`, "region", "us-west-1", "failoverRegion", "us-west-2"), verdict: bothRefuse},
		{ascp: desc + "TestBackupArnMustBePairedWithObjectType", params: objs(`
- objectName: MySecret
  objectAlias: test
  failoverObject: {objectName: "arn:aws:secretsmanager:us-west-1:123456789012:secret:s"}`, "region", "us-west-2", "failoverRegion", "us-west-1"), verdict: bothRefuse},
		{ascp: desc + "TestBackupArnDoesNotMatchType, TestBackupArnInvalidType", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-1:123456789012:secret:s"
  failoverObject: {objectName: "arn:aws:bad:us-west-2:123456789012:secret:s"}
  objectAlias: test`, "region", "us-west-1", "failoverRegion", "us-west-2"), verdict: bothRefuse},
		{ascp: desc + "TestPrimaryArnRequiresRegionMatch", params: objs(`- {objectName: "arn:aws:secretsmanager:us-west-1:123456789012:secret:s", objectAlias: test}`, "region", "us-west-2"), verdict: bothRefuse},
		{ascp: desc + "TestBackupArnRequiresRegionMatch", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-1:123456789012:secret:s"
  failoverObject: {objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:s"}
  objectAlias: test`, "region", "us-west-1", "failoverRegion", "us-east-2"), verdict: bothRefuse},
		{ascp: desc + "TestFallbackDataRequiresMultipleRegions", params: objs(`
- objectName: "arn:aws:secretsmanager:us-west-1:123456789012:secret:s"
  failoverObject: {objectName: "arn:aws:secretsmanager:us-west-2:123456789012:secret:s"}
  objectAlias: test`, "region", "us-west-1"), verdict: bothRefuse},
		{ascp: desc + "TestObjectVersionAndLabelAreIncompatible", params: objs(`
- objectName: MySecret1
  objectType: ssmparameter
  failoverObject: {objectName: replica, objectVersion: "1", objectVersionLabel: MyLabel}
  objectAlias: test`, "region", "us-west-1", "failoverRegion", "us-west-2"), verdict: bothRefuse},
		{ascp: desc + "TestVersionIdsMustMatch", params: objs(`
- objectName: MySecret1
  objectType: ssmparameter
  objectVersion: "1"
  failoverObject: {objectName: replica, objectVersion: "2"}
  objectAlias: test`, "region", "us-west-1", "failoverRegion", "us-west-2"), verdict: bothRefuse},
		{ascp: desc + "TestValidateDescriptorFilePermission/DescriptorInvalidPermission, TestValidateFilePermission", params: objs(`- {objectName: foo, objectType: secretsmanager, filePermission: abcd}`), verdict: bothRefuse},
		{ascp: desc + "TestValidateDescriptorFilePermission/DescriptorInvalidjmesPermission", params: objs(`- {objectName: foo, objectType: secretsmanager, jmesPath: [{path: bar, objectAlias: foobar, filePermission: efgh}]}`), verdict: bothRefuse},
		{ascp: desc + "TestValidateFilePermission/ShortFilePermission, LongFilePermission", params: objs(`
- {objectName: a, objectType: secretsmanager, filePermission: "000"}
- {objectName: b, objectType: secretsmanager, filePermission: "00000"}`), verdict: bothRefuse},
	}
	for _, tc := range cases {
		t.Run(tc.ascp, func(t *testing.T) {
			r := Check(tc.params, Options{})
			switch tc.verdict {
			case bothAccept, weWarn, onlyWeAccept:
				if len(r.Errors) > 0 || r.Spec == nil {
					t.Fatalf("refused what ASCP accepts: %v", (&InvalidError{Issues: r.Errors}).Error())
				}
				if tc.files != nil {
					var got []string
					for _, p := range r.Spec.Plan() {
						got = append(got, p.Path)
					}
					if strings.Join(got, ",") != strings.Join(tc.files, ",") {
						t.Errorf("files %q, want %q (ASCP's file names)", got, tc.files)
					}
				}
				warned := map[string]bool{}
				for _, w := range r.Warnings {
					warned[w.Field] = true
				}
				for _, f := range tc.warn {
					if !warned[f] {
						t.Errorf("no warning at %s; warnings: %v", f, r.Warnings)
					}
				}
				if tc.verdict != weWarn {
					for _, w := range r.Warnings {
						if strings.HasPrefix(w.Field, "objects[") {
							t.Errorf("unexpected warning %v", w)
						}
					}
					return
				}
				strict := Check(tc.params, Options{Strict: true})
				failed := map[string]bool{}
				for _, e := range strict.Errors {
					failed[e.Field] = true
				}
				for _, f := range tc.warn {
					if !failed[f] {
						t.Errorf("Strict: no error at %s; errors: %v", f, strict.Errors)
					}
				}
			case weRefuse:
				if r.Spec != nil {
					t.Fatal("accepted; want it refused with a Why")
				}
				var found bool
				for _, e := range r.Errors {
					if e.Field == tc.field && strings.HasPrefix(e.Why, "the AWS provider accepts this") && strings.Contains(e.Error(), e.Why) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error at %s with a Why; got %v", tc.field, (&InvalidError{Issues: r.Errors}).Error())
				}
			case bothRefuse:
				if r.Spec != nil || len(r.Errors) == 0 {
					t.Fatal("accepted what ASCP refuses")
				}
			}
		})
	}
}

// The class of ASCP's integration test (tests/BasicTestMountSPC.yaml) as a
// whole manifest: keys in either case, an ARN without a failoverObject, and
// secretObjects naming an object's file and jmesPath aliases.
func TestASCPIntegrationManifest(t *testing.T) {
	c, err := DecodeClass([]byte(`apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: integration
spec:
  provider: aws
  secretObjects:
  - secretName: plain
    type: Opaque
    data:
    - {objectName: SyncedSecret, key: username}
  - secretName: json-ssm
    type: Opaque
    data:
    - {objectName: ssmUsername, key: username}
    - {objectName: ssmPassword, key: password}
  parameters:
    region: us-west-2
    failoverRegion: us-east-2
    objects: |
      - objectName: "ParameterStoreTestWithLongName"
        objectAlias: "ParameterStoreTest2"
        objectType: "ssmparameter"
      - objectName: arn:aws:secretsmanager:us-west-2:111122223333:secret:SecretsManagerTest2
        objectAlias: "SecretsManagerTest2"
      - objectName: "SyncedSecret"
        objectType: "secretsmanager"
      - objectName: "jsonSsm"
        objectType: "ssmparameter"
        jmesPath:
          - Path: "username"
            ObjectAlias: "ssmUsername"
          - Path: "password"
            ObjectAlias: "ssmPassword"
      - objectName: "arn:aws:secretsmanager:us-west-2:111122223333:secret:SMSecret"
        failoverObject:
          objectName: "arn:aws:secretsmanager:us-east-2:111122223333:secret:SMBackupSecret"
        ObjectAlias: "smFailOverSecret"
`))
	if err != nil {
		t.Fatal(err)
	}
	r := Check(c.Parameters, Options{})
	if r.Spec == nil {
		t.Fatalf("refused: %v", (&InvalidError{Issues: r.Errors}).Error())
	}
	if len(r.Warnings) != 1 || r.Warnings[0].Field != "objects[1].failoverObject" {
		t.Errorf("warnings = %v, want the one on the ARN without failoverObject", r.Warnings)
	}
	if j := r.Spec.Objects[3].JMESPath; len(j) != 2 || j[0].Path != "username" || j[1].FileName != "ssmPassword" {
		t.Errorf("jmesPath = %+v (Path and ObjectAlias read case-insensitively)", j)
	}
	if o := r.Spec.Objects[4]; o.FileName != "smFailOverSecret" || o.Failover == nil {
		t.Errorf("failover object = %+v", o)
	}
	if probs := CheckSecretObjects(r.Spec, c.SecretObjects); len(probs) != 0 {
		t.Errorf("secretObjects: %v", probs)
	}
}
