/** The manager's HTTP surface: fastify with schema validation, API-key auth, JSON errors. */
import { timingSafeEqual, createHash } from 'node:crypto'
import swagger from '@fastify/swagger'
import { Ajv } from 'ajv'
import Fastify, { errorCodes, LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { VERSION } from '../../common/src/version.ts'
import { TaskErrorCode } from '../../protocol/src/index.ts'
import { ApiErrorCode, isApiErrorCode } from './api-error-codes.ts'
import type { AppContext } from './app-context.ts'
import { InvalidInputError, ManagerError, NotFoundError, RedisUnavailableError, TaskFailedError, UnauthorizedError } from './errors.ts'
import { connectorRoutes } from './routes/connectors.ts'
import { delegateRoutes } from './routes/delegates.ts'
import { monitoringRoutes } from './routes/monitoring.ts'
import { opsRoutes } from './routes/ops.ts'
import { secretRoutes } from './routes/secrets.ts'
import { taskRoutes } from './routes/tasks.ts'
import { errorResponse } from './schemas.ts'


export interface AppOptions {
  apiKey: string
  log: Logger
  ctx: AppContext
  /** served at /metrics; none: /metrics answers 404 */
  metrics?: Registry | undefined
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** served without the API key (ops endpoints, the OpenAPI document) */
    public?: boolean
  }
}

export function buildApp({ apiKey, log, ctx, metrics }: AppOptions): FastifyInstance {
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- pino's Logger and fastify's logger type differ on childLoggerFactory
    loggerInstance: log as FastifyBaseLogger,
    // one debug line per request (onResponse below) instead of fastify's two info lines
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // errors raised before routing (a path that is not valid percent-encoding) get our shape too
    frameworkErrors: (err, req, reply) => {
      void sendError(err, req, reply, ctx)
    },
  })

  // Query strings and path parameters arrive as text, so their numbers are coerced; JSON bodies
  // are typed already and are checked strictly ({"name": 123} is refused, not turned into "123").
  const strict = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false })
  const coercing = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false })
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema))

  const expected = createHash('sha256').update(apiKey).digest()
  app.addHook('onRequest', async (req) => {
    // Decide on the route that matched, not on the raw URL: find-my-way decodes percent-escapes,
    // so `/api/%761/secrets` reaches `/api/v1/secrets` without ever starting with "/api/v1/".
    // Unmatched URLs fall through to the 404 handler, which reveals nothing.
    const path = req.routeOptions.url ?? req.url
    if (!(path === '/api/v1' || path.startsWith('/api/v1/')) || req.routeOptions.config.public === true) return
    const auth = req.headers.authorization ?? ''
    const bearer = /^bearer\s+(.+)$/i.exec(auth.trim())
    // hash both sides so that timingSafeEqual compares equal lengths whatever was sent
    const presented = createHash('sha256').update(bearer?.[1] ?? '').digest()
    if (!timingSafeEqual(presented, expected)) {
      req.log.warn({ remote: req.ip, method: req.method, url: req.routeOptions.url }, 'API request refused: missing or wrong API key')
      throw new UnauthorizedError()
    }
    // Every API route needs Redis: while the client is not connected, say so at once rather than
    // queue the request behind the reconnection (a stopped Redis would hold it until it returns).
    if (ctx.redis.status !== 'ready') throw new RedisUnavailableError()
  })
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.routeOptions.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request')
  })

  app.setErrorHandler((err: unknown, req, reply) => sendError(err, req, reply, ctx))
  app.setNotFoundHandler((req) => {
    const route = `${req.method} ${req.url.split('?')[0]}`
    throw new NotFoundError('route', route, `no route ${route}`)
  })

  // Registered first: @fastify/swagger collects every route added after it (onRoute hook).
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'registry-delegates manager',
        version: VERSION,
        description: 'REST API of the manager (SPEC §3). Every /api/v1 route needs Authorization: Bearer <MANAGER_API_KEY>.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'MANAGER_API_KEY' },
          delegateToken: { type: 'http', scheme: 'bearer', description: 'a delegate token (POST /api/v1/delegate-tokens)' },
        },
      },
      security: [{ apiKey: [] }],
    },
    // the delegates' WebSocket is served beside fastify (on 'upgrade'), so it is described by hand
    transformObject: (documentObject) => {
      if (!('openapiObject' in documentObject)) return documentObject.swaggerObject
      const { openapiObject } = documentObject
      return {
        ...openapiObject,
        paths: {
          ...openapiObject.paths,
          '/api/v1/delegates/stream': {
            get: {
              tags: ['delegates'],
              summary: 'The WebSocket delegates dial; the protocol is in protocol/src/messages.ts',
              security: [{ delegateToken: [] }],
              responses: {
                101: { description: 'Switching Protocols' },
                401: { description: 'Missing, wrong or revoked delegate token; answered before any protocol runs' },
              },
            },
          },
        },
      }
    },
    transform: ({ schema, url, route }) => {
      const doc: Record<string, unknown> = { ...schema }
      if (route.config?.public === true) doc.security = []
      // documentation only: fastify never serialises answers through these
      doc.response = { ...(schema?.response as object | undefined), '4XX': errorResponse, '5XX': errorResponse }
      return { schema: doc, url }
    },
  })
  app.register(async (root) => opsRoutes(root, ctx, metrics))
  app.register(import('./routes/console.ts'))
  app.register(
    async (api) => {
      api.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger())
      connectorRoutes(api, ctx)
      secretRoutes(api, ctx)
      taskRoutes(api, ctx)
      delegateRoutes(api, ctx)
      monitoringRoutes(api, ctx)
    },
    { prefix: '/api/v1' },
  )
  return app
}

/** The status each of the API's own codes answers with. */
const STATUS: Readonly<Record<ApiErrorCode, number>> = {
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  SECRET_IN_USE: 409,
  SECRET_OUT_OF_SCOPE: 400,
  PAYLOAD_TOO_LARGE: 413,
  REDIS_UNAVAILABLE: 503,
  INTERNAL: 500,
}

/** A task a route waited for that no delegate could run answers 503; the registry's own failures 502. */
const NO_DELEGATE: ReadonlySet<TaskErrorCode> = new Set([
  TaskErrorCode.NO_ELIGIBLE_DELEGATE,
  TaskErrorCode.DELEGATE_CANNOT_REACH_REGISTRY,
  TaskErrorCode.DELEGATE_BUSY,
  TaskErrorCode.EXPIRED,
])

/**
 * The one place where failures become HTTP answers, `{error: {code, message}}` and a status:
 * the manager's own errors by class, fastify's by their class or validation, and anything else
 * as INTERNAL (logged with its stack) or, while Redis is away, REDIS_UNAVAILABLE.
 */
function sendError(thrown: unknown, req: FastifyRequest, reply: FastifyReply, ctx: AppContext): FastifyReply {
  let err = thrown
  if (!(err instanceof ManagerError) && !isFastifyClientError(err) && ctx.redis.status !== 'ready') err = new RedisUnavailableError({ cause: err })
  if (err instanceof TaskFailedError) {
    return reply.status(NO_DELEGATE.has(err.code) ? 503 : 502).send({ error: { code: err.code, message: err.message }, task: err.task })
  }
  if (err instanceof InvalidInputError) {
    return reply.status(STATUS.INVALID_INPUT).send({ error: { code: err.code, message: `body${err.field === undefined ? '' : `/${err.field}`}: ${err.message}` } })
  }
  if (err instanceof ManagerError) {
    if (err instanceof RedisUnavailableError) req.log.warn({ err: err.cause }, 'request refused: Redis is not connected')
    const status = isApiErrorCode(err.code) ? STATUS[err.code] : 500
    if (status === 500) req.log.error({ err }, 'request failed')
    return reply.status(status).send({ error: { code: err.code, message: err.message } })
  }
  if (isFastifyClientError(err)) {
    if (err.validation) return reply.status(STATUS.INVALID_INPUT).send({ error: { code: ApiErrorCode.INVALID_INPUT, message: describeValidation(err) } })
    const code = err instanceof errorCodes.FST_ERR_CTP_BODY_TOO_LARGE ? ApiErrorCode.PAYLOAD_TOO_LARGE : ApiErrorCode.INVALID_INPUT
    // fastify's own 4xx: bad JSON, wrong content type, a path that is not valid percent-encoding
    return reply.status(err.statusCode!).send({ error: { code, message: err.message } })
  }
  req.log.error({ err }, 'request failed')
  return reply.status(STATUS.INTERNAL).send({ error: { code: ApiErrorCode.INTERNAL, message: 'internal error; see the manager log' } })
}

function isFastifyClientError(err: unknown): err is FastifyError {
  if (!(err instanceof Error)) return false
  const { validation, statusCode } = err as FastifyError
  return validation !== undefined || (statusCode !== undefined && statusCode >= 400 && statusCode < 500)
}

/** "body/delegateSelectors/0 must NOT have fewer than 1 characters", naming the field. */
function describeValidation(err: FastifyError): string {
  const first = err.validation?.[0]
  if (!first) return err.message
  const where = `${err.validationContext ?? 'body'}${first.instancePath}`
  const params: Record<string, unknown> = first.params
  if (first.keyword === 'required') return `${where}/${String(params.missingProperty)} is required`
  if (first.keyword === 'additionalProperties') return `${where}/${String(params.additionalProperty)} is not a known field`
  if (first.keyword === 'enum') return `${where} must be one of ${(params.allowedValues as unknown[]).join(', ')}`
  return `${where} ${first.message ?? 'is invalid'}`
}
