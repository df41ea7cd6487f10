# The scraper daemon: `docker compose up -d` (see docker-compose.yml and docs/daemon.md).
#
# Config is read from /config (mount config/ there), documents and the embedded SQLite
# database go to /data (a volume). /healthz and /metrics listen on 0.0.0.0:9410 inside
# the container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user owns /data, so a named volume mounted there starts writable.
RUN useradd --create-home --uid 10001 scraper \
    && mkdir -p /config /data \
    && chown scraper:scraper /data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY scraper ./scraper
COPY spiders ./spiders
RUN pip install . && rm -rf /src

# The shipped sources, used when no config is mounted over /config.
COPY --chown=scraper:scraper config /config

USER scraper
WORKDIR /data
ENV SCRAPER_CONFIG=/config \
    SCRAPER_OUTPUT_DIR=/data/articles \
    SCRAPER_SQLITE_PATH=/data/scraper.db \
    SCRAPER_HTTP_HOST=0.0.0.0 \
    SCRAPER_HTTP_PORT=9410

EXPOSE 9410
# The daemon stops cleanly on SIGTERM within 30 s (give it stop_grace_period: 35s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SCRAPER_HTTP_PORT', '9410') + '/healthz', timeout=4)"]

ENTRYPOINT ["scraper"]
CMD ["daemon"]
