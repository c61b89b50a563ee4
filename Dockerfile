# One image for every perfhud service (web, worker, migrate, flower).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends git numactl libjemalloc2 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The CPU build of PyTorch first: resolving the project must never pull a CUDA build.
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
RUN pip install --no-cache-dir ${TORCH_PIP_ARGS} torch==2.13.0
COPY pyproject.toml README.md ./
COPY perfhud perfhud
COPY optlib optlib
COPY benchmarks benchmarks
COPY db db
COPY worker worker
COPY dashboard dashboard
RUN pip install --no-cache-dir ".[backends,ops]"

ENV PERFHUD_DATA_DIR=/var/lib/perfhud
RUN useradd --create-home --uid 1000 perfhud && mkdir -p /var/lib/perfhud && chown perfhud /var/lib/perfhud
USER perfhud
EXPOSE 8000
CMD ["perfhud", "--help"]
