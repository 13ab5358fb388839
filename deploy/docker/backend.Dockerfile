# syntax=docker/dockerfile:1
#
# CampsHub360 Edge backend image: a static binary (CGO_ENABLED=0, time zone
# data and migrations embedded) on distroless/static, running as the
# unprivileged user 65532.
#
# Build from the workspace root (the context must hold go.work and every
# module it lists):
#
#   docker build -f deploy/docker/backend.Dockerfile -t campshub360/backend:v1.2.3 .
#
# The default command serves the API on :9001; the same image runs
# `migrate up`, `migrate status`, `seed` and `keys ...` (override the
# command). Configuration is the environment: DATABASE_URL, REDIS_URL and
# the rest listed by `backend help`. `serve` refuses to start without its
# two keyrings (kid:base64(32 random bytes), `backend keys generate`) and
# the QR check-in key (base64(32 random bytes)): mount them as files from a
# secret store (Docker secrets, a Kubernetes Secret volume) and name them
# with ENCRYPTION_KEYS_FILE, SIGNING_KEY_SECRETS_FILE and
# QR_SIGNING_KEY_FILE, rather than putting ENCRYPTION_KEYS,
# SIGNING_KEY_SECRETS and QR_SIGNING_KEY in the environment. Nothing secret
# is in the image.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local
COPY go.work go.work.sum ./
COPY shared/go.mod shared/go.sum shared/
COPY gateway/go.mod gateway/go.sum gateway/
COPY backend/go.mod backend/go.sum backend/
COPY benchmarks/go.mod benchmarks/go.sum benchmarks/
COPY shared/ shared/
COPY backend/ backend/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w" -o /out/backend ./backend/cmd/backend \
 && /out/backend help >/dev/null

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="campshub360-backend" \
      org.opencontainers.image.description="CampsHub360 Edge campus API" \
      org.opencontainers.image.source="deploy/docker/backend.Dockerfile"
COPY --from=build /out/backend /usr/local/bin/backend
USER 65532:65532
EXPOSE 9001
STOPSIGNAL SIGTERM
# Liveness of a server started with the default command; a changed
# --listen needs the same change here (compose and k8s set their own).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/backend", "healthcheck", "--listen", ":9001"]
ENTRYPOINT ["/usr/local/bin/backend"]
CMD ["serve", "--listen", ":9001"]
