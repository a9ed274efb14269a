# syntax=docker/dockerfile:1
# Salient: build a release binary with the Swift runtime linked in, then run it on a slim
# Debian with only the C libraries it loads (scripts/check-runtime-deps.sh proves that list).
#
#   docker build -t salient .
#   openssl rand -hex 32 > salient-token
#   docker run -p 8080:8080 -v salient-data:/data \
#     -v "$PWD/salient-token:/run/secrets/salient-api-token:ro" \
#     -e SALIENT_API_TOKEN_FILE=/run/secrets/salient-api-token salient
#
# The image listens on every interface (SALIENT_HOST=0.0.0.0), so it refuses to start without a
# token: mount one as a secret file (above; Compose and Swarm secrets land in /run/secrets/ too)
# or pass SALIENT_API_TOKEN; SALIENT_READ_TOKEN(_FILE) also guards reads. Kubernetes: deploy/
# (one replica, SQLite) and deploy/replicas/ (several, PostgreSQL: docs/REPLICAS.md).

ARG SWIFT_IMAGE=swift:6.3-bookworm

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopenblas-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev libssl-dev libsqlite3-dev libpq-dev
# The package lists stay in this throwaway stage: check-runtime-deps.sh resolves with them.
WORKDIR /src
# Dependencies first, so a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY . .
RUN swift build -c release --static-swift-stdlib \
 && scripts/check-runtime-deps.sh .build/release/salient \
 && mkdir -p /out \
 && cp .build/release/salient /out/ \
 && strip /out/salient \
 && find .build/release/ -maxdepth 1 -name '*.resources' -exec cp -R {} /out/ \;

FROM debian:bookworm-slim AS runtime
COPY scripts/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --system --gid 10001 salient \
 && useradd --system --uid 10001 --gid salient --home-dir /data --shell /usr/sbin/nologin salient \
 && mkdir -p /data \
 && chown salient:salient /data
WORKDIR /app
# The binary finds its resource bundles (the embedded default model) beside itself.
COPY --from=build /out/ /app/
COPY public/ /app/public/

# A published port reaches the container's own interface, not its loopback: listen on all of
# them, which makes a token mandatory (the service refuses to start without one).
ENV SALIENT_HOST=0.0.0.0 \
    SALIENT_PORT=8080 \
    SALIENT_DATA_DIR=/data \
    SALIENT_PUBLIC_DIR=/app/public
# Left unset on purpose, set at run time from a secret: SALIENT_API_TOKEN_FILE (a mounted secret
# file) or SALIENT_API_TOKEN, optionally SALIENT_READ_TOKEN(_FILE); SALIENT_ALLOWED_HOSTS for the
# names clients use (IP addresses and localhost are always allowed); SALIENT_THREADS
# (computations at once, default 2). The other SALIENT_* variables are in config/README.md.

USER salient:salient
EXPOSE 8080
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/app/salient", "healthcheck"]
# The server drains in-flight requests on SIGTERM (10 s grace); exec form keeps it PID 1 so the
# signal reaches it directly. Give `docker stop -t 15` or more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/salient"]
CMD ["serve"]
