/**
 * The secrets grep (SPEC §2): a whole scenario — secrets, connectors with Basic and Bearer
 * registries, a delegate-side password, bad passwords, refused tokens, invalid requests — with the
 * manager and the delegate logging at debug into a buffer, then every log line and every response
 * body is searched for every secret value, password, API key and token. Zero hits.
 */
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { request } from 'undici'
import { Redis } from 'ioredis'
import { WebSocket } from 'ws'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { Delegate } from '../../delegate/src/delegate.ts'
import { RegistryClient } from '../../delegate/src/registry/client.ts'
import { logRedaction } from '../../common/src/log-redaction.ts'
import { startManager, type RunningManager } from '../src/manager.ts'
import { managerConfig } from '../../test/harness.ts'
import { startAuthRegistry, type AuthRegistry } from '../../test/auth-registry.ts'
import { dumpRedis } from '../../test/redis-dump.ts'
import { waitFor } from '../../test/wait-for.ts'

const lines: string[] = []
const bodies: string[] = []
const secrets = new Set<string>()
const cleanup: (() => Promise<unknown>)[] = []
let m: RunningManager
let apiKey: string
let prefix: string

const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean))
    done()
  },
})
const log = pino({ level: 'debug', redact: logRedaction }, sink)

/** A credential to look for afterwards; distinctive, so that a hit is never a coincidence. */
function credential(label: string): string {
  const value = `${label}-${randomUUID()}`
  secrets.add(value)
  return value
}

async function call(method: string, path: string, body?: unknown, o: { raw?: string; key?: string } = {}) {
  const payload = o.raw ?? (body === undefined ? null : JSON.stringify(body))
  const res = await request(m.url + path, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${o.key ?? apiKey}`, ...(payload === null ? {} : { 'content-type': 'application/json' }) },
    body: payload,
  })
  const text = await res.body.text()
  // the one answer that shows a credential by design: a new delegate token, once
  const showsNewToken = method === 'POST' && path === '/api/v1/delegate-tokens' && res.statusCode === 201
  if (!showsNewToken) bodies.push(`${method} ${path} → ${res.statusCode} ${text}`)
  const parsed = text ? JSON.parse(text) : undefined
  return { status: res.statusCode, body: parsed }
}

beforeAll(async () => {
  const config = managerConfig(inject('redisUrl'))
  apiKey = config.apiKey
  prefix = config.queuePrefix
  secrets.add(apiKey)
  secrets.add(config.secretsKey)
  m = await startManager(config, log.child({ service: 'manager' }))
  cleanup.push(() => m.close())
})
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

describe('the secrets grep', () => {
  it('finds no secret, password, key or token in any log line or response body', async () => {
    // registries that check passwords, one per auth flow, and the anonymous CNCF registry
    const basicPassword = credential('basic-pw')
    const bearerPassword = credential('bearer-pw')
    const refPassword = credential('ref-pw')
    const basic: AuthRegistry = await startAuthRegistry({ scheme: 'basic', username: 'alice', password: basicPassword })
    const bearer: AuthRegistry = await startAuthRegistry({ scheme: 'bearer', username: 'bob', password: bearerPassword })
    const byRefRegistry: AuthRegistry = await startAuthRegistry({ scheme: 'basic', username: 'carol', password: refPassword })
    cleanup.push(() => basic.close(), () => bearer.close(), () => byRefRegistry.close())
    secrets.add(bearer.issuedToken)
    const anonymous = inject('registryHostPort')

    // a delegate that logs at debug into the same buffer, with a delegate-side password
    const token = (await call('POST', '/api/v1/delegate-tokens', { name: 'grep' })).body.token as string
    secrets.add(token)
    const dlog = log.child({ service: 'delegate' })
    const d = new Delegate({
      managerUrls: [m.url],
      token,
      name: 'grep-delegate',
      tags: [],
      capacity: 4,
      version: 'test',
      log: dlog,
      runner: new RegistryClient({ log: dlog, connectTimeoutMs: 2_000 }),
      env: { REGISTRY_PASSWORD_CAROL: refPassword },
    })
    d.start()
    cleanup.push(() => d.close())
    await waitFor(() => d.id !== null, { timeoutMs: 10_000, what: 'the delegate to be welcomed' })

    // secrets: right and wrong passwords, a project secret, one never used
    const ids: Record<string, string> = {}
    const wrongPassword = credential('wrong-pw')
    for (const [name, value, project] of [
      ['basic', basicPassword],
      ['bearer', bearerPassword],
      ['wrong', wrongPassword],
      ['project', credential('project-pw'), 'payments'],
      ['unused', credential('unused')],
    ] as const) {
      const res = await call('POST', '/api/v1/secrets', { name, value, ...(project ? { project } : {}) })
      expect(res.status).toBe(201)
      ids[name] = res.body.id as string
    }

    const connector = async (body: Record<string, unknown>) => {
      const res = await call('POST', '/api/v1/connectors', { type: 'docker-registry', name: 'c', ...body })
      expect(res.status).toBe(201)
      return res.body.id as string
    }
    const basicOk = await connector({ url: basic.hostPort, username: 'alice', passwordSecretId: ids.basic })
    const basicBad = await connector({ url: basic.hostPort, username: 'alice', passwordSecretId: ids.wrong })
    const bearerOk = await connector({ url: bearer.hostPort, username: 'bob', passwordSecretId: ids.bearer })
    const bearerBad = await connector({ url: bearer.hostPort, username: 'bob', passwordSecretId: ids.wrong })
    const byRef = await connector({ url: byRefRegistry.hostPort, username: 'carol', passwordRef: 'env:REGISTRY_PASSWORD_CAROL' })
    const byRefWrong = await connector({ url: basic.hostPort, username: 'alice', passwordRef: 'env:REGISTRY_PASSWORD_CAROL' })
    const anon = await connector({ url: anonymous, username: 'alice', passwordSecretId: ids.basic })
    const refused = await connector({ url: '127.0.0.1:1', username: 'alice', passwordSecretId: ids.basic })

    // registry work: success and failure through every flow
    const validate = async (id: string) => (await call('POST', `/api/v1/connectors/${id}/validate?timeoutMs=20000`)).body
    expect(await validate(basicOk)).toMatchObject({ status: 'succeeded', result: { authScheme: 'basic' } })
    expect(await validate(bearerOk)).toMatchObject({ status: 'succeeded', result: { authScheme: 'bearer' } })
    expect(await validate(byRef)).toMatchObject({ status: 'succeeded', result: { authScheme: 'basic' } })
    expect(await validate(byRefWrong)).toMatchObject({ status: 'failed', error: { code: 'INVALID_CREDENTIALS' } })
    expect(await validate(basicBad)).toMatchObject({ status: 'failed', error: { code: 'INVALID_CREDENTIALS' } })
    expect(await validate(bearerBad)).toMatchObject({ status: 'failed', error: { code: 'INVALID_CREDENTIALS' } })
    expect((await validate(anon)).status).toBe('succeeded')
    expect((await validate(refused)).status).toBe('failed')
    expect(await call('GET', `/api/v1/connectors/${bearerOk}/images`)).toMatchObject({ status: 200, body: { images: ['team/app'] } })
    expect(await call('GET', `/api/v1/connectors/${basicOk}/tags?image=team/app`)).toMatchObject({ status: 200, body: { tags: ['1.0', '2.0'] } })
    expect((await call('GET', `/api/v1/connectors/${bearerBad}/tags?image=team/app`)).status).toBe(502)
    await call('GET', '/api/v1/tasks?limit=100')
    // the passwords really went out, so a hit would have been possible
    expect(basic.seenAuthorization).toContain(`Basic ${Buffer.from(`alice:${basicPassword}`).toString('base64')}`)
    expect(bearer.seenAuthorization).toContain(`Bearer ${bearer.issuedToken}`)
    expect(byRefRegistry.seenAuthorization).toContain(`Basic ${Buffer.from(`carol:${refPassword}`).toString('base64')}`)
    for (const auth of [...basic.seenAuthorization, ...bearer.seenAuthorization, ...byRefRegistry.seenAuthorization]) secrets.add(auth.split(' ')[1]!)

    // errors, each carrying a credential in the request
    expect((await call('POST', '/api/v1/connectors', { type: 'docker-registry', name: 'c', url: anonymous, username: 'a', passwordSecretId: ids.project })).body.error.code).toBe(
      'SECRET_OUT_OF_SCOPE',
    )
    expect((await call('POST', '/api/v1/secrets', { name: 'x', value: credential('extra-field'), bogus: 1 })).status).toBe(400)
    expect((await call('POST', '/api/v1/secrets', { name: '', value: credential('bad-name') })).status).toBe(400)
    expect((await call('POST', '/api/v1/secrets', undefined, { raw: `{"name":"x","value":"${credential('broken-json')}"` })).status).toBe(400)
    expect((await call('POST', '/api/v1/connectors', { type: 'docker-registry', name: 'c', url: `http://alice:${credential('url-pw')}@${anonymous}/` })).status).toBe(400)
    expect((await call('POST', '/api/v1/connectors', { type: 'docker-registry', name: 'c', url: `http://alice:${credential('bad-url-pw')}@[::1` })).status).toBe(400)
    expect((await call('GET', '/api/v1/secrets', undefined, { key: credential('wrong-api-key') })).status).toBe(401)
    expect((await call('DELETE', `/api/v1/secrets/${ids.basic}`)).status).toBe(409)
    await call('GET', '/api/v1/secrets')
    await call('GET', `/api/v1/secrets/${ids.basic}`)
    await call('GET', '/api/v1/connectors')
    await call('GET', '/api/v1/delegates')

    // refused and revoked delegate tokens
    const revoked = (await call('POST', '/api/v1/delegate-tokens', { name: 'revoked' })).body
    secrets.add(revoked.token as string)
    await call('DELETE', `/api/v1/delegate-tokens/${revoked.id}`)
    for (const bad of [revoked.token as string, credential('rdt_forged')]) {
      const ws = new WebSocket(`${m.url.replace('http', 'ws')}/api/v1/delegates/stream`, { headers: { authorization: `Bearer ${bad}` } })
      const status = await new Promise<number>((resolve) => {
        ws.on('unexpected-response', (req, res) => (req.destroy(), resolve(res.statusCode ?? 0)))
        ws.on('error', () => resolve(0))
      })
      expect(status).toBe(401)
    }
    await call('GET', '/api/v1/delegate-tokens')

    // everything is in the buffer once the last request's line is (written after its answer): search it
    await waitFor(() => lines.some((l) => l.includes('"msg":"request"') && l.includes('"method":"GET"') && l.includes('"url":"/api/v1/delegate-tokens"')), {
      timeoutMs: 5_000,
      what: 'the log line of the last request',
      describe: () => lines.slice(-3),
    })
    expect(lines.length).toBeGreaterThan(50)
    expect(lines.some((l) => l.includes('"level":20'))).toBe(true)
    const hits: string[] = []
    for (const secret of secrets) {
      for (const line of [...lines, ...bodies]) if (line.includes(secret)) hits.push(`${secret.slice(0, 12)}… in ${line.slice(0, 300)}`)
    }
    expect(hits).toEqual([])

    // nor at rest: nothing under the manager's prefix holds one (the delegate-side password never got there)
    const redis = new Redis(inject('redisUrl'))
    const { text } = await dumpRedis(redis, prefix)
    await redis.quit()
    expect(text).toContain(ids.basic)
    expect([...secrets].filter((secret) => text.includes(secret)).map((secret) => secret.slice(0, 12))).toEqual([])
  })
})
