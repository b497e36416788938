/**
 * docker-compose.yml's one-shot `bootstrap` service: what a person would otherwise do by hand
 * between starting the manager and starting the delegates.
 *
 * 1. Delegate token: creates one through the API (`POST /api/v1/delegate-tokens`) and writes it
 *    to TOKEN_FILE, a volume the delegates read through DELEGATE_TOKEN_FILE. On a later
 *    `up` the token is kept while the manager still knows its id (TOKEN_FILE.id).
 * 2. Demo registry (when DEMO_REGISTRY_URL is set): pushes a few small images to it, and creates
 *    the connector "Demo registry" unless one of that name exists.
 *
 * Runs in the manager image, bundled with test/seed-registry.ts as compose-bootstrap.mjs
 * (scripts/build.ts); `node deploy/compose/bootstrap.ts` runs it from the sources.
 * Never prints the token.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

const env = process.env
const managerUrl = (env.MANAGER_URL ?? 'http://manager:8080').replace(/\/+$/, '')
const apiKey = env.MANAGER_API_KEY ?? ''
const tokenFile = env.TOKEN_FILE ?? '/run/registry-delegates/delegate-token'
const tokenName = env.TOKEN_NAME ?? 'docker-compose'
const demoRegistry = env.DEMO_REGISTRY_URL ?? ''
const say = (line: string) => process.stdout.write(`bootstrap: ${line}\n`)

async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(managerUrl + path, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as T
}

async function waitFor(what: string, url: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    const status = await fetch(url, { signal: AbortSignal.timeout(3_000) }).then(
      (r) => r.status,
      () => 0,
    )
    if (status === 200) return
    if (Date.now() > until) throw new Error(`${what} at ${url} did not answer 200 within ${ms / 1000} s (last status ${status || 'none'})`)
    await sleep(500)
  }
}

async function ensureToken(): Promise<void> {
  const idFile = `${tokenFile}.id`
  if (existsSync(tokenFile) && existsSync(idFile)) {
    const id = readFileSync(idFile, 'utf8').trim()
    const { tokens } = await api<{ tokens: { id: string }[] }>('GET', '/api/v1/delegate-tokens')
    if (tokens.some((t) => t.id === id)) {
      say(`delegate token ${id} still valid; kept ${tokenFile}`)
      return
    }
    say(`delegate token ${id} is gone (revoked, or Redis was reset); creating another`)
  }
  const { id, token } = await api<{ id: string; token: string }>('POST', '/api/v1/delegate-tokens', { name: tokenName })
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
  writeFileSync(idFile, `${id}\n`)
  say(`delegate token ${id} written to ${tokenFile}`)
}

async function seedDemo(): Promise<void> {
  await waitFor('the demo registry', `${demoRegistry}/v2/`)
  // test/seed-registry.ts is mounted next to this file by docker-compose.yml (not in the image)
  const { seedRepository } = await import('../../test/seed-registry.ts')
  await seedRepository(demoRegistry, 'demo/web', ['1.0.0', '1.1.0', '1.2.0', '2.0.0-rc.1', 'latest'])
  await seedRepository(demoRegistry, 'demo/worker', ['0.9.0', '1.0.0', 'latest'])
  await seedRepository(demoRegistry, 'library/alpine', ['3.19', '3.20', '3.21', 'latest'])
  say(`demo registry ${demoRegistry} holds demo/web, demo/worker, library/alpine`)
  const { connectors } = await api<{ connectors: { name: string }[] }>('GET', '/api/v1/connectors')
  if (connectors.some((c) => c.name === 'Demo registry')) return
  const c = await api<{ id: string }>('POST', '/api/v1/connectors', { name: 'Demo registry', type: 'docker-registry', url: demoRegistry })
  say(`connector "Demo registry" created: ${c.id}`)
}

if (!apiKey) {
  process.stderr.write('bootstrap: MANAGER_API_KEY is required\n')
  process.exit(2)
}
await waitFor('the manager', `${managerUrl}/readyz`)
await ensureToken()
if (demoRegistry) await seedDemo()
