import { trace } from '@opentelemetry/api'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../app-context.ts'
import { normalizeSelectors } from '../connector-store.ts'
import { InvalidInputError, NotFoundError } from '../errors.ts'
import { idParams, taskBody, taskGetQuery, taskListQuery } from '../schemas.ts'
import { inServerSpan } from '../task-tracing.ts'
import type { TaskRequest, TaskStatus } from '../tasks.ts'

const tags = ['tasks']
/** Task ids are UUIDs; anything else must not reach BullMQ, whose own keys share the prefix. */
const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function taskRoutes(api: FastifyInstance, { tasks, taskConnector }: AppContext): void {
  api.post<{ Body: TaskRequest }>('/tasks', { schema: { tags, summary: 'Queue a registry task', body: taskBody } }, async (req, reply) =>
    // the root of the task's trace (task-tracing.ts)
    inServerSpan(req, reply, { 'rd.task.type': req.body.type, 'rd.connector.id': req.body.connectorId }, async () => {
      const connector = await taskConnector(req.body.connectorId).catch((err: unknown) => {
        if (err instanceof NotFoundError) throw new InvalidInputError('connectorId', `connector ${JSON.stringify(req.body.connectorId)} does not exist`)
        throw err
      })
      if (req.body.type === 'list-tags' && req.body.image === undefined) throw new InvalidInputError('image', 'required for list-tags')
      const selectors = normalizeSelectors([...connector.delegateSelectors, ...(req.body.delegateSelectors ?? [])])
      const data = await tasks.create(req.body, selectors)
      trace.getActiveSpan()?.setAttribute('rd.task.id', data.id)
      return reply.status(202).send({ id: data.id, status: 'queued' })
    }),
  )

  api.get<{ Params: { id: string }; Querystring: { waitMs?: number } }>(
    '/tasks/:id',
    { schema: { tags, summary: 'One task; with waitMs, wait up to that long for it to end', params: idParams, querystring: taskGetQuery } },
    async (req) => {
      if (!TASK_ID.test(req.params.id)) throw new NotFoundError('task', req.params.id)
      const view = await tasks.wait(req.params.id, req.query.waitMs ?? 0)
      if (!view) throw new NotFoundError('task', req.params.id)
      return view
    },
  )

  api.get<{ Querystring: { connectorId?: string; status?: TaskStatus; limit: number } }>(
    '/tasks',
    { schema: { tags, summary: 'Recent tasks, most recent first', querystring: taskListQuery } },
    async (req) => ({ tasks: await tasks.list(req.query) }),
  )
}
