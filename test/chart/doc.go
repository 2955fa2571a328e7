// Package chart holds the Go tests of the aws-secrets-injector Helm chart
// (charts/aws-secrets-injector): they render the chart with the Helm library for several
// value sets, decode every manifest into typed Kubernetes objects, check the
// invariants the chart promises (selectors, RBAC, CSIDriver, probes, security
// contexts, flags the binaries accept), check values.schema.json, and have a
// real kube-apiserver accept the objects (server-side dry run) and enforce the
// RBAC. It is a module of its own, so Helm's dependency tree stays out of the
// product's go.mod; it requires the product through a replace of ../...
package chart
