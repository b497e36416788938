/**
 * Several managers on one Redis (SPEC §6), all real processes: a task created on one replica runs
 * on a delegate connected to another; a replica killed mid-run loses nothing; SIGTERM on a
 * manager sends its delegates to another replica; SIGTERM on a delegate finishes its task first.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { freePort } from './containers.ts'
import { closeSlowRegistries, slowRegistry } from './slow-registry.ts'
import { waitFor } from './wait-for.ts'

const procs: Proc[] = []
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')))
})
afterAll(closeSlowRegistries)

/** N manager processes sharing one Redis and key prefix. */
async function replicas(n: number) {
  const base = managerConfig(inject('redisUrl'), { heartbeatTimeoutMs: 5_000, heartbeatIntervalMs: 500, queuePrefix: `rep-${randomUUID().slice(0, 6)}` })
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()))
  const managers = await Promise.all(ports.map((port) => spawnManager({ ...base, port })))
  procs.push(...managers)
  return { managers, apis: managers.map((m) => new Api(m.url, base.apiKey)) }
}

/** The replica `name` is connected to, once it is connected to one other than `not`. */
async function connectedOn(api: Api, name: string, not?: string): Promise<string> {
  return waitFor(
    async () => {
      const d = (await api.ok<{ name: string; connected: boolean; replica: string }[]>('GET', '/api/v1/delegates')).find((x) => x.name === name)
      return d?.connected && d.replica !== not && d.replica
    },
    { timeoutMs: 15_000, what: `${name} connected${not ? ` to a replica other than ${not}` : ''}`, intervalMs: 100 },
  )
}

describe('several managers on one Redis', () => {
  it('runs tasks created on every replica on delegates connected to other replicas', async () => {
    const { managers, apis } = await replicas(3)
    const [a, b, c] = managers as [Proc & { url: string }, Proc & { url: string }, Proc & { url: string }]
    const token = await apis[0]!.token()
    // one delegate per replica, each with a tag only it has
    const urls = (first: { url: string }) => [first.url, ...managers.filter((m) => m !== first).map((m) => m.url)].join(',')
    procs.push(await spawnDelegate(urls(a), token, { name: 'on-a', tags: ['zone-a'] }))
    procs.push(await spawnDelegate(urls(b), token, { name: 'on-b', tags: ['zone-b'] }))
    procs.push(await spawnDelegate(urls(c), token, { name: 'on-c', tags: ['zone-c'] }))
    const replicaOf = await Promise.all(['on-a', 'on-b', 'on-c'].map((n) => connectedOn(apis[0]!, n)))
    expect(new Set(replicaOf).size).toBe(3)

    const registry = inject('registryHostPort')
    const connector = await apis[0]!.ok('POST', '/api/v1/connectors', { name: 'shared', type: 'docker-registry', url: registry })
    const runs: Promise<any>[] = []
    for (const [i, api] of apis.entries()) {
      for (const zone of ['zone-a', 'zone-b', 'zone-c']) {
        runs.push(
          (async () => {
            const { id } = await api.ok('POST', '/api/v1/tasks', { type: 'validate-connector', connectorId: connector.id, delegateSelectors: [zone] })
            const t = await apis[(i + 1) % apis.length]!.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
            return { zone, t }
          })(),
        )
      }
    }
    for (const { zone, t } of await Promise.all(runs)) {
      expect(t.status).toBe('succeeded')
      expect(t.delegate.name).toBe(`on-${zone.slice(-1)}`)
    }
  }, 90_000)

  it('loses nothing when a replica is killed mid-run, and its delegates move to a live replica', async () => {
    const registry = await slowRegistry(800)
    const { managers, apis } = await replicas(3)
    const [a, b, c] = managers as [Proc & { url: string }, Proc & { url: string }, Proc & { url: string }]
    const token = await apis[0]!.token()
    procs.push(await spawnDelegate([a.url, b.url, c.url].join(','), token, { name: 'd-a', capacity: 4 }))
    procs.push(await spawnDelegate([b.url, c.url, a.url].join(','), token, { name: 'd-b', capacity: 4 }))
    const connector = await apis[1]!.ok('POST', '/api/v1/connectors', { name: 'slow', type: 'docker-registry', url: registry.host })
    const ids: string[] = []
    for (let i = 0; i < 12; i++) {
      const { id } = await apis[i % 3]!.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: connector.id, image: 'slow/repo', timeoutMs: 60_000 })
      ids.push(id)
    }
    const dead = await connectedOn(apis[1]!, 'd-a')
    // mid-run: the kill comes while tasks run on the delegates
    await waitFor(async () => (await apis[1]!.ok('GET', '/api/v1/tasks?status=running&limit=1')).tasks.length > 0, { timeoutMs: 15_000, what: 'a running task' })
    await a.stop('SIGKILL')
    await connectedOn(apis[1]!, 'd-a', dead)
    const done = await Promise.all(ids.map((id) => apis[2]!.ok('GET', `/api/v1/tasks/${id}?waitMs=50000`)))
    expect(done.map((t) => t.status)).toEqual(ids.map(() => 'succeeded'))
  }, 90_000)

  it('SIGTERM on a manager closes its sockets with "going away"; its delegates reconnect to another replica within seconds', async () => {
    const { managers, apis } = await replicas(2)
    const [a, b] = managers as [Proc & { url: string }, Proc & { url: string }]
    const token = await apis[0]!.token()
    const d = await spawnDelegate([a.url, b.url].join(','), token, { name: 'mover' })
    procs.push(d)
    const before = await connectedOn(apis[1]!, 'mover')
    const started = Date.now()
    expect(await a.stop('SIGTERM')).toBe(0)
    await d.waitForLine(/"code":1001/, 5_000)
    await connectedOn(apis[1]!, 'mover', before)
    expect(Date.now() - started).toBeLessThan(10_000)
  }, 60_000)

  it('SIGTERM on a delegate holding a slow task finishes the task, then exits 0', async () => {
    const registry = await slowRegistry(1_000)
    const { apis, managers } = await replicas(1)
    const api = apis[0]!
    const d = await spawnDelegate(managers[0]!.url, await api.token(), { name: 'drainer', env: { DELEGATE_DRAIN_GRACE_MS: '20000' } })
    procs.push(d)
    const connector = await api.ok('POST', '/api/v1/connectors', { name: 'slow', type: 'docker-registry', url: registry.host })
    const { id } = await api.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: connector.id, image: 'slow/repo' })
    await api.waitForStatus(id, 'running')
    const exit = d.stop('SIGTERM')
    const t = await api.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    expect(t.status).toBe('succeeded')
    expect(t.delegate.name).toBe('drainer')
    expect(t.attempts).toBe(1)
    expect(await exit).toBe(0)
  }, 60_000)
})
