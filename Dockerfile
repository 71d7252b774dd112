# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /app
RUN python -m venv /venv
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
RUN /venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 newsbot && mkdir /data && chown newsbot /data
COPY --from=build /venv /venv
WORKDIR /app
COPY config ./config
COPY seeds ./seeds
ENV PATH=/venv/bin:$PATH NEWSBOT_DATABASE_URL=sqlite:////data/newsbot.db PYTHONUNBUFFERED=1
USER newsbot
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "newsbot db upgrade && newsbot seed && exec newsbot run"]
