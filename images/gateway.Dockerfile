# syntax=docker/dockerfile:1.7
# The TLS gateway (nginx-light) of the data-plane set, as images/build.py makes it:
#   docker build -f images/gateway.Dockerfile -t localhost/frostbyte/gateway:0.1.0 .
FROM debian:bookworm-slim@sha256:12c396bd585df7ec21d5679bb6a83d4878bc4415ce926c9e5ea6426d23c60bdc
RUN groupadd -g 10005 gateway \
 && useradd -u 10005 -g 10005 -M -d /nonexistent -s /usr/sbin/nologin gateway \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/*
COPY --chmod=0644 images/files/gateway/nginx.conf images/files/gateway/proxy.conf /etc/frostbyte/
COPY --chmod=0755 images/files/gateway/entrypoint.sh /usr/local/bin/frostbyte-gateway
LABEL org.opencontainers.image.title=frostbyte-gateway \
      org.opencontainers.image.description="TLS gateway (nginx) of the Frostbyte data-plane set" \
      org.opencontainers.image.vendor=Frostbyte
USER gateway
EXPOSE 8443/tcp 8080/tcp
HEALTHCHECK --interval=10s --timeout=5s --retries=6 --start-period=30s \
  CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/8443'
ENTRYPOINT ["/usr/local/bin/frostbyte-gateway"]
