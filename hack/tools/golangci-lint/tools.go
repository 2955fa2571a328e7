//go:build tools

// Package tools records the command hack/build-tools.sh builds from this module.
package tools

import _ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
