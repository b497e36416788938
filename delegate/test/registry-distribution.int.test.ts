/**
 * The registry client against real CNCF distribution 2.8 (`registry:2`) in four configurations:
 * anonymous, htpasswd Basic, token auth (a token server of this suite signing RS256 JWTs with an
 * x5c chain the registry trusts), and TLS with a CA made for the test. Each block starts its own
 * registry, so nothing here depends on the shared global setup.
 */
import { X509Certificate } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ValidateResult } from '../../protocol/src/messages.ts'
import { freePort, startRegistry, type Started } from '../../test/containers.ts'
import { seedRepository } from '../../test/seed-registry.ts'
import { makePki, type Pki } from './registry-pki.ts'
import { startTokenServer, TOKEN_ISSUER, TOKEN_SERVICE, type Policy, type TokenServer } from './registry-token-server.ts'
import { failure, images, makeClient, range, run, tags, validate, type TestClient } from './registry-helpers.ts'

const TAG_COUNT = 1500

describe('anonymous distribution', () => {
  let reg: Started
  let url: string
  let tc: TestClient
  const tagList = [...range(TAG_COUNT, '1.'), 'latest', 'Z', 'a_b', 'a-b', 'a.b']
  const repos = range(45, 'repo').map((r) => `team/${r}`)

  beforeAll(async () => {
    // A small catalog page cap makes distribution refuse n=1000 and n=100 (PAGINATION_NUMBER_INVALID)
    reg = await startRegistry({ env: { REGISTRY_CATALOG_MAXENTRIES: '20' } })
    url = `http://${reg.hostPort}`
    await seedRepository(url, 'demo/app', tagList)
    await Promise.all(repos.map((r) => seedRepository(url, r, ['v1'], { concurrency: 1 })))
    tc = makeClient()
  })
  afterAll(async () => {
    await tc?.client.close()
    await reg?.container.stop()
  })

  it('validation reports the API version and no auth', async () => {
    expect(await run(tc.client, validate(reg.hostPort))).toMatchObject({
      type: 'validate-connector',
      url,
      apiVersion: 'registry/2.0',
      authScheme: 'none',
    })
  })

  it('profiles the registry: anonymous, catalog paged by Link only without n (n=1000 and n=100 refused)', async () => {
    const r = (await run(tc.client, validate(reg.hostPort))) as ValidateResult
    expect(r.profile).toEqual({
      apiVersion: 'registry/2.0',
      auth: { scheme: 'none', realmHost: null, service: null, anonymousPull: true },
      catalog: 'supported',
      pagination: { mode: 'link', largestPageSize: null, steppedDown: true },
      rateLimit: null,
      tls: null,
    })
  })

  it('a /v2/ or /v1/ URL is normalised to the registry', async () => {
    expect(await run(tc.client, validate(`${url}/v1/`))).toMatchObject({ url, authScheme: 'none' })
    expect(await run(tc.client, validate(`${url}/v2/`))).toMatchObject({ url })
  })

  it('lists every tag, sorted in code-point order', async () => {
    const r = await run(tc.client, tags(url, 'demo/app'))
    expect(r).toEqual({ type: 'list-tags', image: 'demo/app', tags: [...tagList].sort(), truncated: false, skipped: 0 })
  })

  it('lists the whole catalog, stepping the page size down until distribution accepts it', async () => {
    const r = await run(tc.client, images(url))
    expect(r).toEqual({ type: 'list-images', images: ['demo/app', ...repos].sort(), truncated: false, skipped: 0 })
    const logs = tc.logs.join('\n')
    expect(logs).toContain('registry refused the page size')
  })

  it('a namespace path in the URL limits the catalog to it and prefixes image names', async () => {
    expect(await run(tc.client, images(`${url}/team`))).toMatchObject({ images: [...repos].sort() })
    expect(await run(tc.client, tags(`${url}/team`, 'repo7'))).toMatchObject({ image: 'team/repo7', tags: ['v1'] })
  })

  it('an unknown repository is NAME_UNKNOWN with the registry error', async () => {
    const err = await failure(tc.client, tags(url, 'no/such'))
    expect(err).toMatchObject({ code: 'NAME_UNKNOWN', status: 404, retryable: false })
    expect(err.registryErrors).toEqual([expect.objectContaining({ code: 'NAME_UNKNOWN' })])
    expect(err.toWire()).toMatchObject({ code: 'NAME_UNKNOWN', status: 404, url: `${url}/v2/no/such/tags/list?n=1000` })
  })

  it('https to the plain-HTTP port is TLS_PROTOCOL_MISMATCH', async () => {
    expect(await failure(tc.client, validate(`https://${reg.hostPort}`))).toMatchObject({ code: 'TLS_PROTOCOL_MISMATCH', cannotReach: true })
  })

  it('a closed port is CONNECTION_REFUSED and an unknown name DNS_NOT_FOUND', async () => {
    expect(await failure(tc.client, validate(`127.0.0.1:${await freePort()}`))).toMatchObject({ code: 'CONNECTION_REFUSED', cannotReach: true })
    expect(await failure(tc.client, validate('https://registry.invalid'))).toMatchObject({ code: 'DNS_NOT_FOUND', cannotReach: true })
  })
})

// bcrypt hashes (htpasswd -nbB) of the test passwords below
const HTPASSWD = [
  'alice:$2y$05$E6R/NrtEnfZh/wEcsbP6Ve95AHlXGIqdW3SGXw0bCCDjk3HIxr6kW', // alice-secret-1
  'bob:$2y$05$wdSFIUnPwRX8FTxS8e0Dr.u3F7cxFye0qlVlXa03dQnaKyM3Wv8O.', // bob-secret-2
].join('\n')

describe('htpasswd (Basic) distribution', () => {
  let reg: Started
  let url: string
  let tc: TestClient
  const alice = { username: 'alice', password: 'alice-secret-1' }

  beforeAll(async () => {
    reg = await startRegistry({
      env: {
        REGISTRY_AUTH: 'htpasswd',
        REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm',
        REGISTRY_AUTH_HTPASSWD_PATH: '/etc/docker/registry/htpasswd',
      },
      files: { '/etc/docker/registry/htpasswd': `${HTPASSWD}\n` },
    })
    url = `http://${reg.hostPort}`
    await seedRepository(url, 'private/app', ['2', '10', '1'], alice)
    await seedRepository(url, 'private/other', ['1'], alice)
    tc = makeClient()
  })
  afterAll(async () => {
    await tc?.client.close()
    await reg?.container.stop()
  })

  it('valid credentials validate with the basic scheme', async () => {
    expect(await run(tc.client, validate(url, alice))).toMatchObject({ authScheme: 'basic', apiVersion: 'registry/2.0' })
    expect(await run(tc.client, validate(url, { username: 'bob', password: 'bob-secret-2' }))).toMatchObject({ authScheme: 'basic' })
  })

  it('profiles the registry: Basic auth, no anonymous pulls, a catalog that takes n=1000 and links pages', async () => {
    const r = (await run(tc.client, validate(url, alice))) as ValidateResult
    expect(r.profile).toEqual({
      apiVersion: 'registry/2.0',
      auth: { scheme: 'basic', realmHost: null, service: null, anonymousPull: false },
      catalog: 'supported',
      pagination: { mode: 'link', largestPageSize: 1000, steppedDown: false },
      rateLimit: null,
      tls: null,
    })
  })

  it('no credentials is AUTH_REQUIRED', async () => {
    expect(await failure(tc.client, validate(url))).toMatchObject({ code: 'AUTH_REQUIRED', status: 401, retryable: false, cannotReach: false })
    expect(await failure(tc.client, tags(url, 'private/app'))).toMatchObject({ code: 'AUTH_REQUIRED' })
  })

  it('a wrong password is INVALID_CREDENTIALS and is not echoed', async () => {
    const err = await failure(tc.client, validate(url, { username: 'alice', password: 'not-her-password' }))
    expect(err).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401 })
    expect(JSON.stringify(err.toWire())).not.toContain('not-her-password')
    expect(tc.logs.join('\n')).not.toContain('not-her-password')
  })

  it('lists tags and images with credentials, also when they come in the URL', async () => {
    expect(await run(tc.client, tags(url, 'private/app', alice))).toMatchObject({ tags: ['1', '10', '2'] })
    const withUserinfo = `http://alice:alice-secret-1@${reg.hostPort}/`
    expect(await run(tc.client, images(withUserinfo))).toMatchObject({ images: ['private/app', 'private/other'] })
    expect(await run(tc.client, validate(withUserinfo))).toMatchObject({ url, authScheme: 'basic' })
  })
})

describe('token-auth distribution', () => {
  let pki: Pki
  let tokens: TokenServer
  let reg: Started
  let url: string
  let tc: TestClient
  const alice = { username: 'alice', password: 'alice-token-pw' }
  const bob = { username: 'bob', password: 'bob-token-pw' }
  const pullPublic: Policy = (type, name, actions) => (type === 'repository' && name.startsWith('public/') ? actions.filter((a) => a === 'pull') : [])

  beforeAll(async () => {
    pki = makePki()
    tokens = await startTokenServer(
      pki,
      {
        alice: { password: alice.password, policy: (_t, _n, actions) => actions },
        bob: { password: bob.password, policy: pullPublic },
        carol: { password: 'carol-pw', policy: pullPublic, forbidden: true },
      },
      pullPublic,
    )
    reg = await startRegistry({
      env: {
        REGISTRY_AUTH: 'token',
        REGISTRY_AUTH_TOKEN_REALM: tokens.realm,
        REGISTRY_AUTH_TOKEN_SERVICE: TOKEN_SERVICE,
        REGISTRY_AUTH_TOKEN_ISSUER: TOKEN_ISSUER,
        REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: '/etc/docker/registry/token-root.pem',
      },
      files: { '/etc/docker/registry/token-root.pem': pki.caPem },
    })
    url = `http://${reg.hostPort}`
    await seedRepository(url, 'public/app', range(300, 'p'), alice)
    await seedRepository(url, 'private/app', ['x', 'y'], alice)
    tc = makeClient()
  })
  afterAll(async () => {
    await tc?.client.close()
    await reg?.container.stop()
    await tokens?.close()
    pki?.cleanup()
  })

  it('validates anonymously and with credentials through the token flow', async () => {
    expect(await run(tc.client, validate(url))).toMatchObject({ authScheme: 'bearer', apiVersion: 'registry/2.0' })
    expect(await run(tc.client, validate(url, alice))).toMatchObject({ authScheme: 'bearer' })
  })

  it('profiles the registry: the token realm and service, anonymous pulls, the catalog as each user sees it', async () => {
    const realmHost = new URL(tokens.realm).host
    const withAlice = (await run(tc.client, validate(url, alice))) as ValidateResult
    expect(withAlice.profile).toEqual({
      apiVersion: 'registry/2.0',
      auth: { scheme: 'bearer', realmHost, service: TOKEN_SERVICE, anonymousPull: true },
      catalog: 'supported',
      pagination: { mode: 'link', largestPageSize: 1000, steppedDown: false },
      rateLimit: null,
      tls: null,
    })
    const withBob = (await run(tc.client, validate(url, bob))) as ValidateResult
    expect(withBob.profile).toMatchObject({ auth: { scheme: 'bearer', realmHost, anonymousPull: true }, catalog: 'forbidden', pagination: null })
    const anonymous = (await run(tc.client, validate(url))) as ValidateResult
    expect(anonymous.profile).toMatchObject({ auth: { anonymousPull: true }, catalog: 'forbidden' })
  })

  it('a wrong password is INVALID_CREDENTIALS (the token endpoint says 401)', async () => {
    expect(await failure(tc.client, validate(url, { username: 'alice', password: 'nope' }))).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401 })
  })

  it('a user the token service refuses is ACCESS_DENIED', async () => {
    expect(await failure(tc.client, validate(url, { username: 'carol', password: 'carol-pw' }))).toMatchObject({ code: 'ACCESS_DENIED', status: 403 })
  })

  it('anonymous tokens list public tags; a private repository is AUTH_REQUIRED ("private, or it does not exist")', async () => {
    const r = await run(tc.client, tags(url, 'public/app'))
    expect((r as { tags: string[] }).tags).toEqual(range(300, 'p').sort())
    expect(await failure(tc.client, tags(url, 'private/app'))).toMatchObject({ code: 'AUTH_REQUIRED', status: 401, message: expect.stringMatching(/private.*does not exist/) })
  })

  it('credentials without pull rights are ACCESS_DENIED', async () => {
    expect(await failure(tc.client, tags(url, 'private/app', bob))).toMatchObject({ code: 'ACCESS_DENIED', status: 401 })
  })

  it('the catalog needs registry:catalog:*: CATALOG_UNSUPPORTED without it, the list with it', async () => {
    expect(await failure(tc.client, images(url))).toMatchObject({ code: 'CATALOG_UNSUPPORTED' })
    expect(await failure(tc.client, images(url, bob))).toMatchObject({ code: 'CATALOG_UNSUPPORTED' })
    expect(await run(tc.client, images(url, alice))).toEqual({ type: 'list-images', images: ['private/app', 'public/app'], truncated: false, skipped: 0 })
  })

  it('reuses cached tokens across tasks', async () => {
    await run(tc.client, tags(url, 'private/app', alice))
    const before = tokens.issued()
    for (let i = 0; i < 5; i++) expect(await run(tc.client, tags(url, 'private/app', alice))).toMatchObject({ tags: ['x', 'y'] })
    expect(tokens.issued()).toBe(before)
  })

  it('no password or token reaches a log line', async () => {
    const text = tc.logs.join('\n')
    expect(text).not.toContain(alice.password)
    expect(text).not.toMatch(/eyJ[\w-]{20,}/) // a JWT
  })
})

describe('TLS distribution', () => {
  let pki: Pki
  let reg: Started
  let url: string

  beforeAll(async () => {
    pki = makePki()
    reg = await startRegistry({
      env: {
        REGISTRY_HTTP_TLS_CERTIFICATE: '/etc/docker/registry/server.pem',
        REGISTRY_HTTP_TLS_KEY: '/etc/docker/registry/server.key',
      },
      files: { '/etc/docker/registry/server.pem': pki.serverCertPem, '/etc/docker/registry/server.key': pki.serverKeyPem },
    })
    url = `https://${reg.hostPort}`
    await seedRepository(url, 'secure/app', ['a', 'b'], { ca: pki.caPem })
  })
  afterAll(async () => {
    await reg?.container.stop()
    pki?.cleanup()
  })

  it('trusts the registry with its CA in REGISTRY_CA_FILE', async () => {
    const tc = makeClient({ caFile: pki.caFile })
    try {
      expect(await run(tc.client, validate(url))).toMatchObject({ type: 'validate-connector', url, apiVersion: 'registry/2.0', authScheme: 'none' })
      expect(await run(tc.client, tags(url, 'secure/app'))).toMatchObject({ tags: ['a', 'b'] })
    } finally {
      await tc.client.close()
    }
  })

  it('profiles the certificate: protocol, issuer, subject and the days until it expires', async () => {
    const tc = makeClient({ caFile: pki.caFile })
    try {
      const r = (await run(tc.client, validate(url))) as ValidateResult
      const notAfter = new X509Certificate(pki.serverCertPem).validToDate
      expect(r.profile?.tls).toEqual({
        protocol: 'TLSv1.3',
        issuer: 'CN=registry-delegates test CA',
        subject: 'CN=127.0.0.1',
        notAfter: notAfter.toISOString(),
        daysUntilExpiry: Math.floor((notAfter.getTime() - Date.now()) / 86_400_000),
      })
      expect(r.profile?.tls?.daysUntilExpiry).toBe(1) // the test CA signs for two days
    } finally {
      await tc.client.close()
    }
  })

  it('a delegate behind a proxy leaves the certificate out rather than go around the proxy', async () => {
    const tc = makeClient({ caFile: pki.caFile, proxy: { httpsProxy: `http://127.0.0.1:${await freePort()}`, noProxy: '127.0.0.1' } })
    try {
      const r = (await run(tc.client, validate(url))) as ValidateResult
      expect(r.profile).toMatchObject({ catalog: 'supported', tls: null })
    } finally {
      await tc.client.close()
    }
  })

  it('without the CA it is TLS_UNTRUSTED, with a hint to REGISTRY_CA_FILE', async () => {
    const tc = makeClient()
    try {
      const err = await failure(tc.client, validate(url))
      expect(err).toMatchObject({ code: 'TLS_UNTRUSTED', cannotReach: true, retryable: true })
      expect(err.message).toContain('REGISTRY_CA_FILE')
    } finally {
      await tc.client.close()
    }
  })

  it('plain http to the TLS port is TLS_PROTOCOL_MISMATCH', async () => {
    const tc = makeClient({ caFile: pki.caFile })
    try {
      expect(await failure(tc.client, validate(`http://${reg.hostPort}`))).toMatchObject({ code: 'TLS_PROTOCOL_MISMATCH', cannotReach: true })
    } finally {
      await tc.client.close()
    }
  })
})
