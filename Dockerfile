# syntax=docker/dockerfile:1
#
# One image for every process of the product. The default command runs the
# gateway; the same image runs the worker and the migrations with another
# command (see docker-compose.yml):
#
#   docker run IMAGE                                          # gateway on :3000
#   docker run IMAGE node --import tsx src/worker/main.ts     # worker
#   docker run IMAGE node --import tsx src/cli/database.ts migrate      # migrations, then exit
#
# TypeScript runs through tsx, a runtime dependency; the builds are the web
# console's static files, made in a stage of their own and copied in, and the
# workflow bundle the workers load (WORKFLOW_BUNDLE_PATH).

# The current LTS of Node.js (20 reached its end of life on 2026-04-30); `npm run test:lts`
# runs the core integration tests on the same release (scripts/lts-node.mjs).
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---- deps: production dependencies only --------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# package.json comes in with the lockfile because it carries "allowScripts":
# npm 11 runs only the dependency install scripts approved there (esbuild,
# @swc/core, protobufjs, …); the npm bundled with Node 20 runs them all. Either
# way the native pieces (Temporal's core bridge, swc, esbuild) are installed for
# this image's platform (glibc), which is why node_modules is never copied in
# from the host (.dockerignore).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- console: the web console's static files (console/ → dist/console) --------
FROM ${NODE_IMAGE} AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console ./console
COPY src ./src
COPY db ./db
COPY tsconfig.json ./
RUN npm run build:console

# ---- runtime ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# HOST: listen on every interface; the app's default, 127.0.0.1, would be
# unreachable from a published port.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app

# Owned by root and read-only for the app user: the processes never write
# under /app (tsx keeps its transform cache in the temp directory).
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY channels ./channels
COPY db ./db
COPY templates ./templates
COPY scripts ./scripts
COPY --from=console /app/dist/console ./dist/console
# The workflow code bundled once, with the image, from the code beside it: each
# worker loads it instead of bundling the same code as it starts.
RUN node --import tsx scripts/build-workflows.ts dist/workflow-bundle.js
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
# The build id workers run as under Worker Versioning (WORKER_DEPLOYMENT_NAME): there is no git in
# the image, so give each release its own, e.g. --build-arg BUILD_ID=$(git describe --always --dirty);
# empty, workers use the package version alone.
ARG BUILD_ID=
ENV WORKER_BUILD_ID=${BUILD_ID}

# The official Node images ship an unprivileged "node" user (uid 1000).
USER node

EXPOSE 3000

# No HEALTHCHECK here, on purpose: the same image runs the worker and the
# one-shot migration, which serve no HTTP, and the gateway's health endpoint
# (/api/health/workflows) answers 503 whenever no worker polls, so it reports
# readiness of the whole system rather than liveness of this process. Where
# the gateway runs, a liveness check is declared there instead (see the
# gateway service in docker-compose.yml).

# `node --import tsx` rather than `npx tsx`: node itself is then the container's
# main process and receives SIGTERM directly, so the gateway drains in-flight
# requests and the worker finishes its tasks before the container stops.
CMD ["node", "--import", "tsx", "src/gateway/main.ts"]
