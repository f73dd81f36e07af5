# syntax=docker/dockerfile:1
# Multi-stage: build a wheel with its dependencies, then copy only the installed environment
# into a slim runtime image that runs as a non-root user with a numeric id (10001), so that
# Kubernetes' runAsNonRoot can verify it, and without pip or setuptools (nothing installs at
# run time).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN python -m venv /opt/gateway \
 && /opt/gateway/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/gateway/bin/pip install --no-cache-dir . \
 && /opt/gateway/bin/python -m pip uninstall --yes pip setuptools

FROM python:3.11-slim
RUN python -m pip uninstall --yes pip setuptools wheel \
 && groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid 10001 --home /var/lib/gateway gateway \
 && mkdir -p /etc/gateway /var/lib/gateway && chown 10001:10001 /var/lib/gateway
COPY --from=build /opt/gateway /opt/gateway
COPY config/docker.yaml /etc/gateway/config.yaml
ENV PATH=/opt/gateway/bin:$PATH PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/gateway
# Sigil HTTP 8080, Sigil/OTLP gRPC 4317, OTLP HTTP 4318, Foglamp 4000, LumiqTrace 4100,
# health 13133, Prometheus metrics 8888.
EXPOSE 8080 4317 4318 4000 4100 13133 8888
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:13133/readyz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["gateway"]
CMD ["run", "--config", "/etc/gateway/config.yaml"]
