// Module protoc pins the two protoc plugins `make generate` runs, which
// hack/build-tools.sh builds from here: protoc-gen-go from
// google.golang.org/protobuf v1.36.12 (the runtime the repository's go.mod
// requires, so the generated code and its runtime agree) and
// protoc-gen-go-grpc v1.6.2 (its code needs grpc v1.64 or newer; the
// repository has v1.85.0). go.sum fixes every dependency, and
// `go mod download` fetches them as a step of its own before the build.
module github.com/seed-ddac166a/aws-secrets-injector/hack/tools/protoc

go 1.26.0

require (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2
	google.golang.org/protobuf v1.36.12
)
