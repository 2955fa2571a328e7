// Package chart holds the Go tests of the aws-secrets-injector Helm chart in
// this directory: they render the chart with the Helm library for several
// value sets, decode every manifest into typed Kubernetes objects, check the
// invariants the chart promises (selectors, RBAC, CSIDriver, probes, security
// contexts, flags the binaries accept), check values.schema.json, and have a
// real kube-apiserver accept the objects (server-side dry run) and enforce the
// RBAC. The package has no non-test code: Helm stays out of the product
// binary's import graph. Go files are excluded from the packaged chart by
// .helmignore.
package chart
