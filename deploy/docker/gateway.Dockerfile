# syntax=docker/dockerfile:1
#
# CampsHub360 Edge gateway image: a static binary (CGO_ENABLED=0) on
# distroless/static, running as the unprivileged user 65532.
#
# Build from the workspace root (the context must hold go.work and every
# module it lists):
#
#   docker build -f deploy/docker/gateway.Dockerfile --build-arg VERSION=v1.2.3 -t campshub360/gateway:v1.2.3 .
#
# The image serves HTTPS on 8443, the HTTP redirect on 8080 and the admin
# listener (metrics, health) as configured: mount your configuration at
# /etc/campshub360/gateway.yaml (deploy/compose and deploy/k8s do). The
# runtime directory (self-signed development certificate) is
# /var/lib/campshub360; mount a volume there for a read-only root.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local
# The workspace: go.work names four modules, so all their go.mod files
# must be present even though only shared/ and gateway/ are compiled.
COPY go.work go.work.sum ./
COPY shared/go.mod shared/go.sum shared/
COPY gateway/go.mod gateway/go.sum gateway/
COPY backend/go.mod backend/go.sum backend/
COPY benchmarks/go.mod benchmarks/go.sum benchmarks/
COPY shared/ shared/
COPY gateway/ gateway/
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/gateway ./gateway/cmd/gateway \
 && /out/gateway --version \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="campshub360-gateway" \
      org.opencontainers.image.description="CampsHub360 Edge gateway" \
      org.opencontainers.image.source="deploy/docker/gateway.Dockerfile"
COPY --from=build /out/gateway /usr/local/bin/gateway
COPY deploy/config/gateway.yaml /etc/campshub360/gateway.yaml
COPY --from=build --chown=65532:65532 /out/state /var/lib/campshub360
WORKDIR /var/lib/campshub360
ENV GATEWAY__RUNTIME_DIR=/var/lib/campshub360
USER 65532:65532
EXPOSE 8443 8080 9090
STOPSIGNAL SIGTERM
# Probes /readyz on listen.admin of the same configuration and environment
# (distroless has no shell or curl).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/gateway", "healthcheck", "--config", "/etc/campshub360/gateway.yaml"]
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["--config", "/etc/campshub360/gateway.yaml"]
