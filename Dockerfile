# Build with the bundled SQLite and libpq: only a C compiler is needed.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin accredo

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/accredo accredo && mkdir -p /var/lib/accredo && chown accredo /var/lib/accredo
COPY --from=build /src/target/release/accredo /usr/local/bin/accredo
COPY workflows /opt/accredo/workflows
COPY schemas /opt/accredo/schemas
COPY templates /opt/accredo/templates
WORKDIR /opt/accredo
USER accredo
ENV ACCREDO_BIND=0.0.0.0:8080
EXPOSE 8080
CMD ["accredo", "serve"]
