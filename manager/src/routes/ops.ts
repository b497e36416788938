import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import type { Registry } from 'prom-client'
import type { AppContext } from '../app-context.ts'
import { RedisUnavailableError } from '../errors.ts'
import { within } from '../within.ts'

const tags = ['operations']
/** A readiness probe answers within this, whatever Redis does (a paused Redis never answers). */
const PING_TIMEOUT_MS = 2_000

/** Probes and metrics: no API key (SPEC §3), nothing in them a caller could misuse. */
export function opsRoutes(app: FastifyInstance, ctx: AppContext, metrics: Registry | undefined): void {
  const config = { public: true }
  app.get('/healthz', { config, schema: { tags, summary: 'The process is up' } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { config, schema: { tags, summary: 'Redis answers' } }, async () => {
    await ping(ctx.redis, PING_TIMEOUT_MS)
    return { status: 'ready' }
  })
  if (metrics) {
    app.get('/metrics', { config, schema: { tags, summary: 'Prometheus metrics (text exposition format)' } }, async (_req, reply) => {
      const text = await metrics.metrics()
      return reply.type(metrics.contentType).send(text)
    })
  }
}

/** Resolves when Redis answers a PING within `ms`; RedisUnavailableError otherwise. */
async function ping(redis: Redis, ms: number): Promise<void> {
  if (redis.status !== 'ready') throw new RedisUnavailableError()
  try {
    await within(redis.ping(), ms, () => new RedisUnavailableError())
  } catch (err) {
    throw err instanceof RedisUnavailableError ? err : new RedisUnavailableError({ cause: err })
  }
}
