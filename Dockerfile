# syntax=docker/dockerfile:1
# One image for every Landscape service: `landscape registry`, `token`,
# `formation`, `gateway` (and `dev`). Static binary, non-root, no shell.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-trimpath
# Module files first, so the download layer is cached across source changes.
COPY gen/go.mod gen/go.sum gen/
COPY pkg/go.mod pkg/go.sum pkg/
COPY services/registry/go.mod services/registry/go.sum services/registry/
COPY services/token/go.mod services/token/go.sum services/token/
COPY services/formation/go.mod services/formation/go.sum services/formation/
COPY services/gateway/go.mod services/gateway/go.sum services/gateway/
COPY services/landscape/go.mod services/landscape/go.sum services/landscape/
COPY web/go.mod web/
RUN cd services/landscape && go mod download
COPY gen/ gen/
COPY pkg/ pkg/
COPY services/ services/
# The console's built files (committed; no Node.js needed here).
COPY web/ web/
# Each module builds on its own (GOWORK=off): its go.mod replaces point at
# ../../gen and ../../pkg. The one binary is also the container health
# check (`landscape healthcheck`): the image has no shell and no curl.
RUN cd services/landscape && go build -o /out/landscape ./cmd/landscape
# An empty /certs owned by the image's user: docker compose mounts a new
# named volume there for `landscape certs /certs`, and a new volume takes
# the owner of the folder it is mounted on.
RUN mkdir -p /out/certs

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/landscape /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/certs /certs
# distroless "nonroot": uid/gid 65532.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/landscape"]
CMD ["--help"]
