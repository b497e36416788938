import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../app.ts'

export function opsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    try {
      await ctx.redis.ping()
      return { status: 'ready' }
    } catch {
      return reply.status(503).send({ error: { code: 'REDIS_UNAVAILABLE', message: 'Redis does not answer; check REDIS_URL' } })
    }
  })
}
