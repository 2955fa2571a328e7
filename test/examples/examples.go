// Package examples holds the project's copy of the user's own manifests, and
// the secret they expect in AWS. The build, the tests and the demo read this
// copy (embedded from testdata, or the files in testdata), never a folder
// outside the repository: a copy taken again from the user's files is a
// commit of its own.
package examples

import _ "embed"

// SeedClass is shared/examples/seed-secretproviderclass.yaml: the
// SecretProviderClass "aws-secretsmanager-reader" extracting username and
// password from my-app/db-credentials into db-user and db-password.
//
//go:embed testdata/seed-secretproviderclass.yaml
var SeedClass []byte

// SeedPod is shared/examples/seed-pod.yaml: a pod mounting that class through the
// upstream driver name secrets-store.csi.k8s.io at /mnt/secrets-store.
//
//go:embed testdata/seed-pod.yaml
var SeedPod []byte

// The secret the examples expect, and what the pod must read.
const (
	SecretName  = "my-app/db-credentials"
	SecretValue = `{"username":"admin","password":"supersecretpassword"}`
	User        = "admin"
	Password    = "supersecretpassword"
)
