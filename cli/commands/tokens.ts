/** delegatectl tokens create|ls|revoke */
import { Command } from 'commander'
import type { DelegateToken } from '../../manager/src/token-store.ts'
import { withCtx } from '../context.ts'
import { pick } from '../resolve.ts'
import { ago, table } from '../table.ts'

export function tokensCommand(): Command {
  const cmd = new Command('tokens').description('delegate tokens: what delegates authenticate with')

  cmd
    .command('create')
    .description('create a token; prints it once on stdout (how to start a delegate goes to stderr)')
    .argument('<name>', 'a name for the token (e.g. the network its delegates run in)')
    .option('--delegate-name <delegateName>', 'bind the token to this one delegate name (DELEGATE_NAME): it cannot connect as any other')
    .action(
      withCtx(async (ctx, name: string, o: { delegateName?: string }) => {
        const body: Record<string, string> = { name }
        if (o.delegateName !== undefined) body.delegateName = o.delegateName
        const created = await ctx.client.call<DelegateToken & { token: string }>('POST', '/delegate-tokens', body)
        if (ctx.json) return ctx.outJson(created)
        ctx.out(created.token)
        const as = created.delegateName === null ? '' : ` -e DELEGATE_NAME=${created.delegateName}`
        ctx.note(
          [
            `Token "${created.name}" (${created.id}) is shown only this once: store it now.`,
            created.delegateName === null ? 'Any delegate name may use it.' : `Only a delegate named ${created.delegateName} may use it.`,
            'Start a delegate with it:',
            `  MANAGER_URL=${ctx.client.server} DELEGATE_TOKEN=<token>${as.replace(' -e', '')} DELEGATE_TAGS=<selectors> npm run delegate`,
            `  docker run -d -e MANAGER_URL=${ctx.client.server} -e DELEGATE_TOKEN=<token>${as} registry-delegates/delegate:latest`,
          ].join('\n'),
        )
      }),
    )

  cmd
    .command('ls')
    .description('list tokens (never their values)')
    .action(
      withCtx(async (ctx) => {
        const { tokens } = await ctx.client.call<{ tokens: DelegateToken[] }>('GET', '/delegate-tokens')
        if (ctx.json) return ctx.outJson({ tokens })
        const now = Date.now()
        ctx.out(table(['id', 'name', 'delegate name', 'created'], tokens.map((t) => [t.id, t.name, t.delegateName ?? 'any', ago(t.createdAt, now)])))
      }),
    )

  cmd
    .command('revoke')
    .description('revoke a token: its delegates are disconnected within seconds and cannot reconnect')
    .argument('<token>', 'token id or name')
    .action(
      withCtx(async (ctx, ref: string) => {
        const { tokens } = await ctx.client.call<{ tokens: DelegateToken[] }>('GET', '/delegate-tokens')
        const t = pick(tokens, ref, 'token', 'delegatectl tokens ls')
        await ctx.client.call('DELETE', `/delegate-tokens/${encodeURIComponent(t.id)}`)
        if (ctx.json) return ctx.outJson({ revoked: t.id })
        ctx.out(`revoked token ${t.name} (${t.id})`)
      }),
    )
  return cmd
}
