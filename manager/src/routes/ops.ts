import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { AppContext } from '../app-context.ts'

const tags = ['operations']

/** Probes and metrics: no API key (SPEC §3), nothing in them a caller could misuse. */
export function opsRoutes(app: FastifyInstance, ctx: AppContext, metrics: Registry | undefined): void {
  const config = { public: true }
  app.get('/healthz', { config, schema: { tags, summary: 'The process is up' } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { config, schema: { tags, summary: 'Redis answers' } }, async (_req, reply) => {
    try {
      await ctx.redis.ping()
      return { status: 'ready' }
    } catch {
      return reply.status(503).send({ error: { code: 'REDIS_UNAVAILABLE', message: 'Redis does not answer; check REDIS_URL' } })
    }
  })
  if (metrics) {
    app.get('/metrics', { config, schema: { tags, summary: 'Prometheus metrics (text exposition format)' } }, async (_req, reply) => {
      const text = await metrics.metrics()
      return reply.type(metrics.contentType).send(text)
    })
  }
}
