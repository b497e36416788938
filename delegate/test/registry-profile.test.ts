/**
 * The registry profile against what real registries do but ours will not on demand: rate-limit
 * headers, a catalog that is missing, refused or failing, page sizes refused down to 100. The
 * profile never fails a validation that succeeded.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ValidateResult } from '../../protocol/src/messages.ts'
import { isPing, json, pagedRegistry, startFaultServer, type FaultServer, type Handler } from './fault-server.ts'
import { makeClient, run, validate, type TestClient } from './registry-helpers.ts'

let server: FaultServer | undefined
let tc: TestClient | undefined
afterEach(async () => {
  await tc?.client.close()
  await server?.close()
  server = tc = undefined
})

async function profileOf(handler: Handler, creds: { username?: string; password?: string } = {}) {
  server = await startFaultServer(handler)
  tc = makeClient()
  const r = (await run(tc.client, validate(server.url, creds))) as ValidateResult
  expect(r.type).toBe('validate-connector')
  return r.profile!
}

describe('registry profile', () => {
  it('carries the RateLimit headers the registry sends, as sent', async () => {
    const p = await profileOf((_req, res, url) => {
      const limits = { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600' }
      if (isPing(url)) return json(res, 200, {}, limits)
      return json(res, 200, { repositories: [] }, limits)
    })
    expect(p.rateLimit).toEqual({ limit: '100;w=21600', remaining: '76;w=21600' })
  })

  it('cuts a rate-limit header to 128 characters', async () => {
    const p = await profileOf((_req, res, url) => json(res, 200, isPing(url) ? {} : { repositories: [] }, { 'ratelimit-limit': 'x'.repeat(5000) }))
    expect(p.rateLimit).toEqual({ limit: 'x'.repeat(128), remaining: null })
  })

  it('steps the page size down to 100 and sees the Link paging', async () => {
    const repos = Array.from({ length: 250 }, (_, i) => `team/r${i}`)
    const p = await profileOf(pagedRegistry(repos, { defaultPage: 50, maxPage: 100, refuse: { status: 413 } }))
    expect(p.catalog).toBe('supported')
    expect(p.pagination).toEqual({ mode: 'link', largestPageSize: 100, steppedDown: true })
  })

  it('a registry that returns everything and ignores n pages with no Link', async () => {
    const p = await profileOf((_req, res, url) => json(res, 200, isPing(url) ? {} : { repositories: ['a/b', 'c/d', 'e/f'] }))
    expect(p.pagination).toEqual({ mode: 'none', largestPageSize: 1000, steppedDown: false })
  })

  it('a missing catalog is unsupported and one refused to these credentials forbidden', async () => {
    const missing = await profileOf((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 404, { errors: [{ code: 'UNSUPPORTED', message: 'no' }] })))
    expect(missing).toMatchObject({ catalog: 'unsupported', pagination: null })
    await server?.close()
    await tc?.client.close()
    const refused = await profileOf((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 403, { errors: [{ code: 'DENIED', message: 'no' }] })))
    expect(refused).toMatchObject({ catalog: 'forbidden', pagination: null })
  })

  it('a catalog that keeps failing leaves the validation successful', async () => {
    const p = await profileOf((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 500, { errors: [{ code: 'UNKNOWN', message: 'boom' }] })))
    expect(p).toMatchObject({ apiVersion: 'registry/2.0', catalog: 'unsupported', pagination: null })
  })

  it('a Bearer registry names its realm host and service; a token service that serves nobody means no anonymous pulls', async () => {
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`
    const p = await profileOf((req, res, url) => {
      const realm = `http://${req.headers.host}/token`
      if (url.pathname === '/token') {
        return req.headers.authorization === basic ? json(res, 200, { token: 'tok', expires_in: 300 }) : json(res, 401, { details: 'no anonymous tokens' })
      }
      if (req.headers.authorization !== 'Bearer tok') {
        return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'auth' }] }, { 'www-authenticate': `Bearer realm="${realm}",service="fault.test"` })
      }
      return json(res, 200, isPing(url) ? {} : { repositories: ['x/y'] })
    }, { username: 'u', password: 'p' })
    expect(p.auth).toEqual({ scheme: 'bearer', realmHost: server!.host, service: 'fault.test', anonymousPull: false })
  })
})
