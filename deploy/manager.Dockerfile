# The manager: REST API, console, BullMQ dispatcher and the WebSocket delegates dial.
#   docker build --network host -f deploy/manager.Dockerfile -t registry-delegates/manager .
# The first stage bundles the manager and docker-compose's bootstrap into one file each
# (scripts/build.ts, esbuild); the image holds those, the console files, and no node_modules.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# the runtime dependencies and esbuild, at the versions package-lock.json pins
RUN node -e "const fs=require('node:fs'), p=JSON.parse(fs.readFileSync('package.json','utf8')); \
      p.dependencies={...p.dependencies, esbuild: p.devDependencies.esbuild}; delete p.devDependencies; delete p.scripts; delete p.bin; \
      fs.writeFileSync('package.json',JSON.stringify(p,null,2))" \
 && npm install --ignore-scripts --no-audit --no-fund --loglevel=error
COPY common ./common
COPY protocol ./protocol
COPY manager ./manager
COPY deploy/compose ./deploy/compose
COPY test/seed-registry.ts ./test/
COPY scripts/build.ts ./scripts/
RUN node scripts/build.ts manager bootstrap

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/dist/manager.mjs /app/dist/compose-bootstrap.mjs /app/dist/THIRD-PARTY-LICENSES.txt ./
COPY --from=build /app/dist/console ./console
# docker-compose.yml shares the delegate token through a volume mounted here; an empty named
# volume takes this directory's owner, so the non-root bootstrap can write into it.
RUN install -d -o node -g node /run/registry-delegates
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.MANAGER_PORT||8080)+'/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "manager.mjs"]
