# footprint node agent. Runs the TypeScript sources through tsx (a runtime dependency), so the image
# needs only production dependencies and no build step.
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t footprint:0.1.0 .
# The base is an exact Node 20 LTS patch release; bump it deliberately (and by digest in a release pipeline).
ARG NODE_IMAGE=node:20.19.5-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are needed: koffi picks its prebuilt FFI binary, esbuild (under tsx) its platform binary.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="footprint" \
      org.opencontainers.image.description="Per-node energy, CO2e and cost of GPUs and CPUs, attributed to model, job and phase, as OpenTelemetry metrics" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# The same non-root uid the Helm chart runs as; `footprint` on PATH for `kubectl exec ... footprint doctor`.
RUN groupadd --system --gid 65532 footprint \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin footprint \
 && chmod 0755 bin/footprint.js \
 && ln -s /app/bin/footprint.js /usr/local/bin/footprint
USER 65532:65532
# 9464: /metrics, /healthz, /readyz. 4318: OTLP/HTTP spans and windows. Health is probed by Kubernetes, not HEALTHCHECK.
EXPOSE 9464 4318
ENTRYPOINT ["node", "/app/bin/footprint.js"]
CMD ["start"]
