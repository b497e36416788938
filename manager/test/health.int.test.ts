/**
 * Connector health through the API (SPEC §8) on a real manager, delegate and registry: the
 * healthCheck field, checks on a BullMQ schedule through the usual task path, the health route,
 * the health metrics and the per-minute statistics behind the console's charts.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { request } from 'undici'
import type { Delegate } from '../../delegate/src/delegate.ts'
import { freePort } from '../../test/containers.ts'
import { waitFor } from '../../test/wait-for.ts'
import { startTestDelegate, startTestManager, type Api, type TestManager } from '../../test/harness.ts'

let m: TestManager
let api: Api
const delegates: Delegate[] = []

beforeAll(async () => {
  m = await startTestManager(inject('redisUrl'), { watchIntervalMs: 500 })
  api = m.api
  delegates.push(await startTestDelegate(m.url, await api.token(), { name: 'health-eu-1', tags: ['docker'], capacity: 3 }))
})
afterAll(async () => {
  await Promise.all(delegates.map((d) => d.close()))
  await m?.close()
})

const body = (over: Record<string, unknown> = {}) => ({ name: 'checked', type: 'docker-registry', url: inject('registryHostPort'), delegateSelectors: ['docker'], ...over })

/** Polls the health route until `ok` holds (bounded), then returns it. */
async function healthUntil(id: string, ok: (h: any) => boolean, ms = 20_000): Promise<any> {
  let last: any
  return waitFor(
    async () => {
      last = await api.ok('GET', `/api/v1/connectors/${id}/health`)
      return ok(last) ? last : false
    },
    { timeoutMs: ms, intervalMs: 100, what: `connector ${id}'s health to match`, describe: () => last },
  )
}

async function metrics(): Promise<string> {
  const res = await request(`${m.url}/metrics`)
  return res.body.text()
}

describe('the healthCheck field', () => {
  it('is refused under 30 seconds or with unknown fields, naming the field', async () => {
    for (const healthCheck of [{ intervalSeconds: 29 }, { intervalSeconds: 30.5 }, {}, { intervalSeconds: 60, every: 1 }]) {
      const res = await api.call('POST', '/api/v1/connectors', body({ healthCheck }))
      expect(res.status).toBe(400)
      expect(res.body.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/healthCheck/) })
    }
  })

  it('is stored with the connector, shown by GET, and removed by a PUT without it', async () => {
    const c = await api.ok('POST', '/api/v1/connectors', body({ healthCheck: { intervalSeconds: 3600 } }))
    expect(c.healthCheck).toEqual({ intervalSeconds: 3600 })
    expect((await api.ok('GET', `/api/v1/connectors/${c.id}`)).healthCheck).toEqual({ intervalSeconds: 3600 })
    const off = await api.ok('PUT', `/api/v1/connectors/${c.id}`, body())
    expect(off.healthCheck).toBeNull()
    const plain = await api.ok('POST', '/api/v1/connectors', body())
    expect(plain.healthCheck).toBeNull()
  })
})

describe('scheduled checks', () => {
  it('check a connector at once, then on its interval, through a validate-connector task; the route shows state, history and next check', async () => {
    const c = await api.ok('POST', '/api/v1/connectors', body({ name: 'scheduled', healthCheck: { intervalSeconds: 3600 } }))
    const h = await healthUntil(c.id, (x) => x.checks.length === 1)
    expect(h).toMatchObject({ state: 'healthy', healthCheck: { intervalSeconds: 3600 } })
    const [check] = h.checks
    expect(check).toMatchObject({ outcome: 'succeeded', delegate: { name: 'health-eu-1' } })
    expect(check.durationMs).toBeGreaterThan(0)
    expect(h.since).toBe(check.at)
    // the next check is an hour after the first
    expect(Date.parse(h.nextCheckAt) - Date.parse(check.at)).toBeGreaterThan(3_500_000)
    const task = await api.ok('GET', `/api/v1/tasks/${check.task}`)
    expect(task).toMatchObject({ type: 'validate-connector', connectorId: c.id, status: 'succeeded' })
  })

  it('a validation by hand counts as a check; a connector without a health check keeps no history', async () => {
    const c = await api.ok('POST', '/api/v1/connectors', body({ name: 'by hand', healthCheck: { intervalSeconds: 3600 } }))
    await healthUntil(c.id, (x) => x.checks.length === 1)
    const t = await api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    const h = await healthUntil(c.id, (x) => x.checks.length === 2)
    expect(h.checks[0].task).toBe(t.id)

    const plain = await api.ok('POST', '/api/v1/connectors', body({ name: 'unchecked' }))
    await api.ok('POST', `/api/v1/connectors/${plain.id}/validate`)
    expect(await api.ok('GET', `/api/v1/connectors/${plain.id}/health`)).toEqual({ state: 'unknown', healthCheck: null, checks: [] })
  })

  it('turning the check off stops its schedule; deleting the connector forgets its history', async () => {
    const c = await api.ok('POST', '/api/v1/connectors', body({ name: 'switched', healthCheck: { intervalSeconds: 3600 } }))
    await healthUntil(c.id, (x) => x.checks.length === 1 && x.nextCheckAt)
    await api.ok('PUT', `/api/v1/connectors/${c.id}`, body({ name: 'switched' }))
    const off = await api.ok('GET', `/api/v1/connectors/${c.id}/health`)
    expect(off.nextCheckAt).toBeUndefined()
    expect(off.checks).toHaveLength(1)
    await api.ok('DELETE', `/api/v1/connectors/${c.id}`)
    expect((await api.call('GET', `/api/v1/connectors/${c.id}/health`)).status).toBe(404)
  })

  it('a connector that cannot be reached is failing since its first failed check, and healthy again once fixed', async () => {
    const closed = `127.0.0.1:${await freePort()}`
    const c = await api.ok('POST', '/api/v1/connectors', body({ name: 'broken', url: closed, healthCheck: { intervalSeconds: 3600 } }))
    const failing = await healthUntil(c.id, (x) => x.checks.length === 1)
    expect(failing).toMatchObject({ state: 'failing', since: failing.checks[0].at })
    expect(failing.checks[0]).toMatchObject({ outcome: 'failed', code: 'DELEGATE_CANNOT_REACH_REGISTRY', message: expect.stringContaining('health-eu-1') })
    await api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    const still = await healthUntil(c.id, (x) => x.checks.length === 2)
    expect(still.since).toBe(failing.since)

    expect(await metrics()).toMatch(new RegExp(`^rd_connector_up\\{connector="${c.id}",name="broken"\\} 0$`, 'm'))
    await api.ok('PUT', `/api/v1/connectors/${c.id}`, body({ name: 'broken', healthCheck: { intervalSeconds: 3600 } }))
    await api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    const fixed = await healthUntil(c.id, (x) => x.state === 'healthy')
    expect(fixed.since).toBe(fixed.checks[0].at)
    const text = await metrics()
    expect(text).toMatch(new RegExp(`^rd_connector_up\\{connector="${c.id}",name="broken"\\} 1$`, 'm'))
    expect(text).toMatch(new RegExp(`^rd_connector_check_duration_seconds\\{connector="${c.id}",name="broken"\\} 0\\.\\d+$`, 'm'))
  })
})

describe('metrics and statistics', () => {
  it('rd_selector_set_delegates counts the delegates able to serve each selector set connectors use', async () => {
    await api.ok('POST', '/api/v1/connectors', body({ name: 'nobody', delegateSelectors: ['gpu', 'docker'] }))
    const text = await metrics()
    expect(text).toMatch(/^rd_selector_set_delegates\{selectors="docker"\} 1$/m)
    expect(text).toMatch(/^rd_selector_set_delegates\{selectors="docker,gpu"\} 0$/m)
  })

  it('GET /stats/tasks counts tasks per minute by type and outcome, with duration percentiles', async () => {
    const c = await api.ok('POST', '/api/v1/connectors', body({ name: 'stats' }))
    for (let i = 0; i < 3; i++) await api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    await api.call('GET', `/api/v1/connectors/${c.id}/tags?image=no/such`)
    // counts are written once a second, one pipeline for every task that ended meanwhile
    const stats = await waitFor(
      async () => {
        const s = await api.ok('GET', '/api/v1/stats/tasks?minutes=10')
        return s.series.some((x: any) => x.type === 'list-tags' && x.outcome === 'failed') ? s : false
      },
      { timeoutMs: 5_000, what: 'the failed listing in the task statistics' },
    )
    expect(stats.minutes).toHaveLength(10)
    const ok = stats.series.find((s: any) => s.type === 'validate-connector' && s.outcome === 'succeeded')
    expect(ok.total).toBeGreaterThanOrEqual(3)
    expect(ok.counts.reduce((a: number, b: number) => a + b, 0)).toBe(ok.total)
    expect(ok.window.p50Ms).toBeGreaterThan(0)
    expect(ok.window.p99Ms).toBeGreaterThanOrEqual(ok.window.p50Ms)
    expect(stats.series.find((s: any) => s.type === 'list-tags' && s.outcome === 'failed')?.total).toBe(1)
    expect((await api.call('GET', '/api/v1/stats/tasks?minutes=1000')).status).toBe(400)
  })

  it("GET /stats/delegates has each delegate's load per minute, sampled on the watch tick", async () => {
    let stats: any
    const d = await waitFor(
      async () => {
        stats = await api.ok('GET', '/api/v1/stats/delegates?minutes=5')
        return stats.delegates.find((x: any) => x.name === 'health-eu-1')
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the load of health-eu-1 to be sampled', describe: () => stats },
    )
    expect(d.capacity).toBe(3)
    expect(d.avg.at(-1)).toBeGreaterThanOrEqual(0)
    expect(d.max.at(-1)).toBeLessThanOrEqual(3)
    expect(d.avg).toHaveLength(5)
    expect(stats.total).toBeGreaterThanOrEqual(1)
    expect((await api.ok('GET', '/api/v1/stats/delegates?minutes=5&limit=1')).delegates).toHaveLength(1)
  })

  it('the new routes need the API key and are in the OpenAPI document', async () => {
    for (const path of ['/api/v1/connectors/x/health', '/api/v1/stats/tasks', '/api/v1/stats/delegates']) {
      const res = await request(`${m.url}${path}`)
      await res.body.dump()
      expect(res.statusCode).toBe(401)
    }
    const doc = (await (await request(`${m.url}/api/v1/openapi.json`)).body.json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/connectors/{id}/health', '/api/v1/stats/tasks', '/api/v1/stats/delegates']))
  })
})
