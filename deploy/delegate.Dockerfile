# The delegate: dials out to the manager and runs registry tasks inside a private network.
#   docker build --network host -f deploy/delegate.Dockerfile -t registry-delegates/delegate .
# Node runs the TypeScript sources directly (type stripping): there is no compile step.

FROM node:24-bookworm-slim AS deps
# The delegate needs four of the runtime dependencies (the rest serve the manager): install
# only those, at the versions package-lock.json pins. test/deploy-images.int.test.ts fails
# when the delegate's sources import a package missing from this list.
ARG DELEGATE_DEPENDENCIES="convict pino undici ws"
WORKDIR /app
COPY package.json package-lock.json ./
RUN node -e "const fs=require('node:fs'), keep=process.argv[1].split(' '), p=JSON.parse(fs.readFileSync('package.json','utf8')); \
      p.dependencies=Object.fromEntries(Object.entries(p.dependencies).filter(([k])=>keep.includes(k))); \
      delete p.devDependencies; delete p.scripts; fs.writeFileSync('package.json',JSON.stringify(p,null,2))" "$DELEGATE_DEPENDENCIES" \
 && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    DELEGATE_HEALTH_PORT=8081
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
# whole packages (tests stay out through .dockerignore): the delegate imports only common and protocol
COPY common ./common
COPY protocol ./protocol
COPY delegate ./delegate
USER node
EXPOSE 8081
# GET / on DELEGATE_HEALTH_PORT answers 200 while connected to a manager (port 0: no endpoint)
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const p=Number(process.env.DELEGATE_HEALTH_PORT||0); if(!p)process.exit(0); fetch('http://127.0.0.1:'+p+'/',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains: give `docker stop -t` / stop_grace_period more than DELEGATE_DRAIN_GRACE_MS
CMD ["node", "delegate/src/main.ts"]
