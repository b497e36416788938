/**
 * Random and malformed requests to every REST route (seeded, so a failure replays): the manager
 * answers each with a JSON 4xx (or a 2xx when the input happened to be valid), never a 5xx,
 * logs no error, and stays healthy.
 */
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Delegate } from '../../delegate/src/delegate.ts'
import { startManager, type RunningManager } from '../src/manager.ts'
import { Api, managerConfig, startTestDelegate } from '../../test/harness.ts'
import { Prng } from '../../test/prng.ts'
import { scriptedRegistry } from '../../test/scripted-runner.ts'

const PER_ROUTE = 200
const lines: { level: number; msg: string }[] = []
let m: RunningManager
let api: Api
let d: Delegate
let ids: { connector: string; mutable: string; secret: string; task: string }

beforeAll(async () => {
  const config = managerConfig(inject('redisUrl'))
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string })
      done()
    },
  })
  m = await startManager(config, pino({ level: 'warn' }, sink))
  api = new Api(m.url, config.apiKey)
  d = await startTestDelegate(m.url, await api.token(), { tags: ['fuzz'], runner: scriptedRegistry() })
  const secret = await api.ok('POST', '/api/v1/secrets', { name: 's', value: 'v' })
  // `connector` is never changed by the fuzz, so tasks on it always find the delegate and end at once
  const connector = await api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com', delegateSelectors: ['fuzz'] })
  const mutable = await api.ok('POST', '/api/v1/connectors', { name: 'm', type: 'docker-registry', url: 'r.example.com', delegateSelectors: ['fuzz'] })
  const task = await api.ok('POST', '/api/v1/tasks', { type: 'list-images', connectorId: connector.id })
  ids = { connector: connector.id, mutable: mutable.id, secret: secret.id, task: task.id }
})
afterAll(async () => {
  await d?.close()
  await m?.close()
})

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  path: (id: string) => string
  /** a valid body to mutate, for routes that take one */
  body?: () => Record<string, unknown>
  /** ids this route may be given besides random ones (never ones it could break for the others) */
  known?: () => string[]
  query?: Record<string, string[]>
}

const routes: Route[] = [
  { method: 'POST', path: () => '/api/v1/secrets', body: () => ({ name: 'n', value: 'v', project: 'p' }) },
  { method: 'GET', path: () => '/api/v1/secrets' },
  { method: 'GET', path: (id) => `/api/v1/secrets/${id}`, known: () => [ids.secret] },
  { method: 'DELETE', path: (id) => `/api/v1/secrets/${id}` },
  {
    method: 'POST',
    path: () => '/api/v1/connectors',
    body: () => ({ name: 'n', type: 'docker-registry', url: 'localhost:5000', username: 'u', passwordSecretId: ids.secret, delegateSelectors: ['a'], project: 'p' }),
  },
  { method: 'GET', path: () => '/api/v1/connectors' },
  { method: 'GET', path: (id) => `/api/v1/connectors/${id}`, known: () => [ids.connector] },
  {
    method: 'PUT',
    path: (id) => `/api/v1/connectors/${id}`,
    known: () => [ids.mutable],
    body: () => ({ name: 'n', type: 'docker-registry', url: 'https://r.example.com:5000/v2/', username: 'u', passwordRef: 'env:PW', delegateSelectors: ['fuzz'] }),
  },
  { method: 'DELETE', path: (id) => `/api/v1/connectors/${id}` },
  { method: 'POST', path: (id) => `/api/v1/connectors/${id}/validate`, known: () => [ids.connector], query: { timeoutMs: ['5000'] } },
  { method: 'GET', path: (id) => `/api/v1/connectors/${id}/images`, known: () => [ids.connector], query: { timeoutMs: ['5000'] } },
  { method: 'GET', path: (id) => `/api/v1/connectors/${id}/tags`, known: () => [ids.connector], query: { image: ['app', 'a/b/c'], timeoutMs: ['5000'] } },
  {
    method: 'POST',
    path: () => '/api/v1/tasks',
    body: () => ({ type: 'list-tags', connectorId: ids.connector, image: 'app', delegateSelectors: ['fuzz'], timeoutMs: 5000 }),
  },
  { method: 'GET', path: (id) => `/api/v1/tasks/${id}`, known: () => [ids.task], query: { waitMs: ['0', '10'] } },
  { method: 'GET', path: () => '/api/v1/tasks', query: { connectorId: [randomUUID()], status: ['failed', 'queued'], limit: ['1', '500'] } },
  { method: 'POST', path: () => '/api/v1/delegate-tokens', body: () => ({ name: 'n' }) },
  { method: 'GET', path: () => '/api/v1/delegate-tokens' },
  { method: 'DELETE', path: (id) => `/api/v1/delegate-tokens/${id}` },
  { method: 'GET', path: () => '/api/v1/delegates' },
]

/** Percent-encodes every byte (lone surrogates included, which encodeURIComponent refuses). */
const enc = (s: string) => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', '']

function fuzzId(rng: Prng, route: Route): string {
  switch (rng.int(7)) {
    case 0:
      return randomUUID()
    case 1:
      return route.known ? rng.pick(route.known()) : randomUUID()
    case 2:
      return enc(rng.string(20)) || 'x'
    case 3:
      return rng.pick(['meta', 'id', 'events', 'wait', '..', '%2e%2e', '%00', '%', '%zz', '%E0%A4%A', '__proto__', 'constructor', `${randomUUID()}:logs`])
    case 4:
      return 'x'.repeat(rng.pick([128, 129, 5000]))
    case 5:
      return `${randomUUID()}%2F..%2F${randomUUID()}`
    default:
      return enc(JSON.stringify(rng.json(1)))
  }
}

function fuzzQuery(rng: Prng, route: Route): string {
  const params: [string, string][] = []
  const pool = Object.entries(route.query ?? {})
  for (let i = rng.int(4); i > 0; i--) {
    if (pool.length > 0 && rng.next() < 0.6) {
      const [key, values] = rng.pick(pool)
      params.push([key, rng.next() < 0.5 ? rng.pick(values) : rng.string(12)])
    } else {
      params.push([rng.pick(['limit', 'waitMs', 'timeoutMs', 'image', 'status', '__proto__', 'x', '']), rng.pick(['-1', '1e9', 'NaN', '', 'true', '[]', rng.string(12)])])
    }
  }
  if (params.length === 0) return route.query?.image ? `?image=${rng.pick(route.query.image)}` : ''
  return `?${params.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`
}

function fuzzBody(rng: Prng, route: Route): { body: string | Buffer | null; contentType: string } {
  const json = (value: unknown) => ({ body: JSON.stringify(value), contentType: rng.next() < 0.85 ? 'application/json' : rng.pick(CONTENT_TYPES) })
  const valid = route.body?.() ?? {}
  switch (rng.int(10)) {
    case 0:
      return json(rng.json())
    case 1: {
      // one field replaced by anything
      const keys = Object.keys(valid)
      return json(keys.length ? { ...valid, [rng.pick(keys)]: rng.json(2) } : rng.json())
    }
    case 2: {
      const { [rng.pick(Object.keys(valid).length ? Object.keys(valid) : ['x'])]: _dropped, ...rest } = valid
      return json(rest)
    }
    case 3:
      return json({ ...valid, [rng.string(8) || 'extra']: rng.json(1) })
    case 4:
      return { body: rng.bytes(rng.int(200)), contentType: rng.pick(CONTENT_TYPES) }
    case 5:
      return { body: `{"name":"${rng.string(10)}`, contentType: 'application/json' } // truncated
    case 6:
      return { body: '['.repeat(50_000) + ']'.repeat(50_000), contentType: 'application/json' }
    case 7:
      return json({ ...valid, [rng.pick(Object.keys(valid).length ? Object.keys(valid) : ['name'])]: 'x'.repeat(rng.pick([199, 201, 2049, 70_000])) })
    case 8:
      return { body: `{"__proto__":{"polluted":true},${JSON.stringify(valid).slice(1)}`, contentType: 'application/json' }
    default:
      return json(valid) // the valid body itself, sometimes with the wrong content type
  }
}

describe('fuzz', () => {
  it.each(routes.map((r) => [`${r.method} ${r.path(':id')}`, r] as const))('%s answers random input with 2xx/4xx JSON, never 5xx', async (_name, route) => {
    const rng = new Prng(0xf022 + routes.indexOf(route))
    const statuses = new Map<number, number>()
    const bad: string[] = []
    const one = async () => {
      const url = route.path(fuzzId(rng, route)) + fuzzQuery(rng, route)
      const { body, contentType } = route.method === 'GET' && rng.next() < 0.8 ? { body: null, contentType: '' } : fuzzBody(rng, route)
      const headers: Record<string, string> = {}
      if (rng.next() < 0.9) headers.authorization = `Bearer ${api.key}`
      if (contentType && body !== null) headers['content-type'] = contentType
      const res = await request(m.url + url, { method: route.method, headers, body })
      const text = await res.body.text()
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode >= 500 || res.statusCode < 200) bad.push(`${res.statusCode} ${route.method} ${url} ${String(body).slice(0, 200)} → ${text.slice(0, 300)}`)
      else if (res.statusCode >= 300 && res.statusCode !== 404) {
        const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
        if (typeof parsed.error?.code !== 'string' || typeof parsed.error.message !== 'string') bad.push(`no error shape: ${res.statusCode} ${text.slice(0, 200)}`)
      }
    }
    for (let i = 0; i < PER_ROUTE; i += 10) await Promise.all(Array.from({ length: 10 }, one))
    expect(bad).toEqual([])
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true)
  })

  it('leaves the manager healthy, with nothing logged at error level', async () => {
    expect((await request(`${m.url}/healthz`)).statusCode).toBe(200)
    expect((await request(`${m.url}/readyz`)).statusCode).toBe(200)
    expect((await api.ok('GET', `/api/v1/connectors/${ids.connector}/tags?image=app`)).tags).toEqual(['1.0', '1.1', 'latest'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(lines.filter((l) => l.level >= 50)).toEqual([])
  })
})
