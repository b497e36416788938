/** delegatectl secrets create|ls|rm */
import { text } from 'node:stream/consumers'
import { Command } from 'commander'
import type { Secret } from '../../manager/src/secret-store.ts'
import { withCtx } from '../context.ts'
import { usage } from '../errors.ts'
import { pick } from '../resolve.ts'
import { ago, table } from '../table.ts'

export function secretsCommand(): Command {
  const cmd = new Command('secrets').description('encrypted secrets (registry passwords) that connectors refer to')

  cmd
    .command('create')
    .description('create a secret; the value is read from stdin (one trailing newline dropped)')
    .argument('<name>', 'secret name')
    .option('--project <project>', 'only connectors of this project may use it (default: every connector)')
    .option('--value <value>', 'the value itself (visible in shell history and ps: prefer stdin)')
    .addHelpText('after', '\nExample:\n  printf %s "$REGISTRY_PASSWORD" | delegatectl secrets create registry-password')
    .action(
      withCtx(async (ctx, name: string, o: { project?: string; value?: string }) => {
        let value = o.value
        if (value === undefined) {
          if (process.stdin.isTTY) {
            throw usage('INVALID_INPUT', 'no secret value on stdin', 'Pipe it in: printf %s "$VALUE" | delegatectl secrets create NAME (or pass --value).')
          }
          value = (await text(process.stdin)).replace(/\r?\n$/, '')
        }
        if (value === '') throw usage('INVALID_INPUT', 'the secret value is empty')
        const body: Record<string, string> = { name, value }
        if (o.project) body.project = o.project
        const created = await ctx.client.call<Secret>('POST', '/secrets', body)
        if (ctx.json) return ctx.outJson(created)
        ctx.out(`created secret ${created.name} (${created.id})${created.project ? ` for project ${created.project}` : ''}`)
      }),
    )

  cmd
    .command('ls')
    .description('list secrets (never their values)')
    .action(
      withCtx(async (ctx) => {
        const { secrets } = await ctx.client.call<{ secrets: Secret[] }>('GET', '/secrets')
        if (ctx.json) return ctx.outJson({ secrets })
        const now = Date.now()
        ctx.out(table(['id', 'name', 'project', 'created'], secrets.map((s) => [s.id, s.name, s.project ?? '(account)', ago(s.createdAt, now)])))
      }),
    )

  cmd
    .command('rm')
    .description('delete a secret (refused while a connector uses it)')
    .argument('<secret>', 'secret id or name')
    .action(
      withCtx(async (ctx, ref: string) => {
        const { secrets } = await ctx.client.call<{ secrets: Secret[] }>('GET', '/secrets')
        const s = pick(secrets, ref, 'secret', 'delegatectl secrets ls')
        await ctx.client.call('DELETE', `/secrets/${encodeURIComponent(s.id)}`)
        if (ctx.json) return ctx.outJson({ deleted: s.id })
        ctx.out(`deleted secret ${s.name} (${s.id})`)
      }),
    )
  return cmd
}
