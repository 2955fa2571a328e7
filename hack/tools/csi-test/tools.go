//go:build tools

// Package tools records the command hack/build-tools.sh builds from this module.
package tools

import _ "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity"
