/** The manager's HTTP surface: fastify with schema validation, API-key auth, JSON errors. */
import { timingSafeEqual, createHash } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { ApiError } from './api-error.ts'
import type { ConnectorStore } from './connector-store.ts'
import type { DelegateDirectory } from './delegate-directory.ts'
import type { SecretStore } from './secret-store.ts'
import type { Tasks } from './tasks.ts'
import type { TokenStore } from './token-store.ts'
import { connectorRoutes } from './routes/connectors.ts'
import { delegateRoutes } from './routes/delegates.ts'
import { opsRoutes } from './routes/ops.ts'
import { secretRoutes } from './routes/secrets.ts'
import { taskRoutes } from './routes/tasks.ts'

export interface AppContext {
  redis: Redis
  connectors: ConnectorStore
  secrets: SecretStore
  tokens: TokenStore
  tasks: Tasks
  directory: DelegateDirectory
  /** disconnects the delegates of a revoked token on this replica at once */
  revokeToken(tokenId: string): void
}

export interface AppOptions {
  apiKey: string
  log: Logger
  ctx: AppContext
}

export function buildApp({ apiKey, log, ctx }: AppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    disableRequestLogging: true,
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: false } },
  })

  const expected = createHash('sha256').update(apiKey).digest()
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/v1/') || req.url.startsWith('/api/v1/delegates/stream')) return
    const auth = req.headers.authorization ?? ''
    const presented = createHash('sha256').update(auth.startsWith('Bearer ') ? auth.slice(7).trim() : '').digest()
    if (!timingSafeEqual(presented, expected)) {
      throw new ApiError(401, 'UNAUTHORIZED', 'missing or wrong API key: send Authorization: Bearer <MANAGER_API_KEY>')
    }
  })
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.routeOptions.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request')
  })

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message }, ...err.extra })
    }
    if (err.validation) {
      return reply.status(400).send({ error: { code: 'INVALID_INPUT', message: describeValidation(err) } })
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      // fastify's own 4xx: bad JSON, wrong content type, body too large
      return reply.status(err.statusCode).send({ error: { code: 'INVALID_INPUT', message: err.message } })
    }
    req.log.error({ err }, 'request failed')
    return reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error; see the manager log' } })
  })
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  )

  opsRoutes(app, ctx)
  app.register(
    async (api) => {
      connectorRoutes(api, ctx)
      secretRoutes(api, ctx)
      taskRoutes(api, ctx)
      delegateRoutes(api, ctx)
    },
    { prefix: '/api/v1' },
  )
  return app
}

/** "body/delegateSelectors/0 must NOT have fewer than 1 characters", naming the field. */
function describeValidation(err: FastifyError): string {
  const first = err.validation?.[0]
  if (!first) return err.message
  const where = `${err.validationContext ?? 'body'}${first.instancePath}`
  const params = first.params as Record<string, unknown>
  if (first.keyword === 'required') return `${where}/${String(params.missingProperty)} is required`
  if (first.keyword === 'additionalProperties') return `${where}/${String(params.additionalProperty)} is not a known field`
  if (first.keyword === 'enum') return `${where} must be one of ${(params.allowedValues as unknown[]).join(', ')}`
  return `${where} ${first.message ?? 'is invalid'}`
}
