/**
 * A helper process for bench/dispatch.ts: N real delegates (real WebSocket, real protocol) whose
 * "registry work" returns at once, so that the benchmark measures dispatch, not a registry. With
 * OTEL_EXPORTER_OTLP_ENDPOINT set it traces as a delegate does (the task.run span of each task).
 *   node bench/trivial-delegates.ts MANAGER_URL TOKEN N [CAPACITY] [NAME] [TAGS]
 */
import { pino } from 'pino'
import { startTracing } from '../common/src/tracing.ts'
import { loadDelegateConfig } from '../delegate/src/config.ts'
import { Delegate } from '../delegate/src/delegate.ts'
import { inTaskSpan } from '../delegate/src/registry/task-span.ts'

const [url, token, n = '1', capacity = '64', name = 'bench', tags = 'bench'] = process.argv.slice(2)
if (!url || !token) throw new Error('usage: trivial-delegates.ts MANAGER_URL TOKEN N [CAPACITY] [NAME] [TAGS]')
const log = pino({ level: 'warn' })
const { tracing } = loadDelegateConfig([], { ...process.env, MANAGER_URL: url, DELEGATE_TOKEN: token })
if (tracing) await startTracing(tracing, { version: 'bench', instanceId: name }, log)
const delegates = Array.from(
  { length: Number(n) },
  (_, i) =>
    new Delegate({
      managerUrls: [url],
      token,
      name: `${name}-${i}`,
      tags: tags.split(','),
      capacity: Number(capacity),
      version: 'bench',
      log,
      env: {},
      runner: {
        run: (task, signal, opts) => inTaskSpan(task, opts?.trace, signal, async () => ({ type: 'list-tags', image: task.image ?? 'x', tags: ['1'], truncated: false })),
        close: async () => {},
      },
    }),
)
for (const d of delegates) d.start()
process.once('SIGTERM', () => void Promise.all(delegates.map((d) => d.close())).then(() => process.exit(0)))
