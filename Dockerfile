# syntax=docker/dockerfile:1
# One image, every entrypoint: `shard-distributor operator | distributor | run | worker | …`.
# The operator's Deployment runs it with `operator …`; the distributor containers the operator
# creates run the same image with `distributor …`.

# --- build: compile src/ to dist/ (tsc), then drop the devDependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. The `node` devDependency
# downloads a Node 24 for the repository's scripts in its install script; it is dev-only and
# `npm prune` removes it below.
COPY package.json package-lock.json ./
RUN npm ci --no-fund --no-audit
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-fund --no-audit

# --- runtime: Node 24 and nothing else (no shell, no package manager), user 65532.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
LABEL org.opencontainers.image.title="shard-distributor" \
      org.opencontainers.image.description="Kubernetes operator that fans one message queue out to N worker shards and keeps N workers alive" \
      org.opencontainers.image.source="https://github.com/veda-project/shard-distributor" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
# Operator: 8080 /metrics, 8081 /healthz /readyz. Distributor: its metrics_port (9464).
EXPOSE 8080 8081 9464
# The CLI handles SIGTERM itself (finish the batch, commit, exit 0), so node runs as PID 1
# without an init; exec form, so the signal reaches node directly.
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/cli.js"]
CMD ["--help"]
