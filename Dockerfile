# authserver: one node. `docker compose up` (compose.yaml) runs two of them behind a TLS proxy with
# PostgreSQL; see "Running in production" in README.md.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY authserver ./authserver
COPY authserver_resource ./authserver_resource
COPY migrations ./migrations
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent authserver \
    && mkdir -p /var/lib/authserver/keys \
    && chown -R authserver /var/lib/authserver \
    && chmod 0700 /var/lib/authserver /var/lib/authserver/keys

# Secrets and data belong to this user only; mount the keys folder (shared by every node) here.
USER authserver
ENV AUTHSERVER_KEYS_DIR=/var/lib/authserver/keys \
    AUTHSERVER_DATABASE_URL=sqlite:////var/lib/authserver/authserver.db
VOLUME ["/var/lib/authserver/keys"]

# Only the public port: metrics are on 127.0.0.1:9464 inside the container unless AUTHSERVER_METRICS_HOST
# says otherwise (compose.yaml opens them to its own network).
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["authserver", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
