/**
 * The chaos suite (SPEC §7) on real processes: a manager and two delegates (one of them behind a
 * TCP proxy that resets its connection mid-frame), a registry stand-in that answers every request
 * at random, peers that attack the manager, and a REST client that keeps tasks coming and
 * abuses the API now and then. Everything random comes from one seeded PRNG.
 *
 * It passes when no process exits, every task ends exactly once with a code from
 * protocol/src/error-codes.ts (or succeeds), no API answer is a 5xx, a connector can never make
 * a delegate send its token, and the secrets grep (as in manager/test/security-logs.int.test.ts)
 * finds nothing in any log line, API answer or Redis key.
 *
 * Used by test/chaos.int.test.ts (bounded) and scripts/chaos.ts (`npm run chaos -- --minutes N`).
 */
import { randomUUID } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { isTag } from '../common/src/reference-grammar.ts'
import { isTaskErrorCode } from '../protocol/src/index.ts'
import { startChaosPeers } from './chaos-peers.ts'
import { startChaosRegistry } from './chaos-registry.ts'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { Prng } from './prng.ts'
import { dumpRedis } from './redis-dump.ts'

export interface ChaosOptions {
  redisUrl: string
  seed: number
  /** keep going at least this long … */
  minMs: number
  /** … and until the registry answered this often … */
  minRegistryAnswers: number
  /** … but never longer than this */
  maxMs: number
  /** concurrent tasks the REST client keeps going */
  taskConcurrency?: number
  /** progress lines */
  progress?: (line: string) => void
}

export interface ChaosReport {
  seed: number
  ms: number
  /** sockets opened to the manager by attackers and the proxy */
  connections: number
  /** frames the attackers sent */
  frames: number
  attacks: Record<string, number>
  proxyResets: number
  registryAnswers: number
  tasks: number
  outcomes: Record<string, number>
  apiRequests: number
  processExits: number
  /** what broke the rules; empty when the run passed */
  problems: string[]
}

type Outcome = { id: string; status: string; code?: string; connector: string; tags?: string[] }

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const prng = new Prng(o.seed)
  const started = Date.now()
  const problems: string[] = []
  const bodies: string[] = []
  const secrets = new Set<string>()
  const say = (line: string) => o.progress?.(`[chaos seed ${o.seed}] ${line}`)
  const cleanup: (() => Promise<unknown>)[] = []

  // short "cannot reach" marks: a reset from the registry marks its origin, and the chaos wants traffic
  const config = managerConfig(o.redisUrl, { unreachableMarkMs: 2_000 })
  secrets.add(config.apiKey)
  secrets.add(config.secretsKey)
  const registry = await startChaosRegistry(o.seed + 1)
  cleanup.push(() => registry.close())
  const manager = await spawnManager(config)
  cleanup.push(() => manager.stop('SIGTERM', 20_000))
  const api = new Api(manager.url, config.apiKey)
  const port = Number(new URL(manager.url).port)
  let apiRequests = 0
  const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown) => {
    apiRequests++
    const res = await api.call(method, path, body)
    bodies.push(JSON.stringify(res.body ?? ''))
    if (res.status >= 500 && !(res.status === 502 || res.status === 503)) problems.push(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`)
    return res
  }
  const token = async (name: string) => {
    const t = await api.token(name)
    secrets.add(t)
    return t
  }

  const proxy = await startResettingProxy(port, prng)
  cleanup.push(() => proxy.close())
  const refPassword = `ref-pw-${randomUUID()}`
  secrets.add(refPassword)
  const delegateEnv = { REGISTRY_PASSWORD_CHAOS: refPassword, LOG_LEVEL: 'debug' }
  const delegates: Proc[] = [
    await spawnDelegate(manager.url, await token('chaos-direct'), { name: 'chaos-direct', tags: ['chaos'], capacity: 8, env: delegateEnv }),
    await spawnDelegate(`http://127.0.0.1:${proxy.port}`, await token('chaos-proxied'), { name: 'chaos-proxied', tags: ['chaos'], capacity: 8, env: delegateEnv }),
  ]
  for (const d of delegates) cleanup.push(() => d.stop('SIGTERM', 20_000))

  // connectors: anonymous, a secret, a delegate-side reference, two that try to steal, one unreachable
  const secretValue = `secret-pw-${randomUUID()}`
  secrets.add(secretValue)
  const secret = (await call('POST', '/api/v1/secrets', { name: 'chaos', value: secretValue })).body as { id: string }
  const kinds: Record<string, Record<string, unknown>> = {
    anonymous: {},
    secret: { username: 'u', passwordSecretId: secret.id },
    reference: { username: 'u', passwordRef: 'env:REGISTRY_PASSWORD_CHAOS' },
    'steal-token': { username: 'u', passwordRef: 'env:DELEGATE_TOKEN' },
    'steal-file': { username: 'u', passwordRef: 'file:/proc/self/environ' },
  }
  // each kind on every origin of the registry; plus one nothing listens at
  const connectors: { name: string; id: string }[] = []
  for (const [name, body] of Object.entries(kinds)) {
    for (const url of registry.urls) {
      const res = await call('POST', '/api/v1/connectors', { name, type: 'docker-registry', url, delegateSelectors: ['chaos'], ...body })
      connectors.push({ name, id: (res.body as { id: string }).id })
    }
  }
  const closed = await call('POST', '/api/v1/connectors', { name: 'closed', type: 'docker-registry', url: '127.0.0.1:1', delegateSelectors: ['chaos'] })
  connectors.push({ name: 'closed', id: (closed.body as { id: string }).id })

  const attackerTokens = [await token('chaos-attacker-a'), await token('chaos-attacker-b'), `rdt_forged${randomUUID()}`]
  const peers = startChaosPeers({ port, prng, tokens: attackerTokens, workers: 3 })
  say(`manager ${manager.url}, registry ${registry.urls.join(' ')}, proxy ${proxy.port}`)

  // the task driver, with some API abuse on the side
  const outcomes: Outcome[] = []
  let stopping = false
  const enough = () => {
    const ms = Date.now() - started
    return ms >= o.maxMs || (ms >= o.minMs && registry.answers >= o.minRegistryAnswers)
  }
  const runOne = async () => {
    // mostly connectors that reach the registry; the refused and unreachable ones now and then
    const kind = prng.next() < 0.85 ? prng.pick(['anonymous', 'secret', 'reference']) : prng.pick(['steal-token', 'steal-file', 'closed'])
    const { name, id: connectorId } = prng.pick(connectors.filter((c) => c.name === kind))
    const type = prng.pick(['validate-connector', 'list-images', 'list-tags', 'list-tags'] as const)
    const timeoutMs = 1_000 + prng.int(5_000)
    const body: Record<string, unknown> = { type, connectorId, timeoutMs }
    if (type === 'list-tags') body.image = prng.next() < 0.95 ? prng.pick(['x', 'team/app', 'library/nginx']) : prng.pick(['UPPER', 'a/../b'])
    const created = await call('POST', '/api/v1/tasks', body)
    if (created.status !== 202) {
      problems.push(`POST /api/v1/tasks answered ${created.status}`)
      return
    }
    const id = (created.body as { id: string }).id
    const until = Date.now() + timeoutMs + 30_000
    for (;;) {
      const res = await call('GET', `/api/v1/tasks/${id}?waitMs=${timeoutMs + 2_000}`)
      const t = res.body as { status: string; error?: { code: string }; result?: { tags?: string[] } }
      if (['succeeded', 'failed', 'expired'].includes(t.status)) {
        const out: Outcome = { id, status: t.status, connector: name }
        if (t.error) out.code = t.error.code
        if (t.result?.tags) out.tags = t.result.tags
        outcomes.push(out)
        return
      }
      if (Date.now() > until) {
        problems.push(`task ${id} (${name}, ${type}) still ${t.status} ${timeoutMs + 30_000} ms after it was created`)
        return
      }
    }
  }
  const abuse = async () => {
    apiRequests++
    const kind = prng.int(5)
    const headers: Record<string, string> = { authorization: `Bearer ${config.apiKey}`, 'content-type': 'application/json' }
    let path = '/api/v1/connectors'
    let payload: string
    if (kind === 0) payload = `{"name":"${'x'.repeat(1_100_000)}"}`
    else if (kind === 1) payload = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    else if (kind === 2) payload = prng.string(200)
    else if (kind === 3) {
      const junk = [...prng.bytes(1 + prng.int(20))].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
      path = `/api/v1/${prng.pick(['tasks', 'connectors', 'secrets', '%2e%2e', '%ff', 'tasks/%00'])}/${junk}`
      payload = JSON.stringify(prng.json(3))
    } else payload = JSON.stringify({ name: prng.string(50), type: 'docker-registry', url: prng.string(60) })
    let res
    try {
      res = await request(manager.url + path, { method: 'POST', headers, body: payload })
    } catch (err) {
      // the manager may stop reading an oversized body and close: a refusal, not a failure
      const code = (err as { code?: string }).code
      if (kind === 0 && (code === 'EPIPE' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')) return
      throw err
    }
    const text = await res.body.text()
    bodies.push(text)
    if (res.statusCode >= 500) problems.push(`abusive POST ${path.slice(0, 80)} (${kind}) answered ${res.statusCode}: ${text.slice(0, 200)}`)
  }
  const drivers = Array.from({ length: o.taskConcurrency ?? 24 }, async () => {
    while (!stopping) {
      try {
        if (prng.next() < 0.05) await abuse()
        else await runOne()
      } catch (err) {
        problems.push(`REST client: ${(err as Error).message}`)
        await sleep(100)
      }
    }
  })
  // a token revoked mid-run: its attackers must be cut off, nothing else
  const revoker = (async () => {
    await sleep(Math.min(o.minMs / 2, 10_000))
    const { tokens } = (await call('GET', '/api/v1/delegate-tokens')).body as { tokens: { id: string; name: string }[] }
    const victim = tokens.find((t) => t.name === 'chaos-attacker-b')
    if (victim) await call('DELETE', `/api/v1/delegate-tokens/${victim.id}`)
  })()
  const ticker = setInterval(() => say(`${Math.round((Date.now() - started) / 1000)} s: ${outcomes.length} tasks, ${registry.answers} registry answers, ${peers.stats.connections} attacker connections`), 10_000)
  while (!enough()) {
    await sleep(250)
    for (const p of [manager, ...delegates]) if (p.child.exitCode !== null || p.child.signalCode !== null) stopping = true
    if (stopping) break
  }
  stopping = true
  clearInterval(ticker)
  await Promise.all([...drivers, revoker, peers.stop()])

  // ── the verdict ─────────────────────────────────────────────────────────────────────────────
  let processExits = 0
  for (const [name, p] of [['manager', manager], ['chaos-direct', delegates[0]!], ['chaos-proxied', delegates[1]!]] as const) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      processExits++
      problems.push(`${name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.lines.slice(-15).join('\n')}`)
    }
  }
  if (processExits === 0 && (await fetch(`${manager.url}/healthz`)).status !== 200) problems.push('the manager no longer answers /healthz')

  const counts: Record<string, number> = {}
  for (const t of outcomes) {
    const key = t.status === 'succeeded' ? 'succeeded' : `${t.status} ${t.code}`
    counts[key] = (counts[key] ?? 0) + 1
    if (t.status !== 'succeeded' && !isTaskErrorCode(t.code)) problems.push(`task ${t.id} ended ${t.status} with an unknown code ${t.code}`)
    // INTERNAL is a known code, and it means a bug: the chaos found one
    if (t.code === 'INTERNAL') {
      const why = [...manager.lines, ...delegates.flatMap((d) => d.lines)].filter((l) => l.includes(t.id) && /"level":50/.test(l))
      problems.push(`task ${t.id} ended INTERNAL: ${why.join('\n').slice(0, 1500)}`)
    }
    if (t.connector.startsWith('steal') && t.status === 'succeeded') problems.push(`task ${t.id} on ${t.connector} succeeded: a refused password reference was used`)
    if (t.tags?.some((tag) => !isTag(tag))) problems.push(`task ${t.id} returned a tag outside the grammar`)
  }
  // exactly once: one "task finished" per task in the manager's log
  const finished = new Map<string, number>()
  for (const line of manager.lines) {
    if (!line.includes('"task finished"')) continue
    const id = /"taskId":"([^"]+)"/.exec(line)?.[1]
    if (id) finished.set(id, (finished.get(id) ?? 0) + 1)
  }
  for (const t of outcomes) if (finished.get(t.id) !== 1) problems.push(`task ${t.id} finished ${finished.get(t.id) ?? 0} times in the manager's log`)

  // no delegate sent its own token (or any of ours) to the registry
  for (const auth of registry.authorizations) {
    const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : auth
    for (const s of [config.apiKey, ...attackerTokens, ...[...secrets].filter((x) => x.startsWith('rdt_'))]) {
      if (decoded.includes(s)) problems.push(`the registry received ${s.slice(0, 8)}… in an Authorization header`)
    }
  }

  // the secrets grep: logs, API answers, Redis
  const redis = new Redis(o.redisUrl)
  const { text: stored } = await dumpRedis(redis, config.queuePrefix)
  await redis.quit()
  const haystacks: [string, string[]][] = [
    ['manager log', manager.lines],
    ['delegate logs', delegates.flatMap((d) => d.lines)],
    ['API answers', bodies],
    ['Redis', [stored]],
  ]
  for (const secretValue of secrets) {
    for (const [where, lines] of haystacks) {
      const hit = lines.find((l) => l.includes(secretValue))
      if (hit) problems.push(`secret ${secretValue.slice(0, 10)}… found in ${where}: ${hit.slice(0, 200)}`)
    }
  }

  const report: ChaosReport = {
    seed: o.seed,
    ms: Date.now() - started,
    connections: peers.stats.connections + proxy.connections,
    frames: peers.stats.frames,
    attacks: peers.stats.attacks,
    proxyResets: proxy.resets,
    registryAnswers: registry.answers,
    tasks: outcomes.length,
    outcomes: counts,
    apiRequests,
    processExits,
    problems,
  }
  for (const f of cleanup.reverse()) await f().catch((err: unknown) => problems.push(`cleanup: ${(err as Error).message}`))
  return report
}

/**
 * Forwards delegate ↔ manager traffic, and now and then resets both sides at a random byte of
 * the stream: in the middle of a frame, of a result's chunks, of the upgrade.
 */
async function startResettingProxy(target: number, prng: Prng): Promise<{ port: number; connections: number; resets: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const stats = { connections: 0, resets: 0 }
  const server: Server = createServer((client) => {
    stats.connections++
    const upstream = connect(target, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => sockets.delete(s))
    }
    // most connections live long enough to do work; some are cut early
    let budget = prng.next() < 0.4 ? prng.int(4_000) : 5_000 + prng.int(60_000)
    const cut = () => {
      stats.resets++
      client.resetAndDestroy()
      upstream.resetAndDestroy()
    }
    const pass = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        budget -= chunk.length
        if (budget < 0) {
          to.write(chunk.subarray(0, prng.int(chunk.length)))
          cut()
          return
        }
        to.write(chunk)
      })
    pass(client, upstream)
    pass(upstream, client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return stats.connections
    },
    get resets() {
      return stats.resets
    },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
