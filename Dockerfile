# The server image: `docker build -t fintech-bff .`, then `docker run -p 8000:8000 --env-file ...`.
# Multi-stage: the build stage installs the locked wheels (hashes checked) into a venv; the
# runtime stage is the slim base, the venv, PostgreSQL's client tools (`bff backup`) and a
# non-root user. Nothing is written outside /tmp, so the root filesystem can be read-only.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
# The lock first: the dependency layer is rebuilt only when the lock changes.
COPY requirements/runtime.lock requirements/runtime.lock
RUN /opt/venv/bin/pip install --require-hashes --only-binary :all: -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY bff bff
COPY schema schema
COPY resolvers resolvers
COPY dataloaders dataloaders
# The build backend is in the lock: no download, no unlocked build tools.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
 && /opt/venv/bin/pip check

FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install --yes --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin bff
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BFF_ENV=production \
    BFF_HOST=0.0.0.0 \
    BFF_PORT=8000 \
    BFF_METRICS_HOST=0.0.0.0 \
    BFF_METRICS_PORT=9100 \
    BFF_DATA_DIR=/tmp/bff
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000 9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["bff"]
CMD ["serve"]
