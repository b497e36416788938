import { trace } from '@opentelemetry/api'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { TaskErrorCode, type TaskType } from '../../../protocol/src/index.ts'
import type { AppContext } from '../app-context.ts'
import type { ConnectorInput } from '../connector-store.ts'
import { InvalidInputError, TaskFailedError } from '../errors.ts'
import { checkConnectorUrl } from '../registry-host.ts'
import { connectorBody, idParams, runQuery, tagsQuery } from '../schemas.ts'
import { inServerSpan } from '../task-tracing.ts'
import type { TaskView } from '../tasks.ts'

const tags = ['connectors']

export function connectorRoutes(api: FastifyInstance, ctx: AppContext): void {
  const { connectors, secrets } = ctx

  async function checkInput(input: ConnectorInput): Promise<void> {
    checkConnectorUrl(input.url)
    if (hasUserinfo(input.url)) {
      // the URL is stored and shown as entered: a password in it would be at rest in clear
      throw new InvalidInputError('url', 'a URL must not hold credentials; give username and passwordSecretId (or passwordRef) instead')
    }
    if (input.passwordSecretId !== undefined && input.passwordRef !== undefined) {
      throw new InvalidInputError(undefined, 'give passwordSecretId or passwordRef, not both')
    }
    if ((input.passwordSecretId !== undefined || input.passwordRef !== undefined) && input.username === undefined) {
      throw new InvalidInputError('username', 'required when a password is given')
    }
    if (input.passwordSecretId !== undefined) await secrets.assertUsableBy(input.passwordSecretId, input.project ?? null)
  }

  api.post<{ Body: ConnectorInput }>('/connectors', { schema: { tags, summary: 'Create a Docker Registry connector', body: connectorBody } }, async (req, reply) => {
    await checkInput(req.body)
    const created = await connectors.create(req.body)
    await ctx.monitoring.connectorSaved(created)
    return reply.status(201).send(created)
  })
  api.get('/connectors', { schema: { tags, summary: 'List connectors' } }, async () => ({ connectors: await connectors.list() }))
  api.get<{ Params: { id: string } }>('/connectors/:id', { schema: { tags, summary: 'One connector', params: idParams } }, async (req) => connectors.get(req.params.id))
  api.put<{ Params: { id: string }; Body: ConnectorInput }>(
    '/connectors/:id',
    { schema: { tags, summary: 'Replace a connector', params: idParams, body: connectorBody } },
    async (req) => {
      await connectors.get(req.params.id)
      await checkInput(req.body)
      const replaced = await connectors.replace(req.params.id, req.body)
      ctx.connectorChanged(req.params.id)
      await ctx.monitoring.connectorSaved(replaced)
      return replaced
    },
  )
  api.delete<{ Params: { id: string } }>('/connectors/:id', { schema: { tags, summary: 'Delete a connector', params: idParams } }, async (req, reply) => {
    await connectors.delete(req.params.id)
    ctx.connectorChanged(req.params.id)
    await ctx.monitoring.connectorDeleted(req.params.id)
    return reply.status(204).send()
  })

  async function runAndWait(connectorId: string, type: TaskType, image: string | undefined, timeoutMs: number | undefined): Promise<TaskView> {
    const connector = await ctx.taskConnector(connectorId)
    const data = await ctx.tasks.create({ type, connectorId, image, timeoutMs }, connector.delegateSelectors)
    trace.getActiveSpan()?.setAttribute('rd.task.id', data.id)
    // The task ends by its own timeout at the latest; the margin covers the last Redis writes.
    const view = await ctx.tasks.wait(data.id, data.timeoutMs + 5_000)
    if (!view) throw new Error(`task ${data.id} vanished from the queue while a request waited for it`)
    return view
  }

  /** The routes that run a task are the root of its trace, for as long as they wait (task-tracing.ts). */
  function traced<T>(req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply, type: TaskType, handler: () => Promise<T>): Promise<T> {
    return inServerSpan(req, reply, { 'rd.task.type': type, 'rd.connector.id': req.params.id }, handler)
  }

  function failIfFailed(task: TaskView): void {
    if (task.status === 'succeeded') return
    const error = task.error ?? { code: TaskErrorCode.EXPIRED, message: `task still ${task.status} after its timeout` }
    throw new TaskFailedError(error.code, error.message, task)
  }

  api.post<{ Params: { id: string }; Querystring: { timeoutMs?: number } }>(
    '/connectors/:id/validate',
    { schema: { tags, summary: 'Validate the connector on a delegate and wait (200 with the task, failed or not)', params: idParams, querystring: runQuery } },
    async (req, reply) => traced(req, reply, 'validate-connector', () => runAndWait(req.params.id, 'validate-connector', undefined, req.query.timeoutMs)),
  )

  api.get<{ Params: { id: string }; Querystring: { timeoutMs?: number } }>(
    '/connectors/:id/images',
    { schema: { tags, summary: 'List the repositories (catalog) through a delegate', params: idParams, querystring: runQuery } },
    async (req, reply) =>
      traced(req, reply, 'list-images', async () => {
        const task = await runAndWait(req.params.id, 'list-images', undefined, req.query.timeoutMs)
        failIfFailed(task)
        const result = task.result
        if (result?.type !== 'list-images') throw wrongResult(task)
        return { images: result.images, truncated: result.truncated, skipped: result.skipped ?? 0, task: withoutResult(task) }
      }),
  )

  api.get<{ Params: { id: string }; Querystring: { image: string; timeoutMs?: number } }>(
    '/connectors/:id/tags',
    { schema: { tags, summary: 'List every tag of one image through a delegate', params: idParams, querystring: tagsQuery } },
    async (req, reply) =>
      traced(req, reply, 'list-tags', async () => {
        const task = await runAndWait(req.params.id, 'list-tags', req.query.image, req.query.timeoutMs)
        failIfFailed(task)
        const result = task.result
        if (result?.type !== 'list-tags') throw wrongResult(task)
        return { image: result.image, tags: result.tags, truncated: result.truncated, skipped: result.skipped ?? 0, task: withoutResult(task) }
      }),
  )
}

function wrongResult(task: TaskView): TaskFailedError {
  return new TaskFailedError(TaskErrorCode.PROTOCOL_ERROR, 'the delegate answered with the wrong result type; see its log', withoutResult(task))
}

function hasUserinfo(url: string): boolean {
  const trimmed = url.trim()
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`)
    return u.username !== '' || u.password !== ''
  } catch {
    return false
  }
}

/** The list is already at the top level of the answer; do not send it twice. */
function withoutResult(task: TaskView): Omit<TaskView, 'result'> {
  const { result: _result, ...rest } = task
  return rest
}
