# The delegate: dials out to the manager and runs registry tasks inside a private network.
#   docker build --network host -f deploy/delegate.Dockerfile -t registry-delegates/delegate .
# The first stage bundles the delegate into one file (scripts/build.ts, esbuild); the image
# holds that file and Node, and no node_modules: the bundle carries its dependencies.

FROM node:24-bookworm-slim AS build
# What the bundle is made of: the delegate's runtime dependencies (prom-client for /metrics and
# OpenTelemetry for traces are in the file but load only when turned on), and esbuild, at the
# versions package-lock.json pins (the manager's dependencies are not needed for this bundle).
ARG BUILD_DEPENDENCIES="convict pino undici ws prom-client @opentelemetry/api @opentelemetry/sdk-trace @opentelemetry/context-async-hooks @opentelemetry/core @opentelemetry/resources @opentelemetry/exporter-trace-otlp-http @opentelemetry/exporter-trace-otlp-proto esbuild"
WORKDIR /app
COPY package.json package-lock.json ./
RUN node -e "const fs=require('node:fs'), keep=process.argv[1].split(' '), p=JSON.parse(fs.readFileSync('package.json','utf8')); \
      const pick=(o)=>Object.fromEntries(Object.entries(o??{}).filter(([k])=>keep.includes(k))); \
      p.dependencies={...pick(p.dependencies),...pick(p.devDependencies)}; delete p.devDependencies; delete p.scripts; delete p.bin; \
      fs.writeFileSync('package.json',JSON.stringify(p,null,2))" "$BUILD_DEPENDENCIES" \
 && npm install --ignore-scripts --no-audit --no-fund --loglevel=error
COPY common ./common
COPY protocol ./protocol
COPY delegate ./delegate
COPY scripts/build.ts scripts/undici-for-delegate.js ./scripts/
RUN node scripts/build.ts delegate

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    DELEGATE_HEALTH_PORT=8081
WORKDIR /app
COPY --from=build /app/dist/registry-delegate.mjs /app/dist/THIRD-PARTY-LICENSES.txt ./
USER node
EXPOSE 8081
# GET / on DELEGATE_HEALTH_PORT answers 200 while connected to a manager (port 0: no endpoint)
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const p=Number(process.env.DELEGATE_HEALTH_PORT||0); if(!p)process.exit(0); fetch('http://127.0.0.1:'+p+'/',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains: give `docker stop -t` / stop_grace_period more than DELEGATE_DRAIN_GRACE_MS
CMD ["node", "registry-delegate.mjs"]
