//go:build tools

// Package tools records the command hack/build-tools.sh builds from this
// module: vault-k8s's agent injector, the webhook benchmark's anchor (issue
// #14 compares our webhook with it side by side on one core).
package tools

import _ "github.com/hashicorp/vault-k8s"
