# syntax=docker/dockerfile:1
# The `dream` server image: `docker build -t dream .`, then
# `docker run -p 8787:8787 -v dream-data:/data -e DREAM_ADMIN_TOKEN=… dream`.
# Checked by scripts/check-deploy (and built and run there when a Docker engine
# is available).

# Rust 1.94 at least (the workspace's rust-version: sqlx 0.9 needs it)
# (scripts/check-deploy compares this tag with the locked crates' rust-version).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the registry and compiled dependencies between builds; the
# binary is copied out because the target cache is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dream-bin \
    && install -m 0755 target/release/dream /usr/local/bin/dream

FROM debian:bookworm-slim
# ca-certificates: TLS to Stripe, and to PostgreSQL (verify-full) and Redis
# (rediss://) with public CAs. curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home dream \
    && mkdir -p /data \
    && chown dream:dream /data
COPY --from=build /usr/local/bin/dream /usr/local/bin/dream
ENV DREAM_ADDR=0.0.0.0:8787 \
    DREAM_DATA_DIR=/data \
    DREAM_LOG_FORMAT=json
VOLUME ["/data"]
WORKDIR /data
EXPOSE 8787
USER dream:dream
# Liveness only; load balancers should route on /ready (database and Redis).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8787/health"]
ENTRYPOINT ["dream"]
CMD ["serve"]
