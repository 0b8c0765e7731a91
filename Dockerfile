# One image for every `stocktracker` process of docker-compose.yml (docs/operations.md,
# "Docker"). Only the package's own files are copied, and .dockerignore keeps .env, secrets/
# and the rest out of the build context: settings and keys reach a container at run time
# (env_file, compose secrets), never the image.
#
#   docker compose build                                      # no torch: the lexicon decides
#   docker compose build --build-arg WITH_TORCH=true          # + torch for FinBERT (multi-GB)
#   ... --build-arg WITH_TORCH=true --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
#                                                             # CPU-only torch, a smaller image
FROM python:3.11-slim

ARG WITH_TORCH=false
ARG TORCH_INDEX_URL=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A user of our own; /data/workers is where the workers' RocksDB dirs live (a volume in
# compose: a named volume starts as a copy of this directory, owner included).
RUN useradd --create-home --uid 10001 app \
    && mkdir -p /app /data/workers \
    && chown app /app /data/workers

WORKDIR /tmp/src
COPY pyproject.toml README.md ./
COPY streams streams
COPY agents agents
COPY schemas schemas
COPY tables tables
COPY connectors connectors
COPY domain domain
COPY sentiment sentiment
COPY web web
RUN set -eu; \
    case "$WITH_TORCH" in \
      true) pip install "torch>=2.4,<3" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}; \
            pip install ".[finbert]" ;; \
      false) pip install . ;; \
      *) echo "WITH_TORCH must be true or false, not '$WITH_TORCH'" >&2; exit 1 ;; \
    esac; \
    cd / && rm -rf /tmp/src

# An empty working directory: no .env in it (pydantic-settings reads ./.env when present).
WORKDIR /app
USER app
# 6066: a worker's operations port (/live, /ready, /metrics); 8050: the dashboard
EXPOSE 6066 8050
CMD ["stocktracker", "--help"]
