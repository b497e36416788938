/**
 * The registry client against a fault server: the misbehaviour a real registry will not produce
 * on demand. Each test starts its own server on a loopback port.
 */
import { connect as createNetConnection, createServer as createNetServer, type Socket } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { startFaultServer, json, isPing, pagedRegistry, type FaultServer, type Handler } from './fault-server.ts'
import { failure, images, makeClient, range, run, tags, validate, type TestClient } from './registry-helpers.ts'
import { freePort } from '../../test/containers.ts'
import { pino } from 'pino'
import { RegistryError } from '../src/registry/errors.ts'
import { Http } from '../src/registry/http.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function server(handler: Handler): Promise<FaultServer> {
  const s = await startFaultServer(handler)
  cleanups.push(() => s.close())
  return s
}
function client(opts: Parameters<typeof makeClient>[0] = {}): TestClient {
  const c = makeClient(opts)
  cleanups.push(() => c.client.close())
  return c
}
const tagRequests = (s: FaultServer) => s.requests.filter((r) => r.url.includes('/tags/list'))

describe('pinging /v2/', () => {
  it('an HTML page at /v2/ is not a registry', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html><body>Welcome to nginx!</body></html>')
    })
    const { client: c } = client()
    const err = await failure(c, validate(s.url))
    expect(err.code).toBe('NOT_A_REGISTRY')
    expect(err.message).toMatch(/check the host, port and path/)
    expect(s.requests.map((r) => r.url)).toEqual(['/v2/', '/v1/_ping'])
  })

  it('a 404 at /v2/ is not a registry, and a typed /v1 URL is mentioned', async () => {
    const s = await server((_req, res) => json(res, 404, { message: 'nope' }, { 'docker-distribution-api-version': '' }))
    const err = await failure(client().client, validate(`${s.url}/v1/`))
    expect(err.code).toBe('NOT_A_REGISTRY')
    expect(err.status).toBe(404)
    expect(err.message).toMatch(/\/v1/)
  })

  it('a registry that answers only the V1 API is V1_ONLY', async () => {
    const s = await server((_req, res, url) => {
      if (url.pathname === '/v1/_ping') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-docker-registry-version': '0.9.1' })
        return res.end('true')
      }
      res.writeHead(404)
      res.end('404 page not found')
    })
    const err = await failure(client().client, validate(`${s.url}/v1`))
    expect(err.code).toBe('V1_ONLY')
    expect(err.retryable).toBe(false)
  })

  it('an OCI registry without the version header but with a JSON /v2/ is fine', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
    expect(await run(client().client, validate(s.url))).toMatchObject({ type: 'validate-connector', url: s.url, apiVersion: null, authScheme: 'none' })
  })

  it('a 401 without any challenge is not a registry', async () => {
    const s = await server((_req, res) => {
      res.writeHead(401)
      res.end('no')
    })
    expect((await failure(client().client, validate(s.url))).code).toBe('NOT_A_REGISTRY')
  })
})

describe('retries', () => {
  it('waits out a short Retry-After on 429 and then succeeds', async () => {
    let calls = 0
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      if (++calls === 1) return json(res, 429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }, { 'retry-after': '1' })
      json(res, 200, { name: 'a', tags: ['x'] })
    })
    expect(await run(client().client, tags(s.url, 'a'))).toMatchObject({ tags: ['x'], truncated: false })
    expect(tagRequests(s)).toHaveLength(2)
  })

  it('a long Retry-After is RATE_LIMITED at once, with retryAfterMs and the registry error', async () => {
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      const date = new Date(Date.now() + 120_000).toUTCString()
      json(res, 429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'pull rate' }] }, { 'retry-after': date })
    })
    const err = await failure(client().client, tags(s.url, 'a'))
    expect(err.code).toBe('RATE_LIMITED')
    expect(err.retryable).toBe(true)
    expect(err.cannotReach).toBe(false)
    expect(err.status).toBe(429)
    expect(err.retryAfterMs).toBeGreaterThan(100_000)
    expect(err.registryErrors).toEqual([{ code: 'TOOMANYREQUESTS', message: 'pull rate' }])
    expect(tagRequests(s)).toHaveLength(1)
  })

  it('after a long Retry-After, the next task to that host fails at once without a request', async () => {
    const s = await server((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 429, {}, { 'retry-after': '600' })))
    const { client: c } = client()
    expect(await failure(c, tags(s.url, 'a'))).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 600_000 })
    const seen = s.requests.length
    const err = await failure(c, tags(s.url, 'b'))
    expect(err.code).toBe('RATE_LIMITED')
    expect(err.retryAfterMs).toBeGreaterThan(590_000)
    expect(s.requests.length).toBe(seen)
  })

  it('a Retry-After past the task deadline is RATE_LIMITED without waiting', async () => {
    const s = await server((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 429, {}, { 'retry-after': '20' })))
    const { client: c } = client()
    const err = await c.run(tags(s.url, 'a'), AbortSignal.timeout(20_000), { deadline: Date.now() + 3000 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 20_000 })
  })

  it('503 then 200 succeeds', async () => {
    let calls = 0
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      if (++calls === 1) return json(res, 503, { errors: [{ code: 'UNAVAILABLE', message: 'maintenance' }] })
      json(res, 200, { name: 'a', tags: ['b', 'a'] })
    })
    expect(await run(client().client, tags(s.url, 'a'))).toMatchObject({ tags: ['a', 'b'] })
  })

  it('500 always is SERVER_ERROR after three attempts', async () => {
    const s = await server((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 500, { errors: [{ code: 'UNKNOWN', message: 'boom' }] })))
    const err = await failure(client().client, tags(s.url, 'a'))
    expect(err.code).toBe('SERVER_ERROR')
    expect(err.status).toBe(500)
    expect(err.retryable).toBe(true)
    expect(err.registryErrors).toEqual([{ code: 'UNKNOWN', message: 'boom' }])
    expect(tagRequests(s)).toHaveLength(3)
  })

  it('a socket reset mid-request is retried', async () => {
    let calls = 0
    const s = await server((req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      if (++calls === 1) return req.socket.destroy()
      json(res, 200, { name: 'a', tags: ['ok'] })
    })
    expect(await run(client().client, tags(s.url, 'a'))).toMatchObject({ tags: ['ok'] })
    expect(calls).toBe(2)
  })

  it('a registry that stalls is TIMEOUT', async () => {
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      // never answers
    })
    const err = await failure(client({ requestTimeoutMs: 300 }).client, tags(s.url, 'a'))
    expect(err.code).toBe('TIMEOUT')
    expect(err.cannotReach).toBe(true)
  })

  it("the task's signal aborts a request in flight", async () => {
    const s = await server(() => {})
    const { client: c } = client()
    const err = await c.run(validate(s.url), AbortSignal.timeout(300)).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'TIMEOUT' })
  })
})

describe('answers that are wrong', () => {
  it('malformed JSON is PROTOCOL_ERROR', async () => {
    const s = await server((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 200, '{"name":"a","tags":["x",')))
    const err = await failure(client().client, tags(s.url, 'a'))
    expect(err.code).toBe('PROTOCOL_ERROR')
    expect(err.retryable).toBe(false)
  })

  it('tags that are not a list are PROTOCOL_ERROR', async () => {
    const s = await server((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 200, { tags: 'latest' })))
    expect((await failure(client().client, tags(s.url, 'a'))).code).toBe('PROTOCOL_ERROR')
  })

  it('tags: null is an empty list, and null or empty entries are left out and counted', async () => {
    let page = 0
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      if (page++ === 0) return json(res, 200, { name: 'a', tags: null }, { link: '</v2/a/tags/list?last=0>; rel="next"' })
      json(res, 200, { name: 'a', tags: ['b', null, '', 'a', 'b'] })
    })
    expect(await run(client().client, tags(s.url, 'a'))).toEqual({ type: 'list-tags', image: 'a', tags: ['a', 'b'], truncated: false, skipped: 2 })
  })

  it('names and tags outside the distribution grammar (escape sequences, controls, too long, non-ASCII) are left out and counted', async () => {
    const hostile = ['\u001b]8;;http://evil\u0007click\u001b]8;;\u0007', 'ok\nfake line', '\u202eevil', 'tag\u0000', 'é', '-leading', 'x'.repeat(129), '.dot']
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      if (url.pathname === '/v2/_catalog') return json(res, 200, { repositories: ['team/app', 'Team/App', 'team//app', 'a/\u001b[2J', 'x'.repeat(256), 'ok_name/sub-part.v2'] })
      json(res, 200, { name: 'a', tags: ['1.0', ...hostile, 'latest', 'A_b-c.9', 'x'.repeat(128)] })
    })
    expect(await run(client().client, tags(s.url, 'a'))).toEqual({ type: 'list-tags', image: 'a', tags: ['1.0', 'A_b-c.9', 'latest', 'x'.repeat(128)], truncated: false, skipped: hostile.length })
    expect(await run(client().client, images(s.url))).toEqual({ type: 'list-images', images: ['ok_name/sub-part.v2', 'team/app'], truncated: false, skipped: 4 })
  })

  it('a body far larger than its endpoint warrants (/v2/, /v1/_ping, the token realm) is PROTOCOL_ERROR, never a crash', async () => {
    const huge = `{"x":"${'a'.repeat(2 * 1024 * 1024)}"}`
    const pingTooBig = await server((_req, res, url) => (url.pathname === '/v2/' ? json(res, 200, huge) : json(res, 404, huge)))
    expect((await failure(client().client, validate(pingTooBig.url))).code).toBe('PROTOCOL_ERROR')
    const v1TooBig = await server((_req, res, url) => (url.pathname === '/v1/_ping' ? json(res, 200, huge) : json(res, 404, {})))
    expect((await failure(client().client, validate(v1TooBig.url))).code).toBe('PROTOCOL_ERROR')
    const realmTooBig = await server((_req, res, url) =>
      url.pathname === '/token' ? json(res, 200, huge) : json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${_req.headers.host}/token",service="s"` }),
    )
    expect((await failure(client().client, validate(realmTooBig.url))).code).toBe('PROTOCOL_ERROR')
  })

  it('a gzip body is read', async () => {
    const s = await server((req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      expect(req.headers['accept-encoding']).toMatch(/gzip/)
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
      res.end(gzipSync(JSON.stringify({ name: 'a', tags: ['z', 'y'] })))
    })
    expect(await run(client().client, tags(s.url, 'a'))).toMatchObject({ tags: ['y', 'z'] })
  })

  it('a 403 on tags is ACCESS_DENIED and a 404 is NAME_UNKNOWN', async () => {
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      if (url.pathname.startsWith('/v2/secret/')) return json(res, 403, { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] })
      json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] })
    })
    const { client: c } = client()
    expect(await failure(c, tags(s.url, 'secret/app'))).toMatchObject({ code: 'ACCESS_DENIED', status: 403 })
    expect(await failure(c, tags(s.url, 'nope'))).toMatchObject({ code: 'NAME_UNKNOWN', status: 404, registryErrors: [{ code: 'NAME_UNKNOWN' }] })
  })

  it('a registry without a catalog is CATALOG_UNSUPPORTED', async () => {
    const s = await server((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 404, { errors: [{ code: 'UNSUPPORTED' }] })))
    expect((await failure(client().client, images(s.url))).code).toBe('CATALOG_UNSUPPORTED')
  })

  it('a redirect names where it leads, without credentials', async () => {
    const s = await server((_req, res) => {
      res.writeHead(301, { location: 'https://user:pw@elsewhere.invalid/v2/?token=abc' })
      res.end()
    })
    const err = await failure(client().client, validate(s.url))
    expect(err.code).toBe('NOT_A_REGISTRY')
    expect(err.message).toContain('https://elsewhere.invalid/v2/?token=REDACTED')
    expect(err.message).not.toMatch(/pw|abc/)
  })

  it('listing on a web server that is no registry is NOT_A_REGISTRY, not NAME_UNKNOWN', async () => {
    const html = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<!doctype html><title>Home</title>')
    })
    const notFound = await server((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('404 page not found')
    })
    const { client: c } = client()
    expect((await failure(c, tags(html.url, 'a'))).code).toBe('NOT_A_REGISTRY')
    expect((await failure(c, tags(notFound.url, 'a'))).code).toBe('NOT_A_REGISTRY')
    expect((await failure(c, images(notFound.url))).code).toBe('NOT_A_REGISTRY')
  })
})

describe('pagination', () => {
  it('asks for 1000 per page and follows every Link to the end', async () => {
    const all = range(2500)
    const s = await server(pagedRegistry(all, { defaultPage: 100, maxPage: 1000, repository: 'big/app' }))
    const r = await run(client().client, tags(s.url, 'big/app'))
    expect(r).toMatchObject({ image: 'big/app', truncated: false })
    expect((r as { tags: string[] }).tags).toEqual([...all].sort())
    expect(tagRequests(s).map((q) => new URL(q.url, s.url).searchParams.get('n'))).toEqual(['1000', '1000', '1000'])
  })

  it.each([
    ['400 PAGINATION_NUMBER_INVALID', { status: 400, body: { errors: [{ code: 'PAGINATION_NUMBER_INVALID', message: 'invalid number' }] } }],
    ['405 (ECR)', { status: 405, body: {} }],
    ['413 (Quay)', { status: 413, body: {} }],
  ])('steps down to 100 per page when a registry refuses 1000 with %s', async (_name, refuse) => {
    const all = range(1234, 't')
    const s = await server(pagedRegistry(all, { defaultPage: 10, maxPage: 100, refuse, repository: 'a' }))
    const r = await run(client().client, tags(s.url, 'a'))
    expect((r as { tags: string[] }).tags).toHaveLength(1234)
    const ns = tagRequests(s).map((q) => new URL(q.url, s.url).searchParams.get('n'))
    expect(ns[0]).toBe('1000')
    expect(ns.slice(1).every((n) => n === '100')).toBe(true)
    expect(ns).toHaveLength(1 + 13)
  })

  it('asks with no page size when a registry refuses any', async () => {
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      if (url.searchParams.has('n')) return json(res, 400, { errors: [{ code: 'PAGINATION_NUMBER_INVALID' }] })
      json(res, 200, { repositories: ['b', 'a'] })
    })
    expect(await run(client().client, images(s.url))).toEqual({ type: 'list-images', images: ['a', 'b'], truncated: false, skipped: 0 })
  })

  it('a Link loop ends with what was read and truncated: true', async () => {
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      const last = url.searchParams.get('last')
      if (last === null) return json(res, 200, { tags: ['a', 'b'] }, { link: '</v2/x/tags/list?last=b>; rel="next"' })
      json(res, 200, { tags: ['c', 'a'] }, { link: '</v2/x/tags/list?n=1000>; rel="next"' })
    })
    expect(await run(client().client, tags(s.url, 'x'))).toEqual({ type: 'list-tags', image: 'x', tags: ['a', 'b', 'c'], truncated: true, skipped: 0 })
    expect(tagRequests(s)).toHaveLength(2)
  })

  it('a cross-origin Link is PROTOCOL_ERROR and the other host receives nothing', async () => {
    const other = await server((_req, res) => json(res, 200, { tags: ['evil'] }))
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      json(res, 200, { tags: ['a'] }, { link: `<${other.url}/v2/x/tags/list?last=a>; rel="next"` })
    })
    const err = await failure(client().client, tags(s.url, 'x', { username: 'u', password: 'pw' }))
    expect(err.code).toBe('PROTOCOL_ERROR')
    expect(err.message).toContain(other.host)
    expect(other.requests).toHaveLength(0)
  })

  it('absolute Link targets on the same origin, among several links, are followed', async () => {
    const s = await server((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      if (!url.searchParams.has('cursor')) {
        return json(res, 200, { tags: ['1'] }, { link: [`<http://127.0.0.1:1/prev>; rel="prev"`, `<http://${url.host}/v2/x/tags/list?cursor=opaque%2Fabc>; rel="next"`] })
      }
      expect(url.searchParams.get('cursor')).toBe('opaque/abc')
      json(res, 200, { tags: ['2'] })
    })
    expect(await run(client().client, tags(s.url, 'x'))).toMatchObject({ tags: ['1', '2'], truncated: false })
  })

  it('the page cap ends the walk with truncated: true', async () => {
    const s = await server(pagedRegistry(range(50), { defaultPage: 10, maxPage: 10, repository: 'a' }))
    const r = await run(client({ limits: { maxPages: 3 } }).client, tags(s.url, 'a'))
    expect(r).toMatchObject({ truncated: true })
    expect((r as { tags: string[] }).tags).toHaveLength(30)
  })

  it('the time cap ends the walk with truncated: true', async () => {
    const s = await server(pagedRegistry(range(50), { defaultPage: 10, maxPage: 10, repository: 'a', delayMs: 5 }))
    const r = await run(client({ limits: { maxMs: 1 } }).client, tags(s.url, 'a'))
    expect(r).toMatchObject({ truncated: true })
    expect((r as { tags: string[] }).tags.length).toBeGreaterThan(0)
  })

  it('the byte cap ends the walk with truncated: true', async () => {
    const s = await server(pagedRegistry(range(500), { defaultPage: 100, maxPage: 100, repository: 'a' }))
    const r = await run(client({ limits: { maxBytes: 2500 } }).client, tags(s.url, 'a'))
    expect(r).toMatchObject({ truncated: true })
    expect((r as { tags: string[] }).tags.length).toBeGreaterThan(0)
  })

  it('lists more than 10,000 tags', async () => {
    const s = await server(pagedRegistry(range(12_345), { defaultPage: 100, maxPage: 1000, repository: 'many' }))
    const r = await run(client().client, tags(s.url, 'many'))
    expect(r).toMatchObject({ truncated: false })
    expect((r as { tags: string[] }).tags).toHaveLength(12_345)
  })
})

describe('Bearer tokens', () => {
  interface TokenServerState {
    issued: number
    seen: URL[]
  }
  /** A registry and its token realm on one fault server (realm given relative). */
  async function tokenRegistry(opts: { anonymous?: boolean; expiresIn?: number; field?: 'token' | 'access_token'; insufficientFor?: string[] } = {}): Promise<FaultServer & { state: TokenServerState }> {
    const state: TokenServerState = { issued: 0, seen: [] }
    const valid = new Set<string>()
    const s = await server((req, res, url) => {
      if (url.pathname === '/token') {
        state.seen.push(url)
        const auth = req.headers.authorization
        if (auth === undefined && !opts.anonymous) return json(res, 401, { details: 'no anonymous access' })
        if (auth !== undefined && auth !== `Basic ${Buffer.from('alice:wonder').toString('base64')}`) return json(res, 401, { details: 'incorrect username or password' })
        const token = `tok-${++state.issued}-${url.searchParams.getAll('scope').join('+')}`
        valid.add(token)
        return json(res, 200, { [opts.field ?? 'token']: token, expires_in: opts.expiresIn ?? 300 })
      }
      const scope = isPing(url) ? '' : url.pathname === '/v2/_catalog' ? 'registry:catalog:*' : `repository:${url.pathname.slice(4, -'/tags/list'.length)}:pull`
      const challenge = `Bearer realm="/token",service="fault",scope="${scope}"`
      const auth = req.headers.authorization ?? ''
      const token = auth.replace(/^Bearer /, '')
      if (!valid.has(token)) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'www-authenticate': challenge })
      if (scope && (!token.includes(scope) || opts.insufficientFor?.includes(scope))) {
        return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'www-authenticate': `${challenge},error="insufficient_scope"` })
      }
      if (isPing(url)) return json(res, 200, {})
      if (url.pathname === '/v2/_catalog') return json(res, 200, { repositories: ['a', 'b'] })
      json(res, 200, { name: 'x', tags: ['1.0', '0.9'] })
    })
    return Object.assign(s, { state })
  }

  it('anonymous tokens list tags (the way Quay and GHCR list anonymously)', async () => {
    const s = await tokenRegistry({ anonymous: true })
    const { client: c } = client()
    expect(await run(c, tags(s.url, 'lib/app'))).toMatchObject({ tags: ['0.9', '1.0'] })
    expect(s.state.seen[0]!.searchParams.getAll('scope')).toEqual(['repository:lib/app:pull'])
    expect(s.state.seen[0]!.searchParams.get('service')).toBe('fault')
    expect(await run(c, validate(s.url))).toMatchObject({ authScheme: 'bearer', apiVersion: 'registry/2.0' })
  })

  it('reads access_token, and caches tokens across tasks until they expire', async () => {
    const s = await tokenRegistry({ field: 'access_token', expiresIn: 10 })
    const { client: c } = client()
    const creds = { username: 'alice', password: 'wonder' }
    for (let i = 0; i < 3; i++) expect(await run(c, tags(s.url, 'lib/app', creds))).toMatchObject({ tags: ['0.9', '1.0'] })
    expect(s.state.issued).toBe(1)
    // a token fetched with credentials is not used for anonymous tasks
    await failure(c, tags(s.url, 'lib/app'))
    expect(s.state.issued).toBe(1)
  })

  it('fetches one token for concurrent tasks', async () => {
    const s = await tokenRegistry({ anonymous: true })
    const { client: c } = client()
    await Promise.all(Array.from({ length: 8 }, () => run(c, tags(s.url, 'lib/app'))))
    expect(s.state.issued).toBe(1)
  })

  it('validation with wrong credentials is INVALID_CREDENTIALS, none is AUTH_REQUIRED', async () => {
    const s = await tokenRegistry()
    const { client: c } = client()
    expect(await failure(c, validate(s.url, { username: 'alice', password: 'wrong' }))).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401, retryable: false })
    expect(await failure(c, validate(s.url))).toMatchObject({ code: 'AUTH_REQUIRED' })
    expect(await run(c, validate(s.url, { username: 'alice', password: 'wonder' }))).toMatchObject({ authScheme: 'bearer' })
  })

  it('a catalog refused with insufficient_scope is CATALOG_UNSUPPORTED (Docker Hub)', async () => {
    const s = await tokenRegistry({ anonymous: true, insufficientFor: ['registry:catalog:*'] })
    expect(await failure(client().client, images(s.url))).toMatchObject({ code: 'CATALOG_UNSUPPORTED', status: 401 })
  })

  it('a repository refused with insufficient_scope anonymously is AUTH_REQUIRED, naming both private and absent (Docker Hub "not found or no access")', async () => {
    const s = await tokenRegistry({ anonymous: true, insufficientFor: ['repository:nope/app:pull'] })
    const err = await failure(client().client, tags(s.url, 'nope/app'))
    expect(err).toMatchObject({ code: 'AUTH_REQUIRED' })
    expect(err.message).toMatch(/private/)
    expect(err.message).toMatch(/does not exist/)
  })

  it('a token the registry calls invalid is fetched again once', async () => {
    let rejected = 0
    const s = await server((req, res, url) => {
      if (url.pathname === '/token') return json(res, 200, { token: `t${Date.now()}${Math.random()}` })
      const ch = { 'www-authenticate': 'Bearer realm="/token",service="s"' }
      if (!req.headers.authorization) return json(res, 401, {}, ch)
      if (!isPing(url) && rejected++ === 0) return json(res, 401, {}, { 'www-authenticate': 'Bearer realm="/token",service="s",error="invalid_token"' })
      if (isPing(url)) json(res, 200, {})
      else json(res, 200, { tags: ['ok'] })
    })
    expect(await run(client().client, tags(s.url, 'a'))).toMatchObject({ tags: ['ok'] })
    expect(s.requests.filter((r) => r.url.startsWith('/token'))).toHaveLength(2)
  })

  it('an absolute realm on another loopback origin receives the credentials', async () => {
    const realm = await server((req, res) => {
      expect(req.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`)
      json(res, 200, { token: 'abc' })
    })
    const s = await server((req, res, url) => {
      if (req.headers.authorization !== 'Bearer abc') return json(res, 401, {}, { 'www-authenticate': `Bearer realm="${realm.url}/auth",service="x"` })
      if (isPing(url)) json(res, 200, {})
      else json(res, 200, { tags: ['t'] })
    })
    expect(await run(client().client, tags(s.url, 'a', { username: 'u', password: 'p' }))).toMatchObject({ tags: ['t'] })
    expect(realm.requests).toHaveLength(1)
    expect(new URL(realm.requests[0]!.url, realm.url).searchParams.get('account')).toBe('u')
  })
})

describe('secrets stay out of messages and logs', () => {
  it('no password, token or Authorization value appears in an error or a log line', async () => {
    const password = 'pa55-SECRET-word'
    const token = 'TOKEN-VALUE-xyz'
    const s = await server((req, res, url) => {
      if (url.pathname === '/token') return json(res, 200, { token })
      if (req.headers.authorization !== `Bearer ${token}`) return json(res, 401, {}, { 'www-authenticate': 'Bearer realm="/token",service="s"' })
      if (isPing(url)) return json(res, 200, {})
      json(res, 500, { errors: [{ code: 'UNKNOWN', message: 'broken' }] }, { link: `</v2/a/tags/list?token=${token}>; rel="next"` })
    })
    const { client: c, logs } = client()
    const err = await failure(c, tags(`http://bob:${password}@${s.host}/`, 'a'))
    const text = JSON.stringify(err.toWire()) + err.message + logs.join('\n')
    expect(err.code).toBe('SERVER_ERROR')
    expect(logs.length).toBeGreaterThan(0)
    for (const secret of [password, token, Buffer.from(`bob:${password}`).toString('base64')]) expect(text).not.toContain(secret)
  })
})

describe('reach', () => {
  it('a closed loopback port is CONNECTION_REFUSED, marked cannot-reach', async () => {
    const port = await freePort()
    const err = await failure(client().client, validate(`127.0.0.1:${port}`))
    expect(err).toMatchObject({ code: 'CONNECTION_REFUSED', cannotReach: true, retryable: true })
    expect(err.toWire()).toMatchObject({ cannotReach: true })
  })

  it('a name that does not resolve is DNS_NOT_FOUND', async () => {
    const err = await failure(client().client, validate('registry.invalid'))
    expect(err).toMatchObject({ code: 'DNS_NOT_FOUND', cannotReach: true })
  })

  it('an impossible URL is INVALID_INPUT before any request', async () => {
    const s = await server((_req, res) => json(res, 200, {}))
    const c = client().client
    expect(await failure(c, validate('ftp://127.0.0.1'))).toMatchObject({ code: 'INVALID_INPUT', retryable: false })
    expect(await failure(c, tags(s.url, 'Bad:Name'))).toMatchObject({ code: 'INVALID_INPUT' })
    expect(s.requests).toHaveLength(0)
  })

  it('HTTP_PROXY is honoured, and NO_PROXY bypasses it', async () => {
    const target = await server(pagedRegistry(['x'], { defaultPage: 10, maxPage: 1000, repository: 'a' }))
    const connects: string[] = []
    const proxy = createHttpServer()
    proxy.on('connect', (req, clientSocket: Socket, head: Buffer) => {
      connects.push(req.url ?? '')
      const [host, port] = (req.url ?? '').split(':')
      const upstream = createNetConnection(Number(port), host)
      upstream.on('connect', () => {
        clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        upstream.write(head)
        upstream.pipe(clientSocket)
        clientSocket.pipe(upstream)
      })
      upstream.on('error', () => clientSocket.destroy())
      clientSocket.on('error', () => upstream.destroy())
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise((r) => { proxy.closeAllConnections(); proxy.close(r) }))
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`

    const via = client({ proxy: { httpProxy: proxyUrl, noProxy: '' } }).client
    expect(await run(via, tags(target.url, 'a'))).toMatchObject({ tags: ['x'] })
    expect(connects).toContain(target.host)

    connects.length = 0
    const bypass = client({ proxy: { httpProxy: proxyUrl, noProxy: '127.0.0.1' } }).client
    expect(await run(bypass, tags(target.url, 'a'))).toMatchObject({ tags: ['x'] })
    expect(connects).toHaveLength(0)
  })

  it('a proxy that cannot be reached is CONNECTION_REFUSED naming the proxy', async () => {
    const port = await freePort()
    const err = await failure(client({ proxy: { httpProxy: `http://127.0.0.1:${port}` } }).client, validate('http://127.0.0.1:9'))
    expect(err).toMatchObject({ code: 'CONNECTION_REFUSED', cannotReach: true })
    expect(err.message).toMatch(/proxy/i)
  })

  it('a proxy that refuses the tunnel is marked cannot-reach', async () => {
    const proxy = createHttpServer()
    proxy.on('connect', (_req, sock: Socket) => sock.end('HTTP/1.1 403 Forbidden\r\n\r\n'))
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise((r) => { proxy.closeAllConnections(); proxy.close(r) }))
    const err = await failure(client({ proxy: { httpProxy: `http://127.0.0.1:${(proxy.address() as { port: number }).port}` } }).client, validate('http://127.0.0.1:9'))
    expect(err).toMatchObject({ code: 'CONNECTION_REFUSED', cannotReach: true })
    expect(err.message).toMatch(/proxy answered 403/)
  })

  it('plain HTTP to a TLS-only port is TLS_PROTOCOL_MISMATCH', async () => {
    // Answers like Go's net/http on a TLS port
    const raw = createNetServer((sock) => {
      sock.once('data', () => sock.end('HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n'))
    })
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise((r) => raw.close(r)))
    const err = await failure(client().client, validate(`http://127.0.0.1:${(raw.address() as { port: number }).port}`))
    expect(err).toMatchObject({ code: 'TLS_PROTOCOL_MISMATCH', cannotReach: true })
  })
})

describe('bugs are not registry failures', () => {
  it('an exception of our own inside a request is passed on as it is (the delegate answers INTERNAL), never a registry code', async () => {
    const s = await server((_req, res) => json(res, 200, {}))
    const quiet = pino({ level: 'silent' })
    // a logger that breaks after the answer has arrived: a bug in the delegate, not in the registry
    const broken = Object.assign(Object.create(quiet) as typeof quiet, {
      debug: () => {
        throw new TypeError('the logger broke')
      },
    })
    const http = new Http({ log: broken })
    cleanups.push(() => http.close())
    const err = await http.get(new URL('/v2/', s.url), { signal: AbortSignal.timeout(5_000), maxBytes: 1_000 }).then(
      () => expect.fail('expected a failure'),
      (e: unknown) => e,
    )
    expect(err).not.toBeInstanceOf(RegistryError)
    expect(err).toBeInstanceOf(TypeError)
    expect((err as Error).message).toBe('the logger broke')
  })
})
