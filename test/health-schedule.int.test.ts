/**
 * One schedule across replicas (SPEC §8): three manager processes on one Redis check a connector
 * once per interval between them, not once per replica. Runs for two intervals of 30 s (the
 * shortest a connector may ask for).
 */
import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { freePort } from './containers.ts'

const procs: Proc[] = []
afterAll(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')))
})

describe('scheduled health checks with three replicas', () => {
  it('run once per interval, whichever replica takes each', async () => {
    const base = managerConfig(inject('redisUrl'), { queuePrefix: `hs-${randomUUID().slice(0, 6)}`, watchIntervalMs: 1_000 })
    const ports = await Promise.all([1, 2, 3].map(() => freePort()))
    const managers = await Promise.all(ports.map((port) => spawnManager({ ...base, port })))
    procs.push(...managers)
    const apis = managers.map((m) => new Api(m.url, base.apiKey))
    procs.push(await spawnDelegate(managers.map((m) => m.url).join(','), await apis[0]!.token(), { name: 'sched-1' }))

    const c = await apis[1]!.ok('POST', '/api/v1/connectors', { name: 'every 30 s', type: 'docker-registry', url: inject('registryHostPort'), healthCheck: { intervalSeconds: 30 } })
    const started = Date.now()
    let h: any
    for (const until = started + 80_000; ; ) {
      h = await apis[Math.floor(Math.random() * 3)]!.ok('GET', `/api/v1/connectors/${c.id}/health`)
      if (h.checks.length >= 3) break
      if (Date.now() > until) throw new Error(`only ${h.checks.length} checks after 80 s: ${JSON.stringify(h)}`)
      await new Promise((r) => setTimeout(r, 500))
    }
    // the third check came after two intervals, not sooner: no replica ran a schedule of its own
    expect(Date.now() - started).toBeGreaterThan(55_000)
    expect(h.checks).toHaveLength(3)
    const at = h.checks.map((x: any) => Date.parse(x.at)).reverse()
    for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBeGreaterThan(25_000)
    expect(h.checks.every((x: any) => x.outcome === 'succeeded' && x.delegate.name === 'sched-1')).toBe(true)
    const { tasks } = await apis[2]!.ok('GET', `/api/v1/tasks?connectorId=${c.id}`)
    expect(tasks).toHaveLength(3)
    // which replica ran each check's task shows in its logs; at least the schedule was shared
    const ran = managers.map((m) => m.lines.filter((l) => l.includes('"task finished"') && h.checks.some((x: any) => l.includes(x.task))).length)
    expect(ran.reduce((s, n) => s + n, 0)).toBe(3)
  }, 120_000)
})
