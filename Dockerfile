# eseal API image: Debian with the CJK font, the Python package, and nothing else.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-cjk libsofthsm2 curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY keystore keystore
COPY seals seals
COPY signer signer
COPY storage storage
RUN pip install --no-cache-dir .
RUN useradd --system --home /data eseal && mkdir -p /data && chown eseal /data
USER eseal
ENV ESEAL_DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["eseal", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
