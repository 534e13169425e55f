# One image per service, all from this file:
#   docker build --build-arg SERVICE=identity --build-arg PORT=5001 -t multishop/identity .
# (compose.yaml passes these build arguments for each service.)

# Keep in step with the Deno version that .ci/run installs: deno.lock is written by it.
ARG DENO_VERSION=2.9.6
FROM denoland/deno:${DENO_VERSION}

# The service to run, its entry point (services/<SERVICE>/main.ts, or edge/main.ts for the edge) and
# the port it listens on.
ARG SERVICE
ARG ENTRY=services/${SERVICE}/main.ts
ARG PORT=8000
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<name of a folder in services/>" >&2; exit 1; }
ENV SERVICE=${SERVICE} \
    ENTRY=${ENTRY} \
    PORT=${PORT} \
    HOST=0.0.0.0

WORKDIR /app
RUN chown deno:deno /app
USER deno

# Only the workspace (root config, lock file, services/, edge/ and the OpenAPI documents the edge
# serves): not .infra/, node_modules/ or .git from the host. A new workspace member needs its own COPY line.
COPY --chown=deno:deno deno.json deno.lock ./
COPY --chown=deno:deno services/ ./services/
COPY --chown=deno:deno edge/ ./edge/
COPY --chown=deno:deno openapi/ ./openapi/

# Download and cache every dependency of the service at build time, exactly as locked, so that the
# container starts without the network.
RUN deno install --frozen --entrypoint "${ENTRY}"

EXPOSE ${PORT}

# Shell form so that ${ENTRY} expands at run time; `exec` makes Deno receive the stop signal.
# --allow-ffi: native npm addons (identity's @node-rs/argon2) load only with it; --allow-run: the edge
# bundles its Worker and runs workerd.
CMD exec deno run --allow-net --allow-env --allow-read --allow-write --allow-sys --allow-ffi --allow-run "${ENTRY}"
