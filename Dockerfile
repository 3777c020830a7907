# The usageflow worker and CLI (used by docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY usageflow ./usageflow
COPY streams ./streams
COPY schemas ./schemas
COPY sql ./sql
COPY demo ./demo
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 usageflow \
    && mkdir -p /var/lib/usageflow && chown usageflow /var/lib/usageflow
USER usageflow
ENTRYPOINT ["usageflow"]
