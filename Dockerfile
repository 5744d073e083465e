# crm-auth-gateway container image.
#
#   docker build -t crm-auth-gateway:0.1.0 .
#   docker run --read-only --tmpfs /tmp -p 8080:8080 \
#     -v "$PWD/deploy:/etc/crm-gateway:ro" -v /path/to/secrets:/run/secrets:ro crm-auth-gateway:0.1.0
#
# Two stages: the first installs the pinned, hash-checked runtime lock (requirements/runtime.txt, written
# by `bash .ci/lock`: the same versions CI tests) into a venv, then the wheel built from the sources
# without resolving anything again; the second is the same slim base plus that venv, run as an unprivileged user. Nothing is written outside
# /tmp at run time (byte code is compiled at install time), so the root filesystem can be read-only.
# tests/deploy/test_dockerfile.py runs the build stage's RUN steps in a fresh venv: keep them plain shell.

ARG PYTHON_VERSION=3.12.8
ARG DEBIAN_RELEASE=bookworm

FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VENV=/opt/crm-gateway
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/runtime.txt requirements/
COPY gateway/ gateway/
RUN python -m pip wheel --no-deps --wheel-dir dist .
RUN python -m venv "$VENV" \
    && "$VENV/bin/python" -m pip install --no-cache-dir --require-hashes -r requirements/runtime.txt \
    && "$VENV/bin/python" -m pip install --no-cache-dir --no-deps "$(ls dist/crm_auth_gateway-*.whl)" \
    && "$VENV/bin/python" -m pip uninstall --yes pip

FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE}
LABEL org.opencontainers.image.title="crm-auth-gateway" \
      org.opencontainers.image.description="One bearer JWT in, CiviCRM and EspoCRM credentials out" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"
RUN groupadd --system --gid 10001 crm-gateway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin crm-gateway
COPY --from=build /opt/crm-gateway /opt/crm-gateway
ENV PATH=/opt/crm-gateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    CRM_GATEWAY_HEALTH_URL=http://127.0.0.1:8080/healthz
USER 10001:10001
WORKDIR /tmp
# 8080: the gateway (listen.port); 9090: health and metrics when observability.admin.port is 9090.
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
# Docker only (Kubernetes uses the chart's probes). With observability.admin set, point
# CRM_GATEWAY_HEALTH_URL at the admin port.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['CRM_GATEWAY_HEALTH_URL'], timeout=2)"]
ENTRYPOINT ["crm-gateway"]
CMD ["serve", "--config", "/etc/crm-gateway/gateway.yaml"]
