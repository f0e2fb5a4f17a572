# syntax=docker/dockerfile:1
# StarGuide production image: `docker build -t starguide .`
#
# The builder installs the app and its dependencies into a virtualenv with `pip install .`,
# deliberately WITHOUT the `embedded` extra: SecantusDB (GPL-2.0) is a development-only
# database and never ships in this image. The image therefore needs MONGODB_URL, and
# ENVIRONMENT=production makes the server refuse to start without it and JWT_SECRET.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"
WORKDIR /src
# .dockerignore keeps .venv, .data, .env, .git, caches, tests, bench and docs out of the context.
COPY . .
# The base image's pip builds the project (PEP 517, setuptools from pyproject.toml); no
# `pip install --upgrade pip`, which would pull an unpinned pip into every build (hadolint DL3013).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install .

FROM ${PYTHON_IMAGE} AS runtime
ENV ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:${PATH}"
RUN groupadd --system --gid 10001 starguide \
    && useradd --system --uid 10001 --gid starguide --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin starguide
# Same base image in both stages, so the venv's interpreter links stay valid.
COPY --from=builder /opt/venv /opt/venv
# The app runs from site-packages; /app is only the working directory (DATA_DIR=.data is
# relative to it), owned by the app user so nothing needs root at run time.
WORKDIR /app
RUN chown starguide:starguide /app
# Numeric, so Kubernetes' `runAsNonRoot: true` can verify it (with a name and no runAsUser
# the kubelet refuses to start the container), and hadolint DL3066 holds.
USER 10001:10001
EXPOSE 8000
# SIGTERM (the default, spelled out): uvicorn stops listening, closes sockets with 1012 so
# clients reconnect elsewhere, lets running replies finish within SHUTDOWN_GRACE_SECONDS
# (25 s), then ends the rest as interrupted. Give the container longer than that to stop
# (`docker stop -t 35`, Compose `stop_grace_period`, Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# Liveness only (/readyz would flap the container on a MongoDB blip); slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "server"]
