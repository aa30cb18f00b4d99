# syntax=docker/dockerfile:1
#
# One image for every process of the product. The default command runs the
# gateway; the same image runs the worker and the migrations with another
# command (see docker-compose.yml):
#
#   docker run IMAGE                                          # gateway on :3000
#   docker run IMAGE node dist/node/src/worker/main.js        # worker
#   docker run IMAGE node dist/node/src/cli/database.js migrate   # migrations, then exit
#
# The builds are the web console's static files, made in a stage of their own
# and copied in; the product's processes compiled to JavaScript (dist/node,
# `npm run build:node`), which Node starts without a TypeScript loader; and
# the workflow bundle the workers load (WORKFLOW_BUNDLE_PATH).

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
# under /app.
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
# The processes compiled, and the workflow code bundled, once, with the image,
# from the code beside them: each worker loads the bundle instead of bundling
# the same code as it starts. Stack traces point into the TypeScript
# (--enable-source-maps, through NODE_OPTIONS so every command has it).
RUN node --import tsx scripts/build-node.ts \
 && node --import tsx scripts/build-workflows.ts dist/workflow-bundle.js
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js \
    NODE_OPTIONS=--enable-source-maps
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

# `node` itself, not npm or a wrapper: it is then the container's main process
# and receives SIGTERM directly, so the gateway drains in-flight requests and
# the worker finishes its tasks before the container stops.
CMD ["node", "dist/node/src/gateway/main.js"]
