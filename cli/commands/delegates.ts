/** delegatectl delegates ls */
import { Command } from 'commander'
import type { DelegateView } from '../../manager/src/delegate-directory.ts'
import { withCtx } from '../context.ts'
import { ago, table } from '../table.ts'

export function delegatesCommand(): Command {
  const cmd = new Command('delegates').description('the delegates the manager knows')
  cmd
    .command('ls')
    .description('list delegates, connected first')
    .action(
      withCtx(async (ctx) => {
        const list = await ctx.client.call<DelegateView[]>('GET', '/delegates')
        if (ctx.json) return ctx.outJson(list)
        list.sort((a, b) => Number(b.connected) - Number(a.connected) || a.name.localeCompare(b.name))
        const now = Date.now()
        ctx.out(
          table(
            ['name', 'state', 'selectors', 'version', 'tasks', 'heartbeat', 'connected', 'id'],
            list.map((d) => [
              d.name,
              !d.connected ? 'disconnected' : d.draining ? 'draining' : 'connected',
              d.tags.join(','),
              d.version,
              `${d.activeTasks}/${d.capacity}`,
              ago(d.lastHeartbeatAt, now),
              d.connected ? ago(d.connectedAt, now) : '-',
              d.id,
            ]),
          ),
        )
      }),
    )
  return cmd
}
