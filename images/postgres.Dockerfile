# syntax=docker/dockerfile:1.7
# PostgreSQL 15 of the data-plane set, as images/build.py makes it. From the repository root:
#   docker build -f images/postgres.Dockerfile -t localhost/frostbyte/postgres:0.1.0 .
FROM debian:bookworm-slim@sha256:12c396bd585df7ec21d5679bb6a83d4878bc4415ce926c9e5ea6426d23c60bdc
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
COPY --chmod=0755 images/files/postgres/entrypoint.sh /usr/local/bin/frostbyte-postgres
ENV PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
LABEL org.opencontainers.image.title=frostbyte-postgres \
      org.opencontainers.image.description="PostgreSQL 15 of the Frostbyte data-plane set" \
      org.opencontainers.image.vendor=Frostbyte
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432/tcp
HEALTHCHECK --interval=10s --timeout=5s --retries=6 --start-period=30s \
  CMD /usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 -U postgres
ENTRYPOINT ["/usr/local/bin/frostbyte-postgres"]
