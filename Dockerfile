# footprint node agent: the built daemon (dist/, an esbuild bundle) on a Node 20 base. The app is built
# outside the image, so no registry access and no CA bundle are needed in a layer:
#   npm ci && docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t footprint:0.1.0 .
# The base is an exact Node 20 LTS patch release; bump it deliberately (and by digest in a release pipeline).
ARG NODE_IMAGE=node:20.19.6-bookworm-slim
FROM ${NODE_IMAGE}
# An ARG declared before FROM is out of scope after it: declared again so the label below is filled.
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="footprint" \
      org.opencontainers.image.description="Per-node energy, CO2e and cost of GPUs and CPUs, attributed to model, job and phase, as OpenTelemetry metrics" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production
# A plain `docker run` behaves like the chart: 1 MiB V8 semi-spaces (the young generation is what /metrics
# scrapes grow), one V8 background thread (each holds its own stacks and GC buffers) and two malloc
# arenas, so RSS stays near the heap (docs/benchmarks.md, "deployed V8 flags"). No heap cap: the daemon
# bounds its own memory (memoryLimit). The chart sets the same NODE_OPTIONS from values.nodeOptions; the
# two are kept equal by test/helm/chart.test.ts.
ENV NODE_OPTIONS="--max-semi-space-size=1 --v8-pool-size=1" MALLOC_ARENA_MAX=2
WORKDIR /app
# The bundle holds every dependency but koffi, which loads its native binary from its platform package.
COPY node_modules/koffi ./node_modules/koffi
COPY node_modules/@koromix/koffi-linux-x64 ./node_modules/@koromix/koffi-linux-x64
COPY package.json ./
COPY bin ./bin
COPY dist ./dist
# `footprint` on PATH for `kubectl exec ... footprint doctor`. No user entry is needed for the numeric uid.
RUN ln -s /app/bin/footprint.js /usr/local/bin/footprint
# The same non-root uid the Helm chart runs as. The root filesystem can be read-only with no writable mount.
USER 65532:65532
# 9464: /metrics, /healthz, /readyz. 4318: OTLP/HTTP spans and windows. Health is probed by Kubernetes, not HEALTHCHECK.
EXPOSE 9464 4318
ENTRYPOINT ["node", "/app/bin/footprint.js"]
CMD ["start"]
