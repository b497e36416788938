/**
 * A helper process for bench/dispatch.ts: N real delegates (real WebSocket, real protocol) whose
 * "registry work" returns at once, so that the benchmark measures dispatch, not a registry.
 *   node bench/trivial-delegates.ts MANAGER_URL TOKEN N [CAPACITY] [NAME] [TAGS]
 */
import { pino } from 'pino'
import { Delegate } from '../delegate/src/delegate.ts'

const [url, token, n = '1', capacity = '64', name = 'bench', tags = 'bench'] = process.argv.slice(2)
if (!url || !token) throw new Error('usage: trivial-delegates.ts MANAGER_URL TOKEN N [CAPACITY] [NAME] [TAGS]')
const log = pino({ level: 'warn' })
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
        run: async (task) => ({ type: 'list-tags', image: task.image ?? 'x', tags: ['1'], truncated: false }),
        close: async () => {},
      },
    }),
)
for (const d of delegates) d.start()
process.once('SIGTERM', () => void Promise.all(delegates.map((d) => d.close())).then(() => process.exit(0)))
