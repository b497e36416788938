import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../app-context.ts'
import { delegateStatsQuery, idParams, statsQuery } from '../schemas.ts'

/** Connector health and the activity behind the console's charts (SPEC §8). */
export function monitoringRoutes(api: FastifyInstance, { connectors, monitoring }: AppContext): void {
  api.get<{ Params: { id: string } }>(
    '/connectors/:id/health',
    {
      schema: {
        tags: ['connectors'],
        summary: 'Health of a connector: healthy, failing (since) or unknown, and its last 100 checks',
        description:
          'A check is a validation of a connector whose healthCheck is on, scheduled or run by hand. ' +
          'Answers {state, since?, healthCheck, nextCheckAt?, checks: [{at, outcome, code?, message?, delegate?, durationMs, task}]}, newest first.',
        params: idParams,
      },
    },
    async (req) => monitoring.connectorHealth(await connectors.get(req.params.id)),
  )
  api.get<{ Querystring: { minutes: number } }>(
    '/stats/tasks',
    {
      schema: {
        tags: ['statistics'],
        summary: 'Tasks ended per minute by type and outcome, with duration percentiles',
        description:
          'Answers {minutes: [ISO start of each minute], series: [{type, outcome, counts, p50Ms, p95Ms, total, window: {p50Ms, p90Ms, p99Ms}}]}; ' +
          'percentiles come from duration buckets (25 ms … 300 s), as Prometheus histogram_quantile reads them.',
        querystring: statsQuery,
      },
    },
    async (req) => monitoring.stats.tasks(req.query.minutes),
  )
  api.get<{ Querystring: { minutes: number; limit: number } }>(
    '/stats/delegates',
    {
      schema: {
        tags: ['statistics'],
        summary: "Each delegate's load per minute: average and highest running tasks, and its capacity",
        description:
          'Answers {minutes, total, delegates: [{id, name, capacity, avg, max}]}: the `limit` delegates busiest at their peak (default 24), ' +
          'null where a delegate was not connected. Sampled every MANAGER_WATCH_INTERVAL_MS.',
        querystring: delegateStatsQuery,
      },
    },
    async (req) => monitoring.stats.delegates(req.query.minutes, req.query.limit),
  )
}
