/**
 * The REST API route by route (SPEC §3): happy paths and every error code, on a real manager
 * (HTTP, Redis, BullMQ) with one in-process delegate whose runner answers like a registry.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { request } from 'undici'
import type { Delegate } from '../../delegate/src/delegate.ts'
import { Api, startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'
import { scriptedRegistry } from '../../test/scripted-runner.ts'

type Json = any

let m: TestManager
let api: Api
let delegate: Delegate
const runner = scriptedRegistry()

beforeAll(async () => {
  m = await startTestManager(inject('redisUrl'))
  api = m.api
  delegate = await startTestDelegate(m.url, await api.token(), { name: 'api-delegate', tags: ['api'], runner })
})
afterAll(async () => {
  await delegate?.close()
  await m?.close()
})

/** A request with any headers and a raw body, for what the Api helper cannot send. */
async function raw(method: string, path: string, o: { headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(m.url + path, { method: method as 'GET', headers: o.headers ?? {}, body: o.body ?? null })
  const text = await res.body.text()
  let body: Json
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    body = text
  }
  return { status: res.statusCode, body, headers: res.headers }
}

function expectError(res: { status: number; body: Json }, status: number, code: string, message?: RegExp) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code })
  expect(typeof res.body.error.message).toBe('string')
  if (message) expect(res.body.error.message).toMatch(message)
}

const connectorBody = (over: Record<string, unknown> = {}) => ({ name: 'Registry', type: 'docker-registry', url: 'registry.example.com', ...over })
const createConnector = (over: Record<string, unknown> = {}) => api.ok<Json>('POST', '/api/v1/connectors', connectorBody(over))
const createSecret = (over: Record<string, unknown> = {}) => api.ok<Json>('POST', '/api/v1/secrets', { name: 's', value: 'v', ...over })

describe('authentication', () => {
  const routes: [string, string][] = [
    ['GET', '/api/v1/secrets'],
    ['POST', '/api/v1/secrets'],
    ['GET', `/api/v1/secrets/${randomUUID()}`],
    ['DELETE', `/api/v1/secrets/${randomUUID()}`],
    ['GET', '/api/v1/connectors'],
    ['POST', '/api/v1/connectors'],
    ['GET', `/api/v1/connectors/${randomUUID()}`],
    ['PUT', `/api/v1/connectors/${randomUUID()}`],
    ['DELETE', `/api/v1/connectors/${randomUUID()}`],
    ['POST', `/api/v1/connectors/${randomUUID()}/validate`],
    ['GET', `/api/v1/connectors/${randomUUID()}/images`],
    ['GET', `/api/v1/connectors/${randomUUID()}/tags?image=x`],
    ['GET', '/api/v1/tasks'],
    ['POST', '/api/v1/tasks'],
    ['GET', `/api/v1/tasks/${randomUUID()}`],
    ['GET', '/api/v1/delegate-tokens'],
    ['POST', '/api/v1/delegate-tokens'],
    ['DELETE', `/api/v1/delegate-tokens/${randomUUID()}`],
    ['GET', '/api/v1/delegates'],
  ]

  it('answers 401 on every /api/v1 route without the API key, with a wrong one, or another scheme', async () => {
    for (const [method, path] of routes) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${api.key}` }, { authorization: api.key }]) {
        expectError(await raw(method, path, { headers }), 401, 'UNAUTHORIZED', /API key/)
      }
    }
  })

  it('guards the HEAD twin of every GET route too', async () => {
    expect((await raw('HEAD', '/api/v1/secrets')).status).toBe(401)
    expect((await raw('HEAD', '/api/v1/secrets', { headers: { authorization: `Bearer ${api.key}` } })).status).toBe(200)
  })

  it('accepts the bearer scheme in any case', async () => {
    expect((await raw('GET', '/api/v1/secrets', { headers: { authorization: `bearer ${api.key}` } })).status).toBe(200)
  })

  it('cannot be skipped with a percent-encoded path', async () => {
    for (const path of ['/api/%761/secrets', '/%61pi/v1/secrets', '/api/v1/%73ecrets', '/api/v1/delegate%2Dtokens']) {
      expectError(await raw('GET', path), 401, 'UNAUTHORIZED')
    }
  })

  it('serves the probes, the metrics and the OpenAPI document without a key', async () => {
    expect(await raw('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
    expect(await raw('GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } })
    expect((await raw('GET', '/metrics')).status).toBe(200)
    expect((await raw('GET', '/api/v1/openapi.json')).status).toBe(200)
  })

  it('answers 404 with a JSON error for unknown routes and methods', async () => {
    expectError(await api.call('GET', '/api/v1/nothing-here'), 404, 'NOT_FOUND', /\/api\/v1\/nothing-here/)
    expectError(await api.call('PUT', '/api/v1/secrets'), 404, 'NOT_FOUND')
    expectError(await raw('GET', '/no/such/page'), 404, 'NOT_FOUND')
    expectError(await raw('GET', '/api/v1/secrets/%E0%A4%A', { headers: { authorization: `Bearer ${api.key}` } }), 400, 'INVALID_INPUT')
  })
})

describe('bodies', () => {
  const auth = () => ({ authorization: `Bearer ${api.key}` })

  it('refuses a body that is not JSON, not an object, or too large with 4xx JSON errors', async () => {
    const json = { ...auth(), 'content-type': 'application/json' }
    expectError(await raw('POST', '/api/v1/secrets', { headers: json, body: '{"name":' }), 400, 'INVALID_INPUT')
    expectError(await raw('POST', '/api/v1/secrets', { headers: json, body: '[]' }), 400, 'INVALID_INPUT', /body must be object/)
    expectError(await raw('POST', '/api/v1/secrets', { headers: json, body: 'null' }), 400, 'INVALID_INPUT')
    expectError(await raw('POST', '/api/v1/secrets', { headers: json }), 400, 'INVALID_INPUT')
    expectError(await raw('POST', '/api/v1/secrets', { headers: { ...auth(), 'content-type': 'application/xml' }, body: '<x/>' }), 415, 'INVALID_INPUT')
    expectError(await raw('POST', '/api/v1/secrets', { headers: json, body: JSON.stringify({ name: 'x', value: 'v'.repeat(1_100_000) }) }), 413, 'PAYLOAD_TOO_LARGE')
  })

  it('refuses __proto__ and constructor.prototype keys', async () => {
    const json = { ...auth(), 'content-type': 'application/json' }
    expectError(await raw('POST', '/api/v1/delegate-tokens', { headers: json, body: '{"name":"x","__proto__":{"admin":true}}' }), 400, 'INVALID_INPUT')
    expectError(await raw('POST', '/api/v1/delegate-tokens', { headers: json, body: '{"name":"x","constructor":{"prototype":{"admin":true}}}' }), 400, 'INVALID_INPUT')
  })
})

describe('secrets', () => {
  it('creates an account secret and never returns its value', async () => {
    const value = `value-${randomUUID()}`
    const res = await api.call('POST', '/api/v1/secrets', { name: 'hub password', value })
    expect(res.status).toBe(201)
    expect(Object.keys(res.body).sort()).toEqual(['createdAt', 'id', 'name', 'project'])
    expect(res.body).toMatchObject({ name: 'hub password', project: null })
    const list = await api.call('GET', '/api/v1/secrets')
    expect(list.status).toBe(200)
    expect(list.body.secrets).toContainEqual(res.body)
    expect(JSON.stringify(list.body)).not.toContain(value)
    expect(await api.call('GET', `/api/v1/secrets/${res.body.id}`)).toEqual({ status: 200, body: res.body })
  })

  it('keeps the project of a project secret', async () => {
    expect(await api.call('POST', '/api/v1/secrets', { name: 'p', value: 'v', project: 'payments' })).toMatchObject({
      status: 201,
      body: { project: 'payments' },
    })
  })

  it.each([
    [{ value: 'v' }, /body\/name is required/],
    [{ name: 's' }, /body\/value is required/],
    [{ name: '', value: 'v' }, /body\/name must NOT have fewer than 1 characters/],
    [{ name: '   ', value: 'v' }, /body\/name must match/],
    [{ name: 's', value: '' }, /body\/value/],
    [{ name: 's', value: 'v', project: '' }, /body\/project/],
    [{ name: 's', value: 'v', scope: 'x' }, /body\/scope is not a known field/],
    [{ name: 's', value: { nested: true } }, /body\/value must be string/],
  ])('refuses %j with 400 naming the field', async (body, message) => {
    expectError(await api.call('POST', '/api/v1/secrets', body), 400, 'INVALID_INPUT', message)
  })

  it('answers 404 for an unknown secret', async () => {
    expectError(await api.call('GET', `/api/v1/secrets/${randomUUID()}`), 404, 'NOT_FOUND')
    expectError(await api.call('DELETE', `/api/v1/secrets/${randomUUID()}`), 404, 'NOT_FOUND')
  })

  it('refuses to delete a secret in use (409 SECRET_IN_USE), then deletes it once unused', async () => {
    const secret = await createSecret()
    const connector = await createConnector({ name: 'uses it', username: 'u', passwordSecretId: secret.id })
    expectError(await api.call('DELETE', `/api/v1/secrets/${secret.id}`), 409, 'SECRET_IN_USE', /"uses it"/)
    await api.ok('PUT', `/api/v1/connectors/${connector.id}`, connectorBody({ name: 'uses it' }))
    expect((await api.call('DELETE', `/api/v1/secrets/${secret.id}`)).status).toBe(204)
    expectError(await api.call('GET', `/api/v1/secrets/${secret.id}`), 404, 'NOT_FOUND')
  })
})

describe('secrets and connectors together', () => {
  it('never leave a connector pointing at a deleted secret, whatever the interleaving', async () => {
    for (let round = 0; round < 20; round++) {
      const secret = await createSecret()
      const [deleted, created] = await Promise.all([
        api.call('DELETE', `/api/v1/secrets/${secret.id}`),
        api.call('POST', '/api/v1/connectors', connectorBody({ username: 'u', passwordSecretId: secret.id })),
      ])
      // exactly one wins: deleted then refused, or created then in use
      if (deleted.status === 204) expectError(created, 400, 'INVALID_INPUT', /body\/passwordSecretId/)
      else {
        expectError(deleted, 409, 'SECRET_IN_USE')
        expect(created.status).toBe(201)
      }
    }
  })
})

describe('connectors', () => {
  it('creates a connector with every field, keeping the URL as entered', async () => {
    const secret = await createSecret()
    const body = connectorBody({
      name: 'Docker Hub',
      url: 'https://registry.hub.docker.com/v2/',
      username: 'bob',
      passwordSecretId: secret.id,
      delegateSelectors: [' EU ', 'docker', 'eu'],
    })
    const res = await api.call('POST', '/api/v1/connectors', body)
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      name: 'Docker Hub',
      type: 'docker-registry',
      url: 'https://registry.hub.docker.com/v2/',
      username: 'bob',
      passwordSecretId: secret.id,
      delegateSelectors: ['docker', 'eu'],
      project: null,
    })
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.body.createdAt).toBe(res.body.updatedAt)
    expect(await api.call('GET', `/api/v1/connectors/${res.body.id}`)).toEqual({ status: 200, body: res.body })
    expect((await api.ok('GET', '/api/v1/connectors')).connectors).toContainEqual(res.body)
  })

  it.each(['index.docker.io/v1/', 'registry.example.com', 'registry.example.com:5000', 'localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'http://registry.internal.example/'])(
    'accepts the URL form %s',
    async (url) => {
      expect((await api.call('POST', '/api/v1/connectors', connectorBody({ url }))).status).toBe(201)
    },
  )

  it.each([
    [{ type: 'docker-registry', url: 'r.example.com' }, 'body/name is required'],
    [{ name: 'c', url: 'r.example.com' }, 'body/type is required'],
    [{ name: 'c', type: 'docker-registry' }, 'body/url is required'],
    [{ name: 'c', type: 'nexus', url: 'r.example.com' }, 'body/type must be one of docker-registry'],
    [connectorBody({ url: 'ftp://r.example.com' }), 'body/url: The registry URL uses "ftp://": use https://'],
    [connectorBody({ url: 'http://' }), 'body/url'],
    [connectorBody({ url: 'https://bob:hunter2@r.example.com' }), 'body/url: a URL must not hold credentials'],
    [connectorBody({ url: 'bob@r.example.com:5000' }), 'body/url: a URL must not hold credentials'],
    [connectorBody({ passwordSecretId: randomUUID(), username: 'u' }), 'body/passwordSecretId'],
    [connectorBody({ passwordRef: 'env:X' }), 'body/username: required when a password is given'],
    [connectorBody({ username: 'u', passwordRef: 'vault:x' }), 'body/passwordRef must match'],
    [connectorBody({ username: 'u', passwordRef: 'env:X', passwordSecretId: randomUUID() }), 'passwordSecretId or passwordRef'],
    [connectorBody({ delegateSelectors: [''] }), 'body/delegateSelectors/0'],
    [connectorBody({ delegateSelectors: 'eu' }), 'body/delegateSelectors must be array'],
    [connectorBody({ name: 123 }), 'body/name must be string'],
    [connectorBody({ password: 'plain' }), 'body/password is not a known field'],
  ])('refuses %j with 400 naming the field', async (body, message) => {
    const res = await api.call('POST', '/api/v1/connectors', body)
    expectError(res, 400, 'INVALID_INPUT')
    expect(res.body.error.message).toContain(message)
  })

  it('refuses a project secret outside its project (400 SECRET_OUT_OF_SCOPE) and accepts it inside', async () => {
    const projectSecret = await createSecret({ project: 'payments' })
    const accountSecret = await createSecret()
    const use = (secret: Json, project?: string) =>
      api.call('POST', '/api/v1/connectors', connectorBody({ username: 'u', passwordSecretId: secret.id, ...(project ? { project } : {}) }))
    expectError(await use(projectSecret), 400, 'SECRET_OUT_OF_SCOPE', /"payments"/)
    expectError(await use(projectSecret, 'search'), 400, 'SECRET_OUT_OF_SCOPE')
    expect((await use(projectSecret, 'payments')).status).toBe(201)
    expect((await use(accountSecret)).status).toBe(201)
    expect((await use(accountSecret, 'search')).status).toBe(201)
  })

  it('replaces a connector with PUT, keeping id and createdAt', async () => {
    const before = await createConnector({ username: 'u', delegateSelectors: ['a'] })
    const res = await api.call('PUT', `/api/v1/connectors/${before.id}`, connectorBody({ name: 'renamed', url: 'localhost:5000' }))
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: before.id, name: 'renamed', url: 'localhost:5000', username: null, delegateSelectors: [], createdAt: before.createdAt })
    expect(res.body.updatedAt >= before.updatedAt).toBe(true)
    expect((await api.ok('GET', `/api/v1/connectors/${before.id}`)).name).toBe('renamed')
  })

  it('checks a PUT like a POST: 404 unknown, 400 invalid, 400 SECRET_OUT_OF_SCOPE', async () => {
    const secret = await createSecret({ project: 'payments' })
    const c = await createConnector({ project: 'payments', username: 'u', passwordSecretId: secret.id })
    expectError(await api.call('PUT', `/api/v1/connectors/${randomUUID()}`, connectorBody()), 404, 'NOT_FOUND')
    expectError(await api.call('PUT', `/api/v1/connectors/${c.id}`, { name: 'x' }), 400, 'INVALID_INPUT', /body\/type is required/)
    // moving the connector out of the secret's project
    const moved = await api.call('PUT', `/api/v1/connectors/${c.id}`, connectorBody({ project: 'search', username: 'u', passwordSecretId: secret.id }))
    expectError(moved, 400, 'SECRET_OUT_OF_SCOPE')
    expect((await api.ok('GET', `/api/v1/connectors/${c.id}`)).project).toBe('payments')
  })

  it('deletes a connector, then answers 404 for it', async () => {
    const c = await createConnector()
    expect((await api.call('DELETE', `/api/v1/connectors/${c.id}`)).status).toBe(204)
    expectError(await api.call('GET', `/api/v1/connectors/${c.id}`), 404, 'NOT_FOUND')
    expectError(await api.call('DELETE', `/api/v1/connectors/${c.id}`), 404, 'NOT_FOUND')
    expectError(await api.call('POST', `/api/v1/connectors/${c.id}/validate`), 404, 'NOT_FOUND')
    expectError(await api.call('GET', `/api/v1/connectors/${c.id}/images`), 404, 'NOT_FOUND')
    expectError(await api.call('GET', `/api/v1/connectors/${c.id}/tags?image=x`), 404, 'NOT_FOUND')
  })

  it('validates through a delegate and answers 200 with the task, succeeded or failed', async () => {
    const ok = await createConnector({ delegateSelectors: ['api'] })
    const res = await api.call('POST', `/api/v1/connectors/${ok.id}/validate`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      type: 'validate-connector',
      connectorId: ok.id,
      status: 'succeeded',
      attempts: 1,
      delegate: { name: 'api-delegate' },
      result: { type: 'validate-connector', authScheme: 'none' },
    })
    const bad = await createConnector({ url: 'refuse.example.com' })
    const failed = await api.call('POST', `/api/v1/connectors/${bad.id}/validate`)
    expect(failed.status).toBe(200)
    expect(failed.body).toMatchObject({ status: 'failed', error: { code: 'INVALID_CREDENTIALS' } })
  })

  it('lists images and tags through a delegate', async () => {
    const c = await createConnector()
    const images = await api.call('GET', `/api/v1/connectors/${c.id}/images`)
    expect(images.status).toBe(200)
    expect(images.body).toMatchObject({ images: ['library/nginx', 'team/app'], truncated: false, task: { status: 'succeeded', type: 'list-images' } })
    expect(images.body.task.result).toBeUndefined()
    const tags = await api.call('GET', `/api/v1/connectors/${c.id}/tags?image=team/app`)
    expect(tags.status).toBe(200)
    expect(tags.body).toMatchObject({ image: 'team/app', tags: ['1.0', '1.1', 'latest'], truncated: false, task: { status: 'succeeded', image: 'team/app' } })
  })

  it('answers 502 with the task when the registry work fails, 503 when no delegate can run it', async () => {
    const refused = await createConnector({ url: 'refuse.example.com' })
    const r502 = await api.call('GET', `/api/v1/connectors/${refused.id}/tags?image=x`)
    expectError(r502, 502, 'INVALID_CREDENTIALS')
    expect(r502.body.task).toMatchObject({ status: 'failed', connectorId: refused.id })
    const nobody = await createConnector({ delegateSelectors: ['no-such-delegate'] })
    const r503 = await api.call('GET', `/api/v1/connectors/${nobody.id}/images?timeoutMs=300`)
    expectError(r503, 503, 'NO_ELIGIBLE_DELEGATE', /no-such-delegate/)
    expect(r503.body.task.status).toMatch(/failed|expired/)
  })

  it('refuses bad task parameters with 400 naming the field', async () => {
    const c = await createConnector()
    expectError(await api.call('GET', `/api/v1/connectors/${c.id}/tags`), 400, 'INVALID_INPUT', /querystring\/image is required/)
    expectError(await api.call('GET', `/api/v1/connectors/${c.id}/tags?image=`), 400, 'INVALID_INPUT', /querystring\/image/)
    expectError(await api.call('GET', `/api/v1/connectors/${c.id}/images?timeoutMs=abc`), 400, 'INVALID_INPUT', /querystring\/timeoutMs/)
    expectError(await api.call('POST', `/api/v1/connectors/${c.id}/validate?timeoutMs=5`), 400, 'INVALID_INPUT', /querystring\/timeoutMs/)
    expectError(await api.call('GET', `/api/v1/connectors/${c.id}/images?other=1`), 400, 'INVALID_INPUT', /querystring\/other is not a known field/)
  })
})

describe('tasks', () => {
  it('queues a task (202) and reports it with waitMs', async () => {
    const c = await createConnector({ delegateSelectors: ['API'] })
    const created = await api.call('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: c.id, image: 'nginx', delegateSelectors: ['api-delegate'] })
    expect(created).toEqual({ status: 202, body: { id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'queued' } })
    const task = await api.ok('GET', `/api/v1/tasks/${created.body.id}?waitMs=20000`)
    expect(task).toMatchObject({
      id: created.body.id,
      type: 'list-tags',
      connectorId: c.id,
      status: 'succeeded',
      attempts: 1,
      delegate: { id: delegate.id, name: 'api-delegate' },
      result: { type: 'list-tags', image: 'nginx', tags: ['1.0', '1.1', 'latest'] },
    })
    expect(task.selectionLog.length).toBeGreaterThan(0)
    expect(task.selectionLog[0]).toEqual({ at: expect.any(String), message: expect.any(String) })
    expect(Date.parse(task.finishedAt)).toBeGreaterThanOrEqual(Date.parse(task.createdAt))
  })

  it.each([
    [{ connectorId: 'x' }, /body\/type is required/],
    [{ type: 'list-tags' }, /body\/connectorId is required/],
    [{ type: 'delete-everything', connectorId: 'x' }, /body\/type must be one of validate-connector, list-images, list-tags/],
    [{ type: 'list-images', connectorId: 'nope' }, /body\/connectorId: connector "nope" does not exist/],
    [{ type: 'list-images', connectorId: 'x', timeoutMs: 10 }, /body\/timeoutMs/],
    [{ type: 'list-images', connectorId: 'x', timeoutMs: 1.5 }, /body\/timeoutMs/],
    [{ type: 'list-images', connectorId: 'x', delegateSelectors: [' '] }, /body\/delegateSelectors\/0/],
    [{ type: 'list-images', connectorId: 'x', priority: 1 }, /body\/priority is not a known field/],
  ])('refuses %j with 400 naming the field', async (body, message) => {
    expectError(await api.call('POST', '/api/v1/tasks', body), 400, 'INVALID_INPUT', message)
  })

  it('needs an image for list-tags', async () => {
    const c = await createConnector()
    expectError(await api.call('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: c.id }), 400, 'INVALID_INPUT', /body\/image: required for list-tags/)
  })

  it('answers 404 for unknown task ids, including names of BullMQ keys', async () => {
    for (const id of [randomUUID(), 'meta', 'id', 'events', 'wait', 'active', 'stalled-check', `${randomUUID()}:logs`, '..']) {
      expectError(await api.call('GET', `/api/v1/tasks/${encodeURIComponent(id)}`), 404, 'NOT_FOUND')
    }
    expectError(await api.call('GET', `/api/v1/tasks/${randomUUID()}?waitMs=-1`), 400, 'INVALID_INPUT', /querystring\/waitMs/)
  })

  it('lists tasks most recent first, filtered by connector and status, bounded by limit', async () => {
    const c = await createConnector()
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await api.ok('POST', '/api/v1/tasks', { type: 'list-images', connectorId: c.id })).id)
    for (const id of ids) await api.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    const all = await api.ok('GET', `/api/v1/tasks?connectorId=${c.id}`)
    expect(all.tasks.map((t: Json) => t.id)).toEqual([...ids].reverse())
    expect((await api.ok('GET', `/api/v1/tasks?connectorId=${c.id}&limit=2`)).tasks.map((t: Json) => t.id)).toEqual([ids[2], ids[1]])
    expect((await api.ok('GET', `/api/v1/tasks?connectorId=${c.id}&status=succeeded`)).tasks).toHaveLength(3)
    expect((await api.ok('GET', `/api/v1/tasks?connectorId=${c.id}&status=failed`)).tasks).toEqual([])
    expect((await api.ok('GET', '/api/v1/tasks?limit=1')).tasks).toHaveLength(1)
    expectError(await api.call('GET', '/api/v1/tasks?limit=0'), 400, 'INVALID_INPUT', /querystring\/limit/)
    expectError(await api.call('GET', '/api/v1/tasks?limit=501'), 400, 'INVALID_INPUT', /querystring\/limit/)
    expectError(await api.call('GET', '/api/v1/tasks?status=done'), 400, 'INVALID_INPUT', /querystring\/status must be one of/)
  })
})

describe('delegate tokens and delegates', () => {
  it('shows a token once, lists tokens without it, revokes it, and answers 404 for unknown ones', async () => {
    const created = await api.call('POST', '/api/v1/delegate-tokens', { name: 'eu-cluster' })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ id: expect.any(String), name: 'eu-cluster', token: expect.stringMatching(/^rdt_/) })
    const list = await api.ok('GET', '/api/v1/delegate-tokens')
    expect(list.tokens.find((t: Json) => t.id === created.body.id)).toEqual({ id: created.body.id, name: 'eu-cluster', delegateName: null, createdAt: expect.any(String) })
    expect(JSON.stringify(list)).not.toContain(created.body.token)
    expect((await api.call('DELETE', `/api/v1/delegate-tokens/${created.body.id}`)).status).toBe(204)
    expectError(await api.call('DELETE', `/api/v1/delegate-tokens/${created.body.id}`), 404, 'NOT_FOUND')
    expectError(await api.call('POST', '/api/v1/delegate-tokens', {}), 400, 'INVALID_INPUT', /body\/name is required/)
    expectError(await api.call('POST', '/api/v1/delegate-tokens', { name: 'x', token: 'mine' }), 400, 'INVALID_INPUT', /body\/token is not a known field/)
  })

  it('lists connected delegates with their state', async () => {
    await api.waitForDelegates(1)
    const list = await api.ok<Json[]>('GET', '/api/v1/delegates')
    expect(list.find((d) => d.name === 'api-delegate')).toMatchObject({
      id: delegate.id,
      tags: ['api'],
      version: 'test',
      connected: true,
      connectedAt: expect.any(String),
      lastHeartbeatAt: expect.any(String),
      activeTasks: 0,
      capacity: 8,
    })
  })
})

describe('OpenAPI', () => {
  it('describes every route with the schemas that validate it', async () => {
    const { status, body: doc } = await raw('GET', '/api/v1/openapi.json')
    expect(status).toBe(200)
    expect(doc.openapi).toMatch(/^3\./)
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' })
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    )
    expect(operations.sort()).toEqual(
      [
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'POST /api/v1/secrets',
        'GET /api/v1/secrets',
        'GET /api/v1/secrets/{id}',
        'DELETE /api/v1/secrets/{id}',
        'POST /api/v1/connectors',
        'GET /api/v1/connectors',
        'GET /api/v1/connectors/{id}',
        'PUT /api/v1/connectors/{id}',
        'DELETE /api/v1/connectors/{id}',
        'POST /api/v1/connectors/{id}/validate',
        'GET /api/v1/connectors/{id}/images',
        'GET /api/v1/connectors/{id}/tags',
        'GET /api/v1/connectors/{id}/health',
        'GET /api/v1/stats/tasks',
        'GET /api/v1/stats/delegates',
        'POST /api/v1/tasks',
        'GET /api/v1/tasks/{id}',
        'GET /api/v1/tasks',
        'POST /api/v1/delegate-tokens',
        'GET /api/v1/delegate-tokens',
        'DELETE /api/v1/delegate-tokens/{id}',
        'GET /api/v1/delegates',
        'POST /api/v1/delegates/eligible',
        'GET /api/v1/delegates/stream',
      ].sort(),
    )
    const createSecretOp = doc.paths['/api/v1/secrets'].post
    expect(createSecretOp.requestBody.content['application/json'].schema).toMatchObject({ required: ['name', 'value'], additionalProperties: false })
    expect(doc.paths['/healthz'].get.security).toEqual([])
    const tagsOp = doc.paths['/api/v1/connectors/{id}/tags'].get
    expect(tagsOp.parameters.find((p: Json) => p.name === 'image')).toMatchObject({ in: 'query', required: true })
  })
})

describe('metrics', () => {
  it('exposes tasks by type and outcome, queue depth, durations, delegates and decode failures', async () => {
    const c = await createConnector()
    await api.ok('GET', `/api/v1/connectors/${c.id}/images`)
    const res = await raw('GET', '/metrics')
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    const text = res.body as string
    expect(text).toMatch(/^rd_tasks_total\{type="list-images",outcome="succeeded"\} [1-9]/m)
    expect(text).toMatch(/^rd_task_duration_seconds_count\{type="list-images",outcome="succeeded"\} [1-9]/m)
    expect(text).toMatch(/^rd_queue_depth\{state="waiting"\} \d+/m)
    expect(text).toMatch(/^rd_queue_depth\{state="active"\} \d+/m)
    expect(text).toMatch(/^rd_connected_delegates\{replica="[0-9a-f]+"\} 1$/m)
    expect(text).toMatch(/^rd_websocket_decode_failures_total \d+$/m)
    expect(text).toMatch(/^process_cpu_user_seconds_total /m)
  })
})
