# One image for the webhook, the mounter and the init container: the full
# operator CLI (/aws-secrets-injector, every subcommand) and a lean binary per
# role (/asi-exec, /asi-inject, /asi-mounter, /asi-provider, /asi-webhook) that links only what the role
# uses. The entrypoint is the injector, which the webhook's init containers run
# with args [inject]; it hands any other command (version, fetch, ...) to the
# full CLI. The chart runs the mounter and the webhook with command /asi-ROLE.
# For your own registry: docker build -t REGISTRY/aws-secrets-injector:TAG .
# (Here, without Docker, `make image` builds the same layout with go-containerregistry.)
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/seed-ddac166a/aws-secrets-injector/version.Version=${VERSION}" \
      -o /out/ ./cmd/aws-secrets-injector ./cmd/asi-exec ./cmd/asi-inject ./cmd/asi-mounter ./cmd/asi-provider ./cmd/asi-webhook

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/aws-secrets-injector /out/asi-exec /out/asi-inject /out/asi-mounter /out/asi-provider /out/asi-webhook /
USER 65532:65532
ENTRYPOINT ["/asi-inject"]
