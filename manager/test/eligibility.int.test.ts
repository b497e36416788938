/**
 * POST /api/v1/delegates/eligible (SPEC §8): every kind of ineligibility shows up with its reason,
 * the pick follows SPEC §4, and nothing is queued. Real manager, real delegates over WebSocket.
 */
import { once } from 'node:events'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { WebSocket } from 'ws'
import { PROTOCOL_VERSION, type TaskResult } from '../../protocol/src/index.ts'
import type { Delegate, TaskRunner } from '../../delegate/src/delegate.ts'
import { RegistryError } from '../../delegate/src/registry/errors.ts'
import { startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'
import { waitFor } from '../../test/wait-for.ts'

const cleanup: (() => Promise<unknown>)[] = []
let m: TestManager
let token: string

beforeAll(async () => {
  m = await startTestManager(inject('redisUrl'), { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1_500 })
  token = await m.api.token()
})
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})
afterAll(async () => {
  await m.close()
})

const answer = (image = 'x'): TaskResult => ({ type: 'list-tags', image, tags: ['1'], truncated: false })

async function delegate(name: string, runner: TaskRunner, o: { tags?: string[]; capacity?: number } = {}): Promise<Delegate> {
  const d = await startTestDelegate(m.url, token, { name, runner, ...o })
  cleanup.push(() => d.close())
  return d
}

/** A socket that says hello and then, as asked, heartbeats, drains or stays silent. */
async function raw(name: string, tags: string[], behave: 'beat' | 'drain' | 'silent'): Promise<WebSocket> {
  const ws = new WebSocket(`${m.url.replace(/^http/, 'ws')}/api/v1/delegates/stream`, { headers: { authorization: `Bearer ${token}` } })
  ws.on('error', () => undefined)
  await once(ws, 'open')
  ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name, tags, capacity: 2, version: 'raw' }))
  await once(ws, 'message')
  if (behave !== 'silent') {
    const beat = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', active: [] })), 200)
    ws.once('close', () => clearInterval(beat))
  }
  if (behave === 'drain') ws.send(JSON.stringify({ type: 'drain' }))
  cleanup.push(async () => ws.terminate())
  return ws
}

const eligible = (body: Record<string, unknown>) => m.api.call('POST', '/api/v1/delegates/eligible', body)
const byName = (answer: { delegates: { name: string }[] }, name: string): any => answer.delegates.find((d) => d.name === name)

/** Polls `get` until `ok` holds (bounded; the error shows what was last seen). */
async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  let last: T | undefined
  return waitFor(
    async () => {
      last = await get()
      return ok(last) ? { v: last } : false
    },
    { timeoutMs: ms, what, describe: () => last },
  ).then(({ v }) => v)
}

describe('eligibility preview', () => {
  it('names every reason a delegate is not eligible, and the one that would be picked', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>((r) => (release = r))
    cleanup.push(async () => release())
    await delegate('ok-eu', { run: async () => answer(), close: async () => {} }, { tags: ['eu'] })
    await delegate('us-only', { run: async () => answer(), close: async () => {} }, { tags: ['us'] })
    await delegate('busy-eu', { run: async () => (await held, answer()), close: async () => {} }, { tags: ['eu', 'busy'], capacity: 1 })
    await delegate('far-eu', { run: async () => Promise.reject(new RegistryError('CONNECTION_REFUSED', 'refused')), close: async () => {} }, { tags: ['eu', 'far'] })
    await raw('draining-eu', ['eu'], 'drain')
    await raw('silent-eu', ['eu'], 'silent')
    const gone = await delegate('gone-eu', { run: async () => answer(), close: async () => {} }, { tags: ['eu'] })
    await gone.close()

    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'registry.example.com', delegateSelectors: ['eu'] })
    // fill busy-eu's only slot, and let far-eu fail to reach the registry once
    const busyTask = await m.api.ok('POST', '/api/v1/tasks', { type: 'list-tags', image: 'x', connectorId: c.id, delegateSelectors: ['busy'] })
    await m.api.waitForStatus(busyTask.id, 'running')
    const farTask = await m.api.ok('POST', '/api/v1/tasks', { type: 'list-tags', image: 'x', connectorId: c.id, delegateSelectors: ['far'], timeoutMs: 1_000 })
    await m.api.ok('GET', `/api/v1/tasks/${farTask.id}?waitMs=5000`)

    // silent-eu stops heart-beating: SILENT until the gateway's next silence check drops it, then DISCONNECTED
    const res = await until('silent-eu not eligible', () => eligible({ connectorId: c.id }), (r) => byName(r.body, 'silent-eu')?.eligible === false)
    expect(res.status).toBe(200)
    const a = res.body
    expect(a).toMatchObject({ registryHost: 'registry.example.com', selectors: ['eu'] })
    expect(byName(a, 'ok-eu')).toMatchObject({ eligible: true, connected: true, reasons: [] })
    expect(byName(a, 'us-only')).toMatchObject({ eligible: false, reasons: [{ code: 'MISSING_SELECTORS', selectors: ['eu'] }] })
    expect(byName(a, 'busy-eu')).toMatchObject({ eligible: false, reasons: [{ code: 'NO_FREE_SLOT', active: 1, capacity: 1 }] })
    expect(byName(a, 'far-eu')).toMatchObject({ eligible: false, reasons: [{ code: 'CANNOT_REACH', error: 'CONNECTION_REFUSED', until: expect.any(String) }] })
    expect(byName(a, 'draining-eu')).toMatchObject({ eligible: false, reasons: [{ code: 'DRAINING' }] })
    const silent = byName(a, 'silent-eu')
    expect(silent.eligible).toBe(false)
    expect(silent.reasons).toContainEqual(silent.connected ? { code: 'SILENT', lastHeartbeatAt: expect.any(String) } : { code: 'DISCONNECTED' })
    expect(byName(a, 'gone-eu')).toMatchObject({ eligible: false, connected: false, reasons: [{ code: 'DISCONNECTED' }] })
    expect(a.pick).toMatchObject({ name: 'ok-eu', via: 'round-robin', why: expect.stringMatching(/round robin among 1 eligible/) })
    expect(a.waiting).toBe(null)
    // a task's own selectors narrow it further: nobody has both
    const narrowed = (await eligible({ connectorId: c.id, delegateSelectors: ['us'] })).body
    expect(narrowed.pick).toBe(null)
    expect(narrowed.waiting).toMatch(/no connected delegate has selectors \[eu, us\]/)
  })

  it('previews a connector not saved yet, and prefers the history delegate of a saved one', async () => {
    await delegate('h-a', { run: async () => answer(), close: async () => {} }, { tags: ['lab'] })
    await delegate('h-b', { run: async () => answer(), close: async () => {} }, { tags: ['lab'] })
    const unsaved = await eligible({ url: 'new-registry.example.com:5000', delegateSelectors: ['LAB '], taskSelectors: ['h-b'] })
    expect(unsaved.status).toBe(200)
    expect(unsaved.body).toMatchObject({ registryHost: 'new-registry.example.com:5000', selectors: ['h-b', 'lab'], pick: { name: 'h-b' } })
    expect(byName(unsaved.body, 'h-a').reasons).toEqual([{ code: 'MISSING_SELECTORS', selectors: ['h-b'] }])

    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'h', type: 'docker-registry', url: 'registry.example.com', delegateSelectors: ['lab'] })
    const { id } = await m.api.ok('POST', '/api/v1/tasks', { type: 'list-tags', image: 'x', connectorId: c.id })
    const done = await m.api.ok('GET', `/api/v1/tasks/${id}?waitMs=5000`)
    const preview = (await eligible({ connectorId: c.id })).body
    expect(preview.pick).toMatchObject({ name: done.delegate.name, via: 'history' })
  })

  it('refuses what cannot be previewed, naming the field, and queues nothing', async () => {
    const before = (await m.api.ok('GET', '/api/v1/tasks?limit=500')).tasks.length
    for (const [body, field] of [
      [{}, /connectorId .* or url/],
      [{ connectorId: 'nope' }, /body\/connectorId/],
      [{ url: 'ftp://x' }, /body\/url/],
      [{ url: 'x.example.com', connectorId: 'y' }, /either connectorId/],
      [{ url: 'x.example.com', bogus: 1 }, /bogus|additional/],
    ] as const) {
      const res = await eligible(body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(field) })
    }
    expect((await m.api.ok('GET', '/api/v1/tasks?limit=500')).tasks.length).toBe(before)
  })
})

describe('eligibility probe', () => {
  it('asks each eligible delegate, on this replica and on another, whether it reaches the registry', async () => {
    const { RegistryClient } = await import('../../delegate/src/registry/client.ts')
    const { freePort } = await import('../../test/containers.ts')
    const other = await startTestManager(inject('redisUrl'), { queuePrefix: m.config.queuePrefix, apiKey: m.config.apiKey })
    cleanup.push(() => other.close())
    const log = (await import('../../test/harness.ts')).testLog()
    // one delegate reaches the registry directly; the other only through a proxy that is not there
    const closed = await freePort()
    const can = await startTestDelegate(m.url, token, { name: 'probe-can', tags: ['probe'], runner: new RegistryClient({ log }) })
    cleanup.push(() => can.close())
    const cannot = await startTestDelegate(other.url, token, {
      name: 'probe-cannot',
      tags: ['probe'],
      runner: new RegistryClient({ log, proxy: { httpProxy: `http://127.0.0.1:${closed}`, httpsProxy: `http://127.0.0.1:${closed}` } }),
    })
    cleanup.push(() => cannot.close())
    await until('both known to the first replica', async () => [...m.dispatcher.fleet.values()].map((d) => d.name), (names) => names.includes('probe-cannot'))

    const res = await eligible({ url: inject('registryHostPort'), delegateSelectors: ['probe'], probe: true })
    expect(res.status).toBe(200)
    expect(byName(res.body, 'probe-can')).toMatchObject({ eligible: true, probe: { reachable: true, status: 200, latencyMs: expect.any(Number) } })
    expect(byName(res.body, 'probe-cannot')).toMatchObject({ eligible: true, replica: other.replicaId, probe: { reachable: false, code: 'CONNECTION_REFUSED', message: expect.any(String) } })
    // without probe: no matrix, nothing asked
    expect(byName((await eligible({ url: inject('registryHostPort'), delegateSelectors: ['probe'] })).body, 'probe-can').probe).toBeUndefined()
  })
})
