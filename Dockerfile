# syntax=docker/dockerfile:1
# snyk-scim-bridge container image.
#   docker build -t snyk-scim-bridge .
#   docker run -p 8080:8080 -v bridge-data:/data \
#     -e SCIM_TOKENS=... -e SNYK_TOKEN=... \
#     -v "$PWD/bridge.toml:/etc/snyk-scim-bridge/bridge.toml:ro" snyk-scim-bridge
# See docs/operations.md.

FROM rust:1-bookworm AS builder
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the manifest or
# the lock file change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin snyk-scim-bridge \
    && rm -rf src
COPY . .
# The sources are older than the placeholder build: make cargo see them.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin snyk-scim-bridge \
    && strip target/release/snyk-scim-bridge

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid bridge --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin bridge \
    && mkdir -p /data /etc/snyk-scim-bridge \
    && chown bridge:bridge /data
COPY --from=builder /src/target/release/snyk-scim-bridge /usr/local/bin/snyk-scim-bridge
# A safe default (dry_run, SQLite in /data); mount your own over it.
COPY deploy/bridge.toml /etc/snyk-scim-bridge/bridge.toml
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["snyk-scim-bridge", "healthcheck", "--config", "/etc/snyk-scim-bridge/bridge.toml"]
ENTRYPOINT ["snyk-scim-bridge"]
CMD ["serve", "--config", "/etc/snyk-scim-bridge/bridge.toml"]
