/**
 * Peers that misbehave on purpose, against real processes: a manager and a delegate must outlive
 * every one of them (SPEC §7). Each case ends with the process still running and still serving.
 */
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { PROTOCOL_VERSION } from '../protocol/src/index.ts'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { isPing, json, startFaultServer, type FaultServer, type Handler } from '../delegate/test/fault-server.ts'
import { rawWebSocket, upgradeRequest } from './raw-ws.ts'
import { waitFor } from './wait-for.ts'

let manager: Proc & { url: string }
let api: Api
let port: number

beforeAll(async () => {
  const config = managerConfig(inject('redisUrl'))
  manager = await spawnManager(config)
  api = new Api(manager.url, config.apiKey)
  port = Number(new URL(manager.url).port)
})
afterAll(async () => {
  await manager?.stop()
})

async function open(): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => undefined)
  await once(socket, 'connect')
  return socket
}

/** Resolves with the first bytes the manager answers. */
function firstAnswer(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (b: Buffer) => resolve(b.toString('latin1')))
    socket.once('close', () => resolve('(closed without an answer)'))
  })
}

async function expectManagerServing(): Promise<void> {
  expect(manager.child.exitCode).toBe(null)
  expect(manager.child.signalCode).toBe(null)
  expect((await fetch(`${manager.url}/healthz`)).status).toBe(200)
}

describe('the manager under connection resets', () => {
  it('survives a reset right after the 401 of an upgrade without a token, on any path', async () => {
    for (const path of ['/api/v1/delegates/stream', '/', '/nowhere', '/api/v1/delegates/stream?x=1']) {
      for (let i = 0; i < 5; i++) {
        const socket = await open()
        const answer = firstAnswer(socket)
        socket.write(upgradeRequest(`127.0.0.1:${port}`, path))
        expect(await answer).toMatch(/^HTTP\/1\.1 (401|404)/)
        socket.resetAndDestroy()
      }
    }
    await expectManagerServing()
  })

  it('survives resets at every stage of an upgrade with a valid token', async () => {
    const token = await api.token()
    const request = upgradeRequest(`127.0.0.1:${port}`, '/api/v1/delegates/stream', { Authorization: `Bearer ${token}` })
    // before the request ends, right after it (token check in flight), and after the 101
    for (let cut = 1; cut < request.length; cut += 17) {
      const socket = await open()
      socket.write(request.slice(0, cut))
      socket.resetAndDestroy()
    }
    for (let i = 0; i < 30; i++) {
      const socket = await open()
      socket.write(request)
      // reset at three moments: at once, after a turn of the event loop, 2 ms later (not a wait for anything)
      if (i % 3 === 1) await new Promise((r) => setImmediate(r))
      if (i % 3 === 2) await new Promise((r) => setTimeout(r, 2))
      socket.resetAndDestroy()
    }
    for (let i = 0; i < 5; i++) {
      const socket = await open()
      const answer = firstAnswer(socket)
      socket.write(request)
      expect(await answer).toMatch(/^HTTP\/1\.1 101/)
      // half a masked text frame, then the reset
      socket.write(Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x41]))
      socket.resetAndDestroy()
    }
    await expectManagerServing()
  })

  it('survives a reset in the middle of a REST request body', async () => {
    const socket = await open()
    const answer = firstAnswer(socket)
    socket.write(`POST /api/v1/connectors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n`)
    // the manager has taken the request and waits for its body
    expect(await answer).toMatch(/^HTTP\/1\.1 100 Continue/)
    socket.write('{"name":')
    socket.resetAndDestroy()
    await expectManagerServing()
  })
})

describe('close reasons', () => {
  it('a frame whose refusal would need a close reason over 123 bytes closes with 1002 and a reason cut at a character boundary', async () => {
    const token = await api.token()
    for (const hello of [false, true]) {
      const ws = new WebSocket(`${manager.url.replace(/^http/, 'ws')}/api/v1/delegates/stream`, {
        headers: { authorization: `Bearer ${token}` },
      })
      ws.on('error', () => undefined)
      await once(ws, 'open')
      if (hello) {
        ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'euro', tags: [], capacity: 1, version: 'v' }))
        await once(ws, 'message')
      }
      const closed = new Promise<{ code: number; reason: Buffer }>((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason })))
      ws.send(JSON.stringify({ type: '€'.repeat(200) }))
      const { code, reason } = await closed
      expect(code).toBe(1002)
      expect(reason.length).toBeLessThanOrEqual(123)
      expect(reason.length).toBeGreaterThan(0)
      // valid UTF-8: ws itself would have refused it otherwise, and the text round-trips
      expect(Buffer.from(reason.toString('utf8'), 'utf8').equals(reason)).toBe(true)
    }
    await expectManagerServing()
  })
})

describe('the delegate under a hostile manager', () => {
  it('outlives a frame whose refusal needs a long close reason, and dials again', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    const connections: WebSocket[] = []
    wss.on('connection', (ws) => {
      connections.push(ws)
      ws.on('error', () => undefined)
      ws.once('message', () => {
        ws.send(JSON.stringify({ type: 'welcome', protocol: PROTOCOL_VERSION, delegateId: 'x', heartbeatMs: 1000 }))
        ws.send(JSON.stringify({ type: '€'.repeat(300) }))
      })
    })
    await once(wss, 'listening')
    const url = `http://127.0.0.1:${(wss.address() as { port: number }).port}`
    const delegate = await spawnDelegate(url, 'rdt_anything', { name: 'hostile-target' })
    try {
      await delegate.waitForLine(/manager frame refused/)
      await waitFor(() => connections.length >= 2, { timeoutMs: 10_000, what: 'the delegate to dial again after refusing a frame', describe: () => `${connections.length} connection(s)` })
      expect(delegate.child.exitCode).toBe(null)
    } finally {
      wss.close()
      for (const ws of connections) ws.terminate()
      await delegate.stop('SIGTERM', 10_000)
    }
  })
})

describe('password references a connector may not use', () => {
  it('a delegate never sends its own token, environment or /dev/zero to a registry: INVALID_INPUT before any read', async () => {
    const seen: string[] = []
    const registry = await startFaultServer((req, res, url) => {
      if (req.headers.authorization) seen.push(req.headers.authorization)
      if (isPing(url) && !req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="r"', 'docker-distribution-api-version': 'registry/2.0' })
        return res.end()
      }
      return json(res, 200, {})
    })
    const token = await api.token()
    const delegate = await spawnDelegate(manager.url, token, { name: 'refs-target', tags: ['refs'] })
    try {
      for (const passwordRef of ['env:DELEGATE_TOKEN', 'file:/proc/self/environ', 'file:/dev/zero', 'env:PATH']) {
        const c = await api.ok('POST', '/api/v1/connectors', { name: 'steal', type: 'docker-registry', url: registry.url, username: 'u', passwordRef, delegateSelectors: ['refs'] })
        const started = Date.now()
        const task = await api.ok('POST', `/api/v1/connectors/${c.id}/validate?timeoutMs=20000`)
        expect(task).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'INVALID_INPUT' } })
        expect(task.error.message).toContain('DELEGATE_PASSWORD_REFS')
        expect(Date.now() - started).toBeLessThan(5_000)
      }
      expect(seen).toEqual([])
      expect(registry.requests).toEqual([])
      expect(delegate.child.exitCode).toBe(null)
    } finally {
      await delegate.stop('SIGTERM', 10_000)
      await registry.close()
    }
  })
})

describe('registry answers past what the protocol carries', () => {
  // one registry per behaviour: a long Retry-After pauses every request of the delegate to that host
  const behaviours: Record<string, Handler> = {
    forever: (_req, res) => json(res, 429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }, { 'retry-after': '9'.repeat(400) }),
    later: (_req, res) => json(res, 429, {}, { 'retry-after': '40' }),
    weird: (_req, res) => {
      res.writeHead(999, { 'docker-distribution-api-version': 'registry/2.0', 'x-long': 'h'.repeat(10_000) })
      res.end('é'.repeat(20_000))
    },
    'long-tags': (_req, res) => json(res, 200, { name: 'x', tags: ['ok', 'x'.repeat(5_000), '\u001b[31mred'] }),
    fine: (_req, res) => json(res, 200, { name: 'x', tags: ['1.0'] }),
  }
  const registries: FaultServer[] = []
  const connectors: Record<string, string> = {}
  let delegate: Proc
  beforeAll(async () => {
    delegate = await spawnDelegate(manager.url, await api.token(), { name: 'limits-target', tags: ['limits'] })
    for (const [name, handler] of Object.entries(behaviours)) {
      const registry = await startFaultServer((req, res, url) => (isPing(url) ? json(res, 200, {}) : handler(req, res, url)))
      registries.push(registry)
      connectors[name] = (await api.ok('POST', '/api/v1/connectors', { name, type: 'docker-registry', url: registry.url, delegateSelectors: ['limits'] })).id
    }
  })
  afterAll(async () => {
    await delegate?.stop('SIGTERM', 10_000)
    for (const r of registries) await r.close()
  })

  const tagsOf = (behaviour: string, timeoutMs = 10_000) => api.call('GET', `/api/v1/connectors/${connectors[behaviour]}/tags?image=x&timeoutMs=${timeoutMs}`)

  it('a Retry-After longer than the task has left ends it at once with RATE_LIMITED and retryAfterMs; the delegate stays connected', async () => {
    for (const [behaviour, retryAfterMs] of [['forever', 2 ** 31 - 1], ['later', 40_000]] as const) {
      const started = Date.now()
      const res = await tagsOf(behaviour)
      expect(res.status).toBe(502)
      expect(res.body.error.code).toBe('RATE_LIMITED')
      expect(res.body.task).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'RATE_LIMITED', retryAfterMs } })
      expect(Date.now() - started).toBeLessThan(5_000)
    }
    expect((await tagsOf('fine')).body.tags).toEqual(['1.0'])
    expect(delegate.lines.filter((l) => l.includes('manager connection closed')).join('\n')).toBe('')
  })

  it('a 999 status, a huge body and a tag longer than the decoder allows cost the delegate nothing', async () => {
    const weird = await tagsOf('weird')
    // a status past 599 is a server error, reported without the status the wire cannot carry
    expect(weird.body.task).toMatchObject({ status: 'failed', error: { code: 'SERVER_ERROR', message: expect.stringContaining('999') } })
    expect(weird.body.task.error.status).toBeUndefined()
    const long = await tagsOf('long-tags')
    expect(long.body).toMatchObject({ tags: ['ok'], skipped: 2, truncated: false, task: { attempts: 1 } })
    expect(delegate.lines.filter((l) => l.includes('manager connection closed')).join('\n')).toBe('')
    expect(manager.lines.filter((l) => l.includes('limits-target') && /frame refused|disconnected/.test(l)).join('\n')).toBe('')
  })
})

describe('revoked tokens', () => {
  it('a peer that never answers the close is cut within 5 s, out of dispatch at once, and its frames after revocation are ignored', async () => {
    const registry = await startFaultServer((_req, res, url) => (isPing(url) ? json(res, 200, {}) : json(res, 200, { name: 'app', tags: ['genuine'] })))
    const token = await api.ok('POST', '/api/v1/delegate-tokens', { name: 'to-revoke' })
    const peer = await rawWebSocket(port, '/api/v1/delegates/stream', { Authorization: `Bearer ${token.token}` })
    let honest: Proc | undefined
    try {
      peer.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'deaf', tags: ['revoke'], capacity: 1, version: 'v' }))
      await peer.next(/"welcome"/)
      const c = await api.ok('POST', '/api/v1/connectors', { name: 'revoke', type: 'docker-registry', url: registry.url, delegateSelectors: ['revoke'] })
      const task = await api.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: c.id, image: 'app', timeoutMs: 30_000 })
      const assign = JSON.parse(await peer.next(/"task.assign"/)) as { taskId: string; attemptId: string }
      expect(assign.taskId).toBe(task.id)

      const revokedAt = Date.now()
      expect((await api.call('DELETE', `/api/v1/delegate-tokens/${token.id}`)).status).toBe(204)
      // out of dispatch at once: the task is back to waiting, no longer on "deaf"
      // (the DELETE answers once the token is gone; the attempt ends a moment later, on the socket's owner)
      const waiting = await waitFor(
        async () => {
          const view = await api.ok('GET', `/api/v1/tasks/${task.id}`)
          return view.status === 'queued' ? view : false
        },
        { timeoutMs: 2_000, what: 'the revoked delegate to lose its task' },
      )
      expect(waiting.selectionLog.map((l: { message: string }) => l.message).join('\n')).toMatch(/deaf lost .*revoked/)
      // a forged answer after revocation changes nothing
      peer.send(JSON.stringify({ type: 'task.result', taskId: assign.taskId, attemptId: assign.attemptId, outcome: { ok: true, result: { type: 'list-tags', image: 'app', tags: ['forged'], truncated: false } } }))
      await peer.ended
      expect(Date.now() - revokedAt).toBeLessThan(5_000)
      expect(peer.closes).toEqual([4001])

      honest = await spawnDelegate(manager.url, await api.token(), { name: 'honest', tags: ['revoke'] })
      const done = await api.ok('GET', `/api/v1/tasks/${task.id}?waitMs=20000`)
      expect(done).toMatchObject({ status: 'succeeded', delegate: { name: 'honest' }, result: { tags: ['genuine'] } })
    } finally {
      peer.socket.destroy()
      await honest?.stop('SIGTERM', 10_000)
      await registry.close()
    }
  })
})
