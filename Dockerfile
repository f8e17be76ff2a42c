# syntax=docker/dockerfile:1
# One production image for every MassiveSMS process: `massivesms <command>` picks the service
# (router, dispatcher, webhooks, control, audit) or the one-shot `migrate`. Node runs the .ts files
# directly (type stripping), so there is no build step: the image holds the sources and the
# production dependencies only. Build: `docker build -t massivesms:<version> .`
# Deployed by k8s/ (probes, resources, read-only root filesystem, non-root user): see k8s/README.md.

# The Node version is the one package.json pins for development (devDependency `node`), so the
# image runs exactly what the tests ran on; infra/test/k8s.test.ts keeps the two equal.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# Stage 1: production dependencies. `npm ci --omit=dev` installs exactly the lock file without
# test and lint tools; its postinstall applies patches/ (kafkajs) with patch-package, which is
# therefore a production dependency. Workspace packages are symlinks into libs/ and services/,
# outside node_modules, where Node's type stripping applies.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY . .
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund \
 && rm -rf patches

# Stage 2: the runtime. Files stay owned by root and read-only to the process (uid 1000, the base
# image's `node` user), which also runs with a read-only root filesystem: nothing is written
# outside /tmp (an emptyDir in k8s). npm and corepack are removed: nothing installs at run time.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
COPY --from=deps --chown=0:0 /app /app
USER 1000:1000
# The services listen on HTTP_PORT (default 8080) for /healthz, /readyz and /metrics.
EXPOSE 8080
# Liveness and readiness are the orchestrator's probes on /healthz and /readyz (k8s/base); the port
# and scheme differ per service and `migrate` serves nothing, so the image declares none.
HEALTHCHECK NONE
# Node is PID 1: the services handle SIGTERM themselves (drain, commit, close; libs/telemetry).
ENTRYPOINT ["node", "/app/bin/massivesms.ts"]
CMD ["--help"]
