# syntax=docker/dockerfile:1.7
#
# her2-cds: the CDS Hooks service as a container (gunicorn serving service:create_app()).
#
# Build (BuildKit, the default builder of Docker 23+):
#   docker build -t her2-cds .
#   docker build --build-arg EXTRAS=postgres -t her2-cds:pg .      # with the PostgreSQL driver
#
# Run:
#   docker run --rm -p 8080:8080 -v her2cds-var:/app/var her2-cds
#   curl -s localhost:8080/healthz                                  # {"status":"ok","database":"ok"}
#   curl -s localhost:8080/cds-services
#
# Configure with a YAML file named by HER2CDS_CONFIG (README "Configuration"; config.example.yaml): the
# trusted EHRs (`clients`: issuer, keys, FHIR servers) and `public_base_url` live there. With no clients
# the service would run in development mode (no authentication), which listens on loopback only: the
# image, bound to 0.0.0.0, then refuses to start with a message naming HER2CDS_CONFIG (for a throwaway
# trial without patient data: -e HER2CDS_INSECURE_DEVELOPMENT=true). HER2CDS_* variables override single
# settings (a misspelt one stops start-up):
#   docker run --rm -p 8080:8080 -v "$PWD/her2cds.yaml:/etc/her2cds.yaml:ro" -e HER2CDS_CONFIG=/etc/her2cds.yaml \
#     -e HER2CDS_PUBLIC_BASE_URL=https://cds.example.org \
#     -e HER2CDS_DATABASE_URL=postgresql+psycopg://her2cds:secret@db/her2cds \
#     -e GUNICORN_CMD_ARGS="--workers 4 --worker-class gevent --worker-connections 1000 --bind 0.0.0.0:8080 --timeout 30 --access-logfile -" \
#     her2-cds:pg
#
# The knowledge files (mappings/) travel inside the wheel (service.mappings); to change them without
# rebuilding, mount another folder read-only and name it in HER2CDS_MAPPINGS_DIR. The feedback database
# (SQLite by default) lives in the /app/var volume (a named volume inherits the right owner; a bind-mounted host folder must be writable by
# uid 10001). The container runs as the unprivileged user her2cds (uid 10001) and needs no writable path
# other than /app/var, so it can run with a read-only root filesystem (--read-only --tmpfs /tmp).
# The CLI is there too: docker run --rm --entrypoint her2-cds her2-cds --help

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------
# builder: the project wheel and the wheels of all its dependencies (the runtime stage installs offline)
FROM ${PYTHON_IMAGE} AS builder

ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the build needs: metadata (pyproject.toml names README.md and LICENSE), the package and the
# knowledge it carries (mappings/ becomes service.mappings in the wheel).
COPY pyproject.toml README.md LICENSE ./
COPY service ./service
COPY mappings ./mappings
RUN target="."; if [ -n "$EXTRAS" ]; then target=".[$EXTRAS]"; fi \
 && pip wheel --wheel-dir /wheels "$target" \
 && ls -l /wheels

# ---------------------------------------------------------------------------------------------------
# runtime
FROM ${PYTHON_IMAGE} AS runtime

ARG PYTHON_IMAGE
ARG EXTRAS=""
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""

LABEL org.opencontainers.image.title="her2-cds" \
      org.opencontainers.image.description="CDS Hooks 2.0 service for HER2-positive metastatic breast cancer: receptor status, lines of therapy, guideline options and safety warnings from FHIR R4 data" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/her2cds \
    PATH=/opt/her2cds/bin:$PATH

# An unprivileged user; /app/var is the only place it writes.
RUN groupadd --system --gid 10001 her2cds \
 && useradd --system --uid 10001 --gid her2cds --home-dir /app --no-create-home --shell /usr/sbin/nologin her2cds \
 && mkdir -p /app/var \
 && chown her2cds:her2cds /app/var \
 && chmod 0750 /app/var

# Install from the builder's wheels without copying them into a layer (and without network access).
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    requirement="her2-cds"; if [ -n "$EXTRAS" ]; then requirement="her2-cds[$EXTRAS]"; fi \
 && python -m venv "$VIRTUAL_ENV" \
 && pip install --no-index --find-links=/wheels "$requirement" \
 && pip check

# A small start script: build the app once in a single process (fails fast with one clear message when
# the configuration or the knowledge files are wrong, and creates the feedback table before the workers
# start, so that several workers never race to create it), then hand over to gunicorn as PID 1.
COPY --chmod=0755 <<'EOF' /usr/local/bin/her2cds-start
#!/bin/sh
set -eu
python -c 'from service import create_app; create_app()'
exec gunicorn "$@" 'service:create_app()'
EOF

ENV HER2CDS_DATABASE_URL=sqlite:////app/var/her2cds-feedback.sqlite3 \
    GUNICORN_CMD_ARGS="--workers 2 --worker-class gevent --worker-connections 1000 --bind 0.0.0.0:8080 --timeout 30 --graceful-timeout 20 --worker-tmp-dir /dev/shm --access-logfile - --config python:service.ops.gunicorn_conf" \
    HEALTHCHECK_URL=http://127.0.0.1:8080/healthz

WORKDIR /app
USER 10001:10001
VOLUME ["/app/var"]
EXPOSE 8080

# No curl in slim images: python asks /healthz (non-200, a 503 included, or no answer = unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4).status == 200 else 1)"]

# Why the gevent worker (issue 13.2): gunicorn's sync and gthread workers give each connection a thread
# while it sends its request, so a few dozen clients that drip their headers (slowloris, no token
# needed) hold every thread and /healthz times out. The gevent worker reads each connection in its own
# greenlet: 256 dripping connections cost a few MB, and /healthz and hook calls still answer within 1 s
# (tests/test_slow_clients.py). --worker-connections caps the connections per worker (2 x 1000 here);
# beyond that, put a buffering proxy or a per-address connection limit in front. gevent patches the
# standard library in each worker before the app is imported, so the FHIR gateway's thread pool and
# requests session run as greenlets (tests/test_attacks.py exercises the FHIR fallback under it).
# Extra gunicorn options may follow the image name (docker run her2-cds --log-level debug); to change
# workers, threads or the port set GUNICORN_CMD_ARGS (and HEALTHCHECK_URL when the port changes).
ENTRYPOINT ["her2cds-start"]
CMD []
