# The usageflow worker and CLI (one image for every service of docker-compose.yml), installed
# from the wheel built here. The services use a ClickHouse server, so the embedded engine
# (chdb-core, ~500 MB) is removed in the same layer: usageflow loads it only for chdb: warehouses.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /dist /dist
RUN pip install --no-cache-dir /dist/*.whl && pip uninstall -y chdb-core && rm -rf /dist \
    && useradd --system --uid 10001 usageflow \
    && mkdir -p /var/lib/usageflow && chown usageflow /var/lib/usageflow
USER usageflow
WORKDIR /var/lib/usageflow
ENTRYPOINT ["usageflow"]
