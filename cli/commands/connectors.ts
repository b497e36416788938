/** delegatectl connectors ls|create|validate|rm */
import { Command, InvalidArgumentError, Option } from 'commander'
import type { Connector } from '../../manager/src/connector-store.ts'
import type { Secret } from '../../manager/src/secret-store.ts'
import type { EligibilityAnswer, EligibleDelegate } from '../../manager/src/eligibility.ts'
import type { TaskView } from '../../manager/src/tasks.ts'
import type { ConnectorHealth } from '../../manager/src/health-store.ts'
import { withCtx } from '../context.ts'
import { usage } from '../errors.ts'
import { pick, resolveConnector } from '../resolve.ts'
import { table } from '../table.ts'
import { healthText, profileLines } from '../profile-output.ts'
import { outcomeLine, taskDuration, taskFailure } from '../task-output.ts'

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)]

export function credentials(c: Connector, secretName: Map<string, string>): string {
  if (c.passwordSecretId) return `${c.username}:secret ${secretName.get(c.passwordSecretId) ?? c.passwordSecretId}`
  if (c.passwordRef) return `${c.username}:${c.passwordRef}`
  return c.username ?? 'anonymous'
}

export const timeoutOption = () => new Option('--timeout <ms>', 'give the task at most this long (the manager default is 60000)').argParser(positiveInt)

function seconds(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a whole number of seconds is expected.')
  return n
}

export function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive whole number of milliseconds is expected.')
  return n
}

export function connectorsCommand(): Command {
  const cmd = new Command('connectors').description('Docker registry connectors: list, create, validate, health, delete')

  cmd
    .command('ls')
    .description('list connectors')
    .action(
      withCtx(async (ctx) => {
        const [{ connectors }, { secrets }] = await Promise.all([
          ctx.client.call<{ connectors: Connector[] }>('GET', '/connectors'),
          ctx.client.call<{ secrets: Secret[] }>('GET', '/secrets'),
        ])
        if (ctx.json) return ctx.outJson({ connectors })
        const names = new Map(secrets.map((s) => [s.id, s.name]))
        ctx.out(
          table(
            ['id', 'name', 'url', 'credentials', 'selectors', 'project'],
            connectors.map((c) => [c.id, c.name, c.url, credentials(c, names), c.delegateSelectors.join(','), c.project]),
          ),
        )
      }),
    )

  cmd
    .command('create')
    .description('create a connector')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--url <url>', 'registry URL: host, host:port, https://index.docker.io/v2/ …')
    .option('--username <user>', 'registry username (none: anonymous)')
    .option('--password-secret <secret>', 'id or name of a secret holding the password (see: delegatectl secrets)')
    .option('--password-ref <ref>', 'password resolved by the delegate: env:NAME or file:/path')
    .option('--selector <selectors>', 'delegate selector; repeat or separate with commas', collect)
    .option('--project <project>', 'project (limits which secrets it may use)')
    .addOption(new Option('--health-check <seconds>', 'validate it on this schedule (at least 30); failures raise alerts').argParser(seconds))
    .action(
      withCtx(async (ctx, o: { name: string; url: string; username?: string; passwordSecret?: string; passwordRef?: string; selector?: string[]; project?: string; healthCheck?: number }) => {
        if (o.passwordSecret && o.passwordRef) throw usage('INVALID_INPUT', 'give --password-secret or --password-ref, not both')
        const body: Record<string, unknown> = { name: o.name, type: 'docker-registry', url: o.url }
        if (o.username) body.username = o.username
        if (o.passwordSecret) {
          const { secrets } = await ctx.client.call<{ secrets: Secret[] }>('GET', '/secrets')
          body.passwordSecretId = pick(secrets, o.passwordSecret, 'secret', 'delegatectl secrets ls').id
        }
        if (o.passwordRef) body.passwordRef = o.passwordRef
        if (o.selector?.length) body.delegateSelectors = o.selector
        if (o.project) body.project = o.project
        if (o.healthCheck !== undefined) body.healthCheck = { intervalSeconds: o.healthCheck }
        const created = await ctx.client.call<Connector>('POST', '/connectors', body)
        if (ctx.json) return ctx.outJson(created)
        ctx.out(`created connector ${created.name} (${created.id})`)
      }),
    )

  cmd
    .command('validate')
    .description('check that a delegate can reach the registry and log in; exits 1 when it cannot')
    .argument('<connector>', 'connector id or name')
    .addOption(timeoutOption())
    .option('-v, --verbose', "also print the registry's profile: auth, catalog, paging, rate limits, TLS")
    .action(
      withCtx(async (ctx, ref: string, o: { timeout?: number; verbose?: boolean }) => {
        const c = await resolveConnector(ctx.client, ref)
        const q = o.timeout ? `?timeoutMs=${o.timeout}` : ''
        const task = await ctx.client.call<TaskView>('POST', `/connectors/${encodeURIComponent(c.id)}/validate${q}`, undefined, o.timeout ?? 60_000)
        if (ctx.json) ctx.outJson(task)
        if (task.status !== 'succeeded') throw taskFailure(task)
        if (ctx.json) return
        ctx.out(`${c.name}: ${outcomeLine(task)} (delegate ${task.delegate?.name ?? '?'}, ${taskDuration(task)}, task ${task.id})`)
        if (o.verbose && task.result?.type === 'validate-connector') ctx.out(profileLines(task.result).join('\n'))
      }),
    )

  cmd
    .command('health')
    .description('the health of a connector: its state and its last checks, newest first')
    .argument('<connector>', 'connector id or name')
    .action(
      withCtx(async (ctx, ref: string) => {
        const c = await resolveConnector(ctx.client, ref)
        const health = await ctx.client.call<ConnectorHealth & { nextCheckAt?: string }>('GET', `/connectors/${encodeURIComponent(c.id)}/health`)
        if (ctx.json) return ctx.outJson(health)
        ctx.out(healthText(c, health))
      }),
    )

  cmd
    .command('eligible')
    .description('which delegates could run a task for this connector now, and why the others cannot; --probe asks them to reach the registry')
    .argument('<connector>', 'connector id or name')
    .option('--selector <selectors>', "the task's own selectors on top of the connector's; repeat or separate with commas", collect)
    .option('--probe', 'ask each eligible delegate whether it reaches the registry (network and TLS only)')
    .action(
      withCtx(async (ctx, ref: string, o: { selector?: string[]; probe?: boolean }) => {
        const c = await resolveConnector(ctx.client, ref)
        const body: Record<string, unknown> = { connectorId: c.id }
        if (o.selector?.length) body.delegateSelectors = o.selector
        if (o.probe) body.probe = true
        const answer = await ctx.client.call<EligibilityAnswer>('POST', '/delegates/eligible', body, o.probe ? 15_000 : undefined)
        if (ctx.json) return ctx.outJson(answer)
        const columns = ['name', 'eligible', 'why not', ...(o.probe ? ['probe'] : []), 'replica']
        ctx.out(
          table(
            columns,
            answer.delegates.map((d) => [d.name, d.eligible ? 'yes' : 'no', d.reasons.map(reasonText).join('; '), ...(o.probe ? [probeText(d.probe)] : []), d.replica]),
          ),
        )
        ctx.out(answer.pick ? `would pick ${answer.pick.name} (${answer.pick.why})` : `nobody now: ${answer.waiting ?? 'no delegate'}`)
      }),
    )

  cmd
    .command('rm')
    .description('delete a connector')
    .argument('<connector>', 'connector id or name')
    .action(
      withCtx(async (ctx, ref: string) => {
        const c = await resolveConnector(ctx.client, ref)
        await ctx.client.call('DELETE', `/connectors/${encodeURIComponent(c.id)}`)
        if (ctx.json) return ctx.outJson({ deleted: c.id })
        ctx.out(`deleted connector ${c.name} (${c.id})`)
      }),
    )
  return cmd
}

function reasonText(r: EligibleDelegate['reasons'][number]): string {
  switch (r.code) {
    case 'MISSING_SELECTORS':
      return `lacks ${r.selectors.join(',')}`
    case 'DISCONNECTED':
      return 'disconnected'
    case 'SILENT':
      return `silent since ${r.lastHeartbeatAt}`
    case 'DRAINING':
      return 'draining'
    case 'NO_FREE_SLOT':
      return r.active === null ? 'full' : `full (${r.active}/${r.capacity})`
    case 'CANNOT_REACH':
      return `cannot reach (${r.error}) until ${r.until}`
  }
}

function probeText(p: EligibleDelegate['probe']): string {
  if (!p) return '-'
  return p.reachable ? `reachable ${p.latencyMs}ms${p.status ? ` (HTTP ${p.status})` : ''}` : `${p.code ?? 'unreachable'}`
}
