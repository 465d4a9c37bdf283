# The Kilowatch service image: API (`kilowatch serve`), workers (`kilowatch worker`) and migrations (`kilowatch migrate`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /srv/kilowatch
COPY pyproject.toml README.md ./
COPY app ./app
COPY graphql_schema ./graphql_schema
COPY workers ./workers
COPY migrations ./migrations
RUN pip install . && useradd --system --uid 10001 kilowatch
USER kilowatch

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["kilowatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
