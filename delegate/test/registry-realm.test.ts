/**
 * SPEC §7: credentials go to a token realm over plain http only when the registry itself is
 * plain http. An https registry naming an http realm gets no credentials sent anywhere.
 */
import { createServer, type Server } from 'node:https'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, startFaultServer, type FaultServer } from './fault-server.ts'
import { failure, makeClient, run, tags } from './registry-helpers.ts'
import { makePki, type Pki } from './registry-pki.ts'

let pki: Pki
let realm: FaultServer
let registry: Server
let registryUrl: string

beforeAll(async () => {
  pki = makePki()
  realm = await startFaultServer((_req, res) => json(res, 200, { token: 'anonymous-token', expires_in: 300 }))
  registry = createServer({ cert: pki.serverCertPem, key: pki.serverKeyPem }, (req, res) => {
    if (req.headers.authorization === 'Bearer anonymous-token') return json(res, 200, { name: 'app', tags: ['1.0'] })
    res.writeHead(401, {
      'www-authenticate': `Bearer realm="${realm.url}/token",service="registry",scope="repository:app:pull"`,
      'docker-distribution-api-version': 'registry/2.0',
      'content-type': 'application/json',
    })
    res.end('{"errors":[{"code":"UNAUTHORIZED"}]}')
  })
  registry.listen(0, '127.0.0.1')
  await once(registry, 'listening')
  registryUrl = `https://127.0.0.1:${(registry.address() as { port: number }).port}`
})
afterAll(async () => {
  registry?.close()
  await realm?.close()
  pki?.cleanup()
})

describe('token realm scheme', () => {
  it('an https registry whose realm is plain http gets no credentials: PROTOCOL_ERROR saying why', async () => {
    const { client } = makeClient({ caFile: pki.caFile })
    const err = await failure(client, tags(registryUrl, 'app', { username: 'alice', password: 'secret-pw' }))
    expect(err.code).toBe('PROTOCOL_ERROR')
    expect(err.message).toMatch(/plain http/)
    expect(err.message).toContain(realm.host)
    expect(realm.requests).toEqual([])
    await client.close()
  })

  it('anonymous token requests may still use it: nothing secret travels', async () => {
    const { client } = makeClient({ caFile: pki.caFile })
    expect(await run(client, tags(registryUrl, 'app'))).toMatchObject({ tags: ['1.0'] })
    expect(realm.requests.length).toBe(1)
    expect(realm.requests[0]!.headers.authorization).toBeUndefined()
    await client.close()
  })
})
