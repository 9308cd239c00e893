# hookd's container image: the static binary on distroless's static base
# (CA certificates and time zones, no shell, no package manager), run as its
# unprivileged "nonroot" user. docs/OPERATIONS.md explains its use.
#
#   docker build -t hookd .
#   docker run -p 8080:8080 -v hookd-data:/var/lib/hookd \
#     -v $PWD/hookd.yaml:/etc/hookd/hookd.yaml:ro hookd
#
# The image has no git: it serves GitHub repositories. A `path:` repository
# (a git server on the same host) needs the git CLI; run hookd from its
# systemd unit there, or build on a base image that has git.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary (SQLite is pure Go), so it runs on an image
# with no C library at all.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hookd ./cmd/hookd \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hookd /usr/local/bin/hookd
# The SQLite database's folder, owned by the user hookd runs as.
COPY --from=build --chown=65532:65532 /out/data /var/lib/hookd
WORKDIR /var/lib/hookd
USER 65532:65532
EXPOSE 8080
VOLUME /var/lib/hookd
ENTRYPOINT ["/usr/local/bin/hookd"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--config", "/etc/hookd/hookd.yaml", "--log-format", "json"]
