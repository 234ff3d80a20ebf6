# One image for every FitTrack service; the command picks the role:
#   fittrack serve user | fittrack router | fittrack (all in one)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin fittrack \
 && cp target/release/fittrack /usr/local/bin/fittrack

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home fittrack \
 && mkdir -p /data && chown fittrack /data
WORKDIR /app
COPY --from=build /usr/local/bin/fittrack /usr/local/bin/fittrack
COPY router/router.yaml router/router.yaml
COPY schema schema
COPY supergraph.yaml supergraph.yaml
# The persisted-documents manifest router.yaml reads: FITTRACK_PERSISTED_ONLY=true
# then accepts only these operations.
COPY clients/persisted-documents.json clients/persisted-documents.json
USER fittrack
# The production profile (no introspection, Laboratory or field suggestions);
# `-e FITTRACK_ENV=development` for a playground.
ENV FITTRACK_DATA_DIR=/data \
    FITTRACK_LOG_FORMAT=json \
    FITTRACK_ENV=production
VOLUME ["/data"]
ENTRYPOINT ["fittrack"]
CMD ["dev"]
