# One image for the webhook, the mounter and the init container.
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
      -o /out/aws-secrets-injector ./cmd/aws-secrets-injector

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/aws-secrets-injector /aws-secrets-injector
USER 65532:65532
ENTRYPOINT ["/aws-secrets-injector"]
