/**
 * The atomic steps behind connector health and selector alerts, on real Redis: the history, the
 * state machine and the alerts it decides, once per task and once per transition however many
 * replicas report it; the delegate load history, written only when what it shows changes.
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { pino } from 'pino'
import { ActivityStats } from '../src/activity-stats.ts'
import { checkEventCandidates, type AlertEvent } from '../src/alert-events.ts'
import type { Connector, ConnectorStore } from '../src/connector-store.ts'
import type { DelegateView } from '../src/delegate-directory.ts'
import type { HealthCheck } from '../src/health-check.ts'
import { HealthStore } from '../src/health-store.ts'
import { redisKeys } from '../src/redis-keys.ts'
import { SelectorWatch } from '../src/selector-watch.ts'

let redis: Redis
beforeAll(() => {
  redis = new Redis(inject('redisUrl'))
})
afterAll(async () => {
  await redis.quit()
})

const connector = (over: Partial<Connector> = {}): Connector => ({
  id: randomUUID(),
  name: 'hub',
  type: 'docker-registry',
  url: 'registry.example.com',
  username: 'bob',
  passwordSecretId: 'sec-1',
  passwordRef: null,
  delegateSelectors: ['docker'],
  project: null,
  healthCheck: { intervalSeconds: 30 },
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
  ...over,
})

let clock = Date.parse('2025-06-01T12:00:00.000Z')
const check = (outcome: HealthCheck['outcome'], task = randomUUID()): HealthCheck => ({
  at: new Date((clock += 30_000)).toISOString(),
  outcome,
  ...(outcome === 'succeeded' ? {} : { code: 'CONNECTION_REFUSED', message: 'refused' }),
  delegate: { id: 'd1', name: 'eu-1' },
  durationMs: 42,
  task,
})

function setup() {
  const keys = redisKeys(`hs-${randomUUID().slice(0, 8)}`)
  return { keys, store: new HealthStore(redis, keys) }
}

describe('connector health', () => {
  it('is unknown with no check, keeps the last 100 checks newest first', async () => {
    const { store } = setup()
    const c = connector()
    expect(await store.get(c.id)).toEqual({ state: 'unknown', checks: [] })
    const all: HealthCheck[] = []
    for (let i = 0; i < 105; i++) {
      const ch = check('succeeded')
      all.push(ch)
      await store.record(c.id, ch, checkEventCandidates(c, ch, undefined), false)
    }
    const h = await store.get(c.id)
    expect(h.state).toBe('healthy')
    expect(h.since).toBe(all[0]!.at)
    expect(h.checks).toHaveLength(100)
    expect(h.checks[0]).toEqual(all[104])
    expect(h.checks[99]).toEqual(all[5])
  })

  it('fires connector.failing on the second failed check in a row, once, then connector.recovered', async () => {
    const { store, keys } = setup()
    const c = connector()
    const record = (ch: HealthCheck) => store.record(c.id, ch, checkEventCandidates(c, ch, undefined), true)
    expect(await record(check('succeeded'))).toEqual([])
    const first = check('failed')
    expect(await record(first)).toEqual([])
    expect(await store.get(c.id)).toMatchObject({ state: 'failing', since: first.at })
    const second = check('expired')
    const failing = await record(second)
    expect(failing).toEqual([
      expect.objectContaining({ type: 'connector.failing', id: `connector.failing.${c.id}.${second.task}`, failingSince: first.at, failedChecks: 2, check: second }),
    ])
    expect(await record(check('failed'))).toEqual([])
    const ok = check('succeeded')
    expect(await record(ok)).toEqual([expect.objectContaining({ type: 'connector.recovered', failingSince: first.at, failedChecks: 3, check: ok })])
    expect(await store.get(c.id)).toMatchObject({ state: 'healthy', since: ok.at })
    const outbox = (await redis.lrange(keys.alertOutbox, 0, -1)).map((r) => (JSON.parse(r) as AlertEvent).type)
    expect(outbox).toEqual(['connector.failing', 'connector.recovered'])
    expect(JSON.stringify(await redis.lrange(keys.alertOutbox, 0, -1))).not.toContain('sec-1')
  })

  it('a single failure between successes alerts nothing', async () => {
    const { store, keys } = setup()
    const c = connector()
    for (const o of ['succeeded', 'failed', 'succeeded', 'failed', 'succeeded'] as const) {
      const ch = check(o)
      expect(await store.record(c.id, ch, checkEventCandidates(c, ch, undefined), true)).toEqual([])
    }
    expect(await redis.llen(keys.alertOutbox)).toBe(0)
  })

  it('records a task reported twice (a replica that ran it again) once, and decides once when replicas race', async () => {
    const { store } = setup()
    const c = connector()
    const first = check('failed')
    await store.record(c.id, first, checkEventCandidates(c, first, undefined), true)
    const second = check('failed')
    const results = await Promise.all(Array.from({ length: 3 }, () => store.record(c.id, second, checkEventCandidates(c, second, undefined), true)))
    expect(results.flat().map((e) => e.type)).toEqual(['connector.failing'])
    expect((await store.get(c.id)).checks).toHaveLength(2)
  })

  it('fires connector.certificate-expiring once per certificate within 14 days of its end', async () => {
    const { store } = setup()
    const c = connector()
    const cert = (days: number, notAfter = '2025-06-20T00:00:00.000Z') => ({ issuer: 'CN=CA', subject: 'CN=r', notAfter, daysUntilExpiry: days })
    const record = (days: number, notAfter?: string) => {
      const ch = check('succeeded')
      return store.record(c.id, ch, checkEventCandidates(c, ch, cert(days, notAfter)), true)
    }
    expect(await record(30)).toEqual([])
    const fired = await record(14)
    expect(fired).toEqual([expect.objectContaining({ type: 'connector.certificate-expiring', certificate: cert(14) })])
    expect(await record(13)).toEqual([])
    expect(await record(10, '2025-07-01T00:00:00.000Z')).toHaveLength(1)
  })

  it('puts nothing in the outbox while alerts are off', async () => {
    const { store, keys } = setup()
    const c = connector()
    for (const o of ['failed', 'failed'] as const) {
      const ch = check(o)
      await store.record(c.id, ch, checkEventCandidates(c, ch, undefined), false)
    }
    expect(await redis.llen(keys.alertOutbox)).toBe(0)
  })
})

describe('selector sets', () => {
  const delegate = (name: string, tags: string[], over: Partial<DelegateView> = {}): DelegateView => ({
    id: `id-${name}`,
    name,
    tags,
    version: 't',
    connected: true,
    connectedAt: null,
    lastHeartbeatAt: null,
    activeTasks: 0,
    capacity: 4,
    draining: false,
    replica: 'r',
    ...over,
  })

  function watch(connectors: Connector[], delegates: () => DelegateView[]) {
    const keys = redisKeys(`sw-${randomUUID().slice(0, 8)}`)
    const w = new SelectorWatch({
      redis,
      keys,
      connectors: { list: async () => connectors } as unknown as ConnectorStore,
      delegates: async () => delegates(),
    })
    return { w, keys }
  }

  it('counts the connected, not draining delegates whose tags and name cover each set', async () => {
    const connectors = [connector({ delegateSelectors: ['docker', 'eu'] }), connector({ delegateSelectors: [] }), connector({ delegateSelectors: ['us-1'] })]
    const delegates = [
      delegate('eu-1', ['Docker', 'EU']),
      delegate('eu-2', ['docker', 'eu'], { draining: true }),
      delegate('eu-3', ['docker', 'eu'], { connected: false }),
      delegate('us-1', ['docker']),
    ]
    const { w } = watch(connectors, () => delegates)
    const counts = Object.fromEntries((await w.current()).map((s) => [s.key, s.serving.map((d) => d.name)]))
    expect(counts).toEqual({ 'docker,eu': ['eu-1'], '': ['eu-1', 'us-1'], 'us-1': ['us-1'] })
  })

  it('fires last-delegate (many → one) and no-delegate (→ none) after two ticks in a row, once each', async () => {
    let delegates = [delegate('a', ['gpu']), delegate('b', ['gpu'])]
    const c = connector({ delegateSelectors: ['gpu'] })
    const { w, keys } = watch([c], () => delegates)
    const ticks: string[][] = []
    let t = 1_000
    const tick = async () => ticks.push((await w.tick((t += 1_000), true)).map((e) => e.type))
    await tick()
    delegates = [delegates[0]!]
    await tick() // one, seen once
    await tick() // one, seen twice: fires
    await tick()
    delegates = []
    await tick()
    await tick() // none: fires
    await tick()
    expect(ticks).toEqual([[], [], ['selectors.last-delegate'], [], [], ['selectors.no-delegate'], []])
    const events = (await redis.lrange(keys.alertOutbox, 0, -1)).map((r) => JSON.parse(r) as AlertEvent)
    expect(events[0]).toMatchObject({ type: 'selectors.last-delegate', selectors: ['gpu'], delegates: [{ id: 'id-a', name: 'a' }], connectors: [{ id: c.id, name: c.name }] })
    expect(events[1]).toMatchObject({ type: 'selectors.no-delegate', selectors: ['gpu'], delegates: [] })
  })

  it('a delegate gone for one tick only (reconnecting elsewhere) raises nothing', async () => {
    const both = [delegate('a', ['gpu']), delegate('b', ['gpu'])]
    let delegates = both
    const { w } = watch([connector({ delegateSelectors: ['gpu'] })], () => delegates)
    const fired: string[] = []
    let t = 1_000
    for (const now of [both, [both[0]!], both, [], both]) {
      delegates = now
      fired.push(...(await w.tick((t += 1_000), true)).map((e) => e.type))
    }
    expect(fired).toEqual([])
  })

  it('a set nobody can serve from the start fires no-delegate; one that starts with one delegate does not fire last-delegate', async () => {
    const { w } = watch([connector({ delegateSelectors: ['none-here'] }), connector({ delegateSelectors: ['solo'] })], () => [delegate('s', ['solo'])])
    const fired: string[] = []
    for (let t = 1; t <= 3; t++) fired.push(...(await w.tick(t, true)).map((e) => e.type))
    expect(fired).toEqual(['selectors.no-delegate'])
  })
})

describe('delegate load history', () => {
  const minute = 60_000 * 29_000_000
  const fleet = (n: number, active = 0) => Array.from({ length: n }, (_, i) => ({ id: `d${i}`, name: `d-${i}`, capacity: 4, active }))

  it('an idle fleet costs one field per delegate and minute, in one write per round, whatever its size', async () => {
    const keys = redisKeys(`ls-${randomUUID().slice(0, 8)}`)
    const stats = new ActivityStats(redis, keys, pino({ level: 'silent' }))
    const idle = fleet(2_000)
    await stats.sampleDelegates(idle, minute + 1_000)
    expect(await redis.hlen(keys.delegateStats(29_000_000))).toBe(2_000)
    // a second round of the same minute that shows nothing new writes nothing: the hash stays gone
    await redis.del(keys.delegateStats(29_000_000))
    await stats.sampleDelegates(idle, minute + 11_000)
    expect(await redis.exists(keys.delegateStats(29_000_000))).toBe(0)
    // one delegate gets busy: only its field is written, and the reader sees its average and peak
    await stats.sampleDelegates([{ ...idle[0]!, active: 3 }, ...idle.slice(1)], minute + 21_000)
    expect(await redis.hkeys(keys.delegateStats(29_000_000))).toEqual(['d0'])
    const read = await stats.delegates(1, 1, minute + 30_000)
    expect(read.delegates).toEqual([{ id: 'd0', name: 'd-0', capacity: 4, avg: [1], max: [3] }])
    // a new minute starts afresh: every delegate is written once again
    await stats.sampleDelegates(idle, minute + 61_000)
    expect(await redis.hlen(keys.delegateStats(29_000_001))).toBe(2_000)
  })
})
