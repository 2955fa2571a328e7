// Package v1alpha1 is the Go code generated from service.proto: the messages
// and the gRPC service (CSIDriverProvider: Version, Mount) of the Secrets
// Store CSI driver's provider API, wire-compatible with the driver's own
// file. It owns nothing else: the server that answers the driver lives in
// package provider. Regenerate with `make generate`; never edit the .pb.go
// files by hand (`make verify-generate` catches it).
package v1alpha1
