/** delegatectl tasks ls|get|wait */
import { Command, Option } from 'commander'
import type { Connector } from '../../manager/src/connector-store.ts'
import type { TaskView } from '../../manager/src/tasks.ts'
import { withCtx } from '../context.ts'
import { CliError, EXIT } from '../errors.ts'
import type { Client } from '../http.ts'
import { resolveConnector } from '../resolve.ts'
import { ago, table } from '../table.ts'
import { describeTask, FINAL, taskDuration, taskFailure } from '../task-output.ts'
import { positiveInt } from './connectors.ts'

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'expired']

export function tasksCommand(): Command {
  const cmd = new Command('tasks').description('registry tasks and how a delegate was chosen for each')

  cmd
    .command('ls')
    .description('list recent tasks, the most recent first')
    .option('--connector <connector>', 'only this connector\'s (id or name)')
    .addOption(new Option('--status <status>', 'only tasks in this state').choices(STATUSES))
    .option('--limit <n>', 'at most this many (1-500)', positiveInt, 50)
    .action(
      withCtx(async (ctx, o: { connector?: string; status?: string; limit: number }) => {
        const q = new URLSearchParams({ limit: String(o.limit) })
        if (o.connector) q.set('connectorId', (await resolveConnector(ctx.client, o.connector)).id)
        if (o.status) q.set('status', o.status)
        const [{ tasks }, { connectors }] = await Promise.all([
          ctx.client.call<{ tasks: TaskView[] }>('GET', `/tasks?${q}`),
          ctx.client.call<{ connectors: Connector[] }>('GET', '/connectors'),
        ])
        if (ctx.json) return ctx.outJson({ tasks })
        const names = new Map(connectors.map((c) => [c.id, c.name]))
        const now = Date.now()
        ctx.out(
          table(
            ['id', 'type', 'connector', 'image', 'status', 'error', 'delegate', 'attempts', 'created', 'duration'],
            tasks.map((t) => [t.id, t.type, names.get(t.connectorId) ?? t.connectorId, t.image, t.status, t.error?.code, t.delegate?.name, t.attempts, ago(t.createdAt, now), taskDuration(t, now)]),
          ),
        )
      }),
    )

  cmd
    .command('get')
    .description('show one task with its selection log')
    .argument('<id>', 'task id')
    .action(
      withCtx(async (ctx, id: string) => {
        const task = await ctx.client.call<TaskView>('GET', `/tasks/${encodeURIComponent(id)}`)
        if (ctx.json) return ctx.outJson(task)
        ctx.out(describeTask(task, await connectorName(ctx.client, task.connectorId)))
      }),
    )

  cmd
    .command('wait')
    .description('wait until a task ends; exits 0 when it succeeded, 1 when it failed or expired')
    .argument('<id>', 'task id')
    .option('--timeout <ms>', 'give up waiting after this long (the task goes on)', positiveInt, 120_000)
    .action(
      withCtx(async (ctx, id: string, o: { timeout: number }) => {
        const until = Date.now() + o.timeout
        let task = await ctx.client.call<TaskView>('GET', `/tasks/${encodeURIComponent(id)}`)
        while (!FINAL.has(task.status) && Date.now() < until) {
          const waitMs = Math.min(30_000, Math.max(1, until - Date.now()))
          task = await ctx.client.call<TaskView>('GET', `/tasks/${encodeURIComponent(id)}?waitMs=${waitMs}`, undefined, waitMs)
        }
        if (ctx.json) ctx.outJson(task)
        else ctx.out(describeTask(task, await connectorName(ctx.client, task.connectorId)))
        if (!FINAL.has(task.status)) {
          throw new CliError('WAIT_TIMEOUT', `task ${id} is still ${task.status} after ${o.timeout} ms`, EXIT.failed, {
            task: { id: task.id, status: task.status },
            hint: 'Its selection log says what it waits for; wait longer with --timeout.',
          })
        }
        if (task.status !== 'succeeded') throw taskFailure(task)
      }),
    )
  return cmd
}

/** The name is a nicety: a deleted connector leaves its id alone. */
async function connectorName(client: Client, id: string): Promise<string | undefined> {
  try {
    return (await client.call<Connector>('GET', `/connectors/${encodeURIComponent(id)}`)).name
  } catch {
    return undefined
  }
}
