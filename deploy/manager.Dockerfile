# The manager: REST API, console, BullMQ dispatcher and the WebSocket delegates dial.
#   docker build --network host -f deploy/manager.Dockerfile -t registry-delegates/manager .
# Node runs the TypeScript sources directly (type stripping): there is no compile step.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
# whole packages (tests stay out through .dockerignore): the manager imports only common and protocol
COPY common ./common
COPY protocol ./protocol
COPY manager ./manager
# docker-compose.yml shares the delegate token through a volume mounted here; an empty named
# volume takes this directory's owner, so the non-root bootstrap can write into it.
RUN install -d -o node -g node /run/registry-delegates
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.MANAGER_PORT||8080)+'/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "manager/src/main.ts"]
