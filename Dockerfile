# syntax=docker/dockerfile:1
# newsbot for a small server (1 core, 1 GB): two stages, so the final image carries the virtualenv
# and the source but no compilers, caches or build metadata.
#   docker build -t newsbot .      docker compose up      (see README: "Running in production")

# ---- build: dependencies first (cached while pyproject.toml is unchanged), then the app ----
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /venv
COPY pyproject.toml README.md ./
# The pinned runtime dependencies straight from pyproject.toml (wheels; the one pure-Python sdist, sgmllib3k, needs no compiler).
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /venv/bin/pip install --no-cache-dir --prefer-binary --requirement /tmp/requirements.txt
COPY bot ./bot
COPY adapters ./adapters
COPY config ./config
COPY seeds ./seeds
# Editable install: the app runs from /app, where it finds config/ and seeds/ beside the package.
RUN /venv/bin/pip install --no-cache-dir --no-deps --editable . \
 && /venv/bin/python -m compileall -q /app/bot /app/adapters \
 && rm -rf /app/build

# ---- runtime ----
FROM python:3.11-slim
LABEL org.opencontainers.image.title="newsbot" \
      org.opencontainers.image.description="Newsroom monitoring bot for Slack and Discord"
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home newsbot \
 && mkdir /data \
 && chown newsbot:newsbot /data
COPY --from=build /venv /venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NEWSBOT_DATABASE_URL=sqlite:////data/newsbot.db \
    NEWSBOT_CONFIG=/app/config/newsbot.yaml \
    NEWSBOT_HTTP_HOST=0.0.0.0 \
    NEWSBOT_HTTP_PORT=8080 \
    NEWSBOT_LOG_FORMAT=json
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers 503 when the database is unreachable or the last good ingest cycle is stale.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NEWSBOT_HTTP_PORT', '8080'), timeout=4)"]
# SIGTERM: stop taking work, finish or hand back in-flight deliveries and feed leases, close the DB.
STOPSIGNAL SIGTERM
ENTRYPOINT ["newsbot"]
CMD ["run"]
