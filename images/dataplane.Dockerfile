# syntax=docker/dockerfile:1.7
# The data-plane image (API, worker, migrate, admin commands) for builders with a registry:
# the same image images/build.py makes from debootstrap + buildah. From the repository root:
#   docker build -f images/dataplane.Dockerfile --build-context wheels=/opt/wheels \
#     -t localhost/frostbyte/dataplane:0.1.0 .
# (the wheels context holds torch's CPU wheel, the lock's --find-links). images/README.md
# says where the pinned base digest comes from.

# --- builder: the hash-locked dependencies and the project in a venv --------------------------
# The lock is resolved for bookworm's python3 (3.11.2; scripts/lock.sh).
FROM debian:bookworm-slim@sha256:12c396bd585df7ec21d5679bb6a83d4878bc4415ce926c9e5ea6426d23c60bdc AS builder
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY requirements/runtime.txt /src/requirements/runtime.txt
RUN --mount=type=bind,from=wheels,target=/opt/wheels \
    python3 -m venv /opt/frostbyte \
 && /opt/frostbyte/bin/pip install -q --no-deps --require-hashes \
      -r /src/requirements/runtime.txt
COPY . /src/project
RUN /opt/frostbyte/bin/pip install -q --no-deps /src/project \
 && /opt/frostbyte/bin/python -c 'import data_plane, soupsieve'

# --- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim@sha256:12c396bd585df7ec21d5679bb6a83d4878bc4415ce926c9e5ea6426d23c60bdc
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      python3 libmagic1 tesseract-ocr tesseract-ocr-eng antiword \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd -g 10001 frostbyte \
 && useradd -u 10001 -g 10001 -M -d /nonexistent -s /usr/sbin/nologin frostbyte \
 && install -d -o frostbyte -g frostbyte -m 0700 /var/lib/frostbyte /var/lib/frostbyte/work \
      /var/lib/frostbyte/qdrant \
 && install -d -m 0755 /run/clamav
COPY --from=builder /opt/frostbyte /opt/frostbyte
COPY --chmod=0644 images/files/dataplane/entrypoint.py images/files/dataplane/healthcheck.py \
     /usr/local/lib/frostbyte/
ENV PATH=/opt/frostbyte/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 MPLCONFIGDIR=/tmp/matplotlib \
    FROSTBYTE_DP_HOST=0.0.0.0 FROSTBYTE_DP_PORT=8080 \
    FROSTBYTE_DP_WORK_DIR=/var/lib/frostbyte/work \
    FROSTBYTE_DP_QDRANT_PATH=/var/lib/frostbyte/qdrant \
    FROSTBYTE_DP_CLAMD_SOCKET=/run/clamav/clamd.sock
LABEL org.opencontainers.image.title=frostbyte-dataplane \
      org.opencontainers.image.description="Frostbyte data plane: API (serve), worker, migrate and admin commands" \
      org.opencontainers.image.vendor=Frostbyte
USER frostbyte
VOLUME /var/lib/frostbyte
EXPOSE 8080/tcp
HEALTHCHECK --interval=10s --timeout=5s --retries=6 --start-period=30s \
  CMD /opt/frostbyte/bin/python /usr/local/lib/frostbyte/healthcheck.py
ENTRYPOINT ["/opt/frostbyte/bin/python", "/usr/local/lib/frostbyte/entrypoint.py"]
CMD ["serve"]
