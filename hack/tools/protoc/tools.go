//go:build tools

// Package tools records the commands hack/build-tools.sh builds from this module.
package tools

import (
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
