# syntax=docker/dockerfile:1
# One image, one binary: `ecap manager`, `ecap runtime`, `ecap retention`, ...
# Build: make docker-build IMG=<registry>/ecap:<tag>

FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
# Set by BuildKit from --platform; the image is built for linux.
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /ecap ./cmd/ecap

# Static binary on distroless: no shell, no package manager, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /ecap /ecap
USER 65532:65532
ENTRYPOINT ["/ecap"]
