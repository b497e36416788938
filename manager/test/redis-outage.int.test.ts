/**
 * Redis goes away under a running manager: every API route that needs Redis answers 503
 * REDIS_UNAVAILABLE at once (never a 400 "connector does not exist", never a hang), the routes
 * that do not need it keep answering, and once Redis is back the manager serves again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { startTestManager, type TestManager } from '../../test/harness.ts'
import { startOwnRedis, type OwnRedis } from '../../test/redis-server.ts'
import { waitFor } from '../../test/wait-for.ts'

let redis: OwnRedis
let m: TestManager

beforeAll(async () => {
  redis = await startOwnRedis()
  m = await startTestManager(redis.url)
})
afterAll(async () => {
  await redis?.start().catch(() => undefined) // the manager closes cleanly only with its Redis up
  await m?.close()
  await redis?.stop()
})

/** Answers within 5 s or fails: a route that waits for Redis to come back is a failure here. */
async function call(method: string, path: string, o: { body?: unknown; key?: string } = {}) {
  const res = await request(m.url + path, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${o.key ?? m.config.apiKey}`, ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: o.body === undefined ? null : JSON.stringify(o.body),
    headersTimeout: 5_000,
    bodyTimeout: 5_000,
  }).catch((err: unknown) => {
    throw new Error(`${method} ${path}: no answer`, { cause: err })
  })
  const text = await res.body.text()
  return { status: res.statusCode, body: text.startsWith('{') ? JSON.parse(text) : text }
}

/** A valid body for each route that takes one, so that nothing but Redis can refuse it. */
function bodyFor(method: string, path: string, ids: { connector: string }): unknown {
  if (method !== 'POST' && method !== 'PUT') return undefined
  if (path === '/api/v1/secrets') return { name: 's', value: 'v' }
  if (path.startsWith('/api/v1/connectors') && !path.endsWith('/validate')) return { name: 'c', type: 'docker-registry', url: 'r.example.com' }
  if (path === '/api/v1/tasks') return { type: 'validate-connector', connectorId: ids.connector }
  if (path === '/api/v1/delegate-tokens') return { name: 't' }
  return undefined
}

describe('a Redis outage', () => {
  it('answers 503 REDIS_UNAVAILABLE on every route that needs Redis, and serves again once Redis is back', async () => {
    const connector = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com' })
    const secret = await m.api.ok('POST', '/api/v1/secrets', { name: 's', value: 'v' })
    const token = await m.api.ok('POST', '/api/v1/delegate-tokens', { name: 't' })
    const task = await m.api.ok('POST', '/api/v1/tasks', { type: 'validate-connector', connectorId: connector.id, timeoutMs: 1_000 })
    // every route the API has, from its own OpenAPI document (the delegates' WebSocket aside)
    const doc = await m.api.ok('GET', '/api/v1/openapi.json')
    const ids: Record<string, string> = {
      '/api/v1/connectors/{id}': connector.id,
      '/api/v1/secrets/{id}': secret.id,
      '/api/v1/delegate-tokens/{id}': token.id,
      '/api/v1/tasks/{id}': task.id,
    }
    const routes: [string, string][] = []
    for (const [template, ops] of Object.entries(doc.paths as Record<string, Record<string, { security?: unknown[] }>>)) {
      if (!template.startsWith('/api/v1/') || template === '/api/v1/delegates/stream') continue
      const id = Object.entries(ids).find(([prefix]) => template.startsWith(prefix))?.[1] ?? connector.id
      const path = template.replace('{id}', id) + (template.endsWith('/tags') ? '?image=x' : '')
      for (const method of Object.keys(ops)) routes.push([method.toUpperCase(), path])
    }
    expect(routes.length).toBeGreaterThan(15)

    await redis.stop()
    await waitFor(async () => (await call('GET', '/readyz')).status === 503, { timeoutMs: 10_000, what: 'readyz to notice that Redis is gone' })
    expect((await call('GET', '/readyz')).body).toEqual({ error: { code: 'REDIS_UNAVAILABLE', message: expect.stringMatching(/REDIS_URL/) } })

    for (const [method, path] of routes) {
      const res = await call(method, path, { body: bodyFor(method, path, { connector: connector.id }) })
      expect({ route: `${method} ${path}`, status: res.status, code: res.body?.error?.code }).toEqual({ route: `${method} ${path}`, status: 503, code: 'REDIS_UNAVAILABLE' })
      expect(res.body.error.message).toMatch(/Redis/)
    }
    // what needs no Redis still answers: the process probe, metrics, the OpenAPI document, the console, a wrong key
    expect((await call('GET', '/healthz')).status).toBe(200)
    const metrics = await call('GET', '/metrics')
    expect(metrics.status).toBe(200)
    expect(metrics.body).toMatch(/^rd_connected_delegates\{replica="[^"]+"\} 0$/m)
    expect(metrics.body).not.toMatch(/^rd_queue_depth\{/m) // left out rather than a wrong zero
    expect(metrics.body).not.toMatch(/^rd_tasks_waiting_for_delegate\{/m)
    expect((await call('GET', '/api/v1/openapi.json')).status).toBe(200)
    expect((await call('GET', '/')).status).toBe(200)
    expect((await call('GET', '/api/v1/connectors', { key: 'wrong' })).status).toBe(401)

    await redis.start() // empty: this Redis keeps nothing on disk
    await waitFor(async () => (await call('GET', '/readyz')).status === 200, { timeoutMs: 15_000, what: 'readyz once Redis is back' })
    expect(await call('GET', '/api/v1/connectors')).toEqual({ status: 200, body: { connectors: [] } })
    expect((await call('POST', '/api/v1/tasks', { body: { type: 'validate-connector', connectorId: connector.id } })).body.error).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/connectorId/),
    })
  }, 60_000)
})
