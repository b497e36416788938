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

function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ]
  return `${lines.join('\r\n')}\r\n\r\n`
}

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
        socket.write(upgradeRequest(path))
        expect(await answer).toMatch(/^HTTP\/1\.1 (401|404)/)
        socket.resetAndDestroy()
      }
    }
    await expectManagerServing()
  })

  it('survives resets at every stage of an upgrade with a valid token', async () => {
    const token = await api.token()
    const request = upgradeRequest('/api/v1/delegates/stream', { Authorization: `Bearer ${token}` })
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
