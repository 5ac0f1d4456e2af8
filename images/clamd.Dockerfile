# syntax=docker/dockerfile:1.7
# clamd of the data-plane set (signatures on the clamav-db volume), as images/build.py makes it:
#   docker build -f images/clamd.Dockerfile -t localhost/frostbyte/clamd:0.1.0 .
FROM debian:bookworm-slim@sha256:12c396bd585df7ec21d5679bb6a83d4878bc4415ce926c9e5ea6426d23c60bdc
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends clamav-daemon clamdscan \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o clamav -g clamav -m 0755 /var/lib/clamav /run/clamav
COPY --chmod=0644 images/files/clamd/clamd.conf /etc/frostbyte/clamd.conf
COPY --chmod=0755 images/files/clamd/entrypoint.sh /usr/local/bin/frostbyte-clamd
LABEL org.opencontainers.image.title=frostbyte-clamd \
      org.opencontainers.image.description="clamd (ClamAV) of the Frostbyte data-plane set; signatures on a volume" \
      org.opencontainers.image.vendor=Frostbyte
USER clamav
VOLUME /var/lib/clamav /run/clamav
HEALTHCHECK --interval=10s --timeout=5s --retries=6 --start-period=30s \
  CMD clamdscan --ping 3 --config-file=/etc/frostbyte/clamd.conf
ENTRYPOINT ["/usr/local/bin/frostbyte-clamd"]
