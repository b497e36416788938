/**
 * The delegate WebSocket as an attacker sees it: upgrades without a valid token, revoked tokens,
 * hundreds of malformed frames on authenticated sockets, forged results. Real manager, real ws.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { pino } from 'pino'
import { WebSocket } from 'ws'
import { PROTOCOL_VERSION, type TaskResult, type TaskSpec } from '../../protocol/src/index.ts'
import type { Delegate, TaskRunner } from '../../delegate/src/delegate.ts'
import { startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'
import { Prng } from '../../test/prng.ts'
import { rawWebSocket } from '../../test/raw-ws.ts'
import { scriptedRegistry } from '../../test/scripted-runner.ts'
import { waitFor } from '../../test/wait-for.ts'

const cleanup: (() => Promise<unknown>)[] = []
let m: TestManager

beforeAll(async () => {
  m = await startTestManager(inject('redisUrl'), { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 3_000 })
})
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})
afterAll(async () => {
  await m.close()
})

const streamUrl = (base = m.url) => `${base.replace(/^http/, 'ws')}/api/v1/delegates/stream`

/** The answer to an upgrade: 101 when it opened, else the HTTP status (and whether any frame came). */
async function upgrade(headers: Record<string, string>, base = m.url): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(streamUrl(base), { headers })
  return new Promise((resolve) => {
    ws.on('unexpected-response', (req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => {
        req.destroy()
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
    ws.on('open', () => {
      ws.terminate()
      resolve({ status: 101, body: '' })
    })
    ws.on('error', () => undefined)
  })
}

/** An authenticated socket; with `name`, it has said hello and been welcomed. */
async function rawDelegate(token: string, name?: string, base = m.url): Promise<WebSocket> {
  const ws = new WebSocket(streamUrl(base), { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false })
  ws.on('error', () => undefined)
  await once(ws, 'open')
  if (name !== undefined) {
    const welcomed = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        if ((JSON.parse(data.toString()) as { type: string }).type === 'welcome') resolve()
      }),
    )
    ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name, tags: ['raw'], capacity: 1, version: 'raw' }))
    await welcomed
    // stay alive past the manager's heartbeat timeout, like a delegate
    const beat = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', active: [] })), 300)
    ws.once('close', () => clearInterval(beat))
  }
  return ws
}

function closeCode(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('already closed'))
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)))
}

async function decodeFailures(): Promise<number> {
  const text = await (await fetch(`${m.url}/metrics`)).text()
  return Number(/^rd_websocket_decode_failures_total (\d+)$/m.exec(text)?.[1])
}

describe('upgrade', () => {
  it('answers 401 before any protocol without a token, with a wrong one, or with the API key', async () => {
    for (const headers of [
      {},
      { authorization: 'Bearer ' },
      { authorization: 'Bearer rdt_wrong' },
      { authorization: `Bearer rdt_${'x'.repeat(5000)}` },
      { authorization: `Bearer ${m.config.apiKey}` },
      { authorization: `Basic ${Buffer.from(`u:${await m.api.token()}`).toString('base64')}` },
    ]) {
      const res = await upgrade(headers)
      expect(res.status).toBe(401)
      expect(JSON.parse(res.body)).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } })
    }
    expect(m.dispatcher.localDelegates().length).toBe(0)
  })

  it('accepts a live token', async () => {
    expect((await upgrade({ authorization: `Bearer ${await m.api.token()}` })).status).toBe(101)
  })
})

describe('token revocation', () => {
  it('disconnects the delegates of a revoked token and refuses their reconnects', async () => {
    const created = await m.api.ok('POST', '/api/v1/delegate-tokens', { name: 'to-revoke' })
    const other = await m.api.token()
    const raw = await rawDelegate(created.token, 'revoked-raw')
    const bystander = await rawDelegate(other, 'bystander')
    cleanup.push(async () => bystander.terminate())
    const realLog: string[] = []
    const d = await startTestDelegate(m.url, created.token, { name: 'revoked-real', runner: scriptedRegistry(), log: pino({ level: 'info' }, { write: (l: string) => realLog.push(l) }) })
    cleanup.push(() => d.close())
    await m.api.waitForDelegates(3)

    const rawClosed = closeCode(raw)
    expect((await m.api.call('DELETE', `/api/v1/delegate-tokens/${created.id}`)).status).toBe(204)
    expect(await rawClosed).toBe(4001)
    await waitFor(() => !m.dispatcher.localDelegates().some((l) => l.name.startsWith('revoked-')), {
      timeoutMs: 5_000,
      what: "the revoked token's delegates to be gone",
      describe: () => m.dispatcher.localDelegates().map((l) => l.name),
    })
    expect(m.dispatcher.localDelegates().map((l) => l.name)).toEqual(['bystander'])
    expect(bystander.readyState).toBe(WebSocket.OPEN)
    expect((await upgrade({ authorization: `Bearer ${created.token}` })).status).toBe(401)
    // the real delegate keeps trying with the revoked token: it dials again and is refused
    const refused = () => realLog.filter((l) => l.includes('manager refused the connection') && l.includes('"status":401')).length
    await waitFor(() => refused() >= 2, { timeoutMs: 15_000, what: 'the revoked delegate to be refused twice', describe: () => realLog.slice(-3) })
    expect(m.dispatcher.localDelegates().some((l) => l.name === 'revoked-real')).toBe(false)
  })

  it('disconnects delegates on another replica too', async () => {
    // a pair of replicas of their own, so that this test's delegates stay out of the others' view
    const one = await startTestManager(inject('redisUrl'))
    cleanup.push(() => one.close())
    const other = await startTestManager(inject('redisUrl'), { queuePrefix: one.config.queuePrefix, apiKey: one.config.apiKey })
    cleanup.push(() => other.close())
    const created = await one.api.ok('POST', '/api/v1/delegate-tokens', { name: 'elsewhere' })
    const raw = await rawDelegate(created.token, 'on-other-replica', other.url)
    const closed = closeCode(raw)
    // and one that never answers a close frame
    const deaf = await rawWebSocket(Number(new URL(other.url).port), '/api/v1/delegates/stream', { Authorization: `Bearer ${created.token}` })
    deaf.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'deaf-on-other-replica', tags: [], capacity: 1, version: 'v' }))
    await deaf.next(/"welcome"/)
    const revokedAt = Date.now()
    await one.api.ok('DELETE', `/api/v1/delegate-tokens/${created.id}`)
    expect(await closed).toBe(4001)
    await deaf.ended
    expect(Date.now() - revokedAt).toBeLessThan(5_000)
    expect(deaf.closes).toEqual([4001])
    expect((await upgrade({ authorization: `Bearer ${created.token}` }, other.url)).status).toBe(401)
  })
})

/** Says hello as `name`: 'welcomed' (the socket stays open, heart-beating), or how the manager closed it. */
async function helloAs(token: string, name: string): Promise<{ ws: WebSocket; answer: 'welcomed' | { code: number; reason: string } }> {
  const ws = new WebSocket(streamUrl(), { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false })
  ws.on('error', () => undefined)
  await once(ws, 'open')
  const answer = new Promise<'welcomed' | { code: number; reason: string }>((resolve) => {
    ws.on('message', (data: Buffer) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'welcome') resolve('welcomed')
    })
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))
  })
  ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name, tags: ['raw'], capacity: 1, version: 'raw' }))
  const beat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'heartbeat', active: [] })), 300)
  ws.once('close', () => clearInterval(beat))
  cleanup.push(async () => ws.terminate())
  return { ws, answer: await answer }
}

describe('tokens bound to a delegate name', () => {
  it('are created with delegateName, listed with it, and refused in hello under any other name (1008, saying which)', async () => {
    const bound = await m.api.ok('POST', '/api/v1/delegate-tokens', { name: 'eu token', delegateName: 'eu-west-1' })
    expect(bound).toMatchObject({ name: 'eu token', delegateName: 'eu-west-1', token: expect.stringMatching(/^rdt_/) })
    const listed = (await m.api.ok('GET', '/api/v1/delegate-tokens')).tokens.find((t: { id: string }) => t.id === bound.id)
    expect(listed).toEqual({ id: bound.id, name: 'eu token', delegateName: 'eu-west-1', createdAt: expect.any(String) })
    expect((await m.api.call('POST', '/api/v1/delegate-tokens', { name: 'x', delegateName: ' ' })).status).toBe(400)

    const wrong = await helloAs(bound.token, 'us-east-1')
    expect(wrong.answer).toEqual({ code: 1008, reason: expect.stringContaining('bound to delegate eu-west-1') })
    expect(m.dispatcher.localDelegates().some((l) => l.name === 'us-east-1')).toBe(false)
    expect((await helloAs(bound.token, 'EU-West-1')).answer).toBe('welcomed')
  })

  it('an unbound token cannot kick off a delegate whose token is bound to that name; the bound token takes its name back', async () => {
    const bound = await m.api.ok('POST', '/api/v1/delegate-tokens', { name: 'b', delegateName: 'owned' })
    const holder = await helloAs(bound.token, 'owned')
    expect(holder.answer).toBe('welcomed')
    const intruder = await helloAs(await m.api.token(), 'owned')
    expect(intruder.answer).toEqual({ code: 1008, reason: expect.stringContaining('in use by a connection with another token') })
    expect(holder.ws.readyState).toBe(WebSocket.OPEN)

    // an unbound squatter on a free name gives way to the name's bound token
    const squatter = await helloAs(await m.api.token(), 'squatted')
    expect(squatter.answer).toBe('welcomed')
    const kicked = closeCode(squatter.ws)
    const owner = await m.api.ok('POST', '/api/v1/delegate-tokens', { name: 'o', delegateName: 'squatted' })
    expect((await helloAs(owner.token, 'squatted')).answer).toBe('welcomed')
    expect(await kicked).toBe(4002)
  })

  it('between unbound tokens the first keeps the name; the same token (a restart) replaces its old connection', async () => {
    const first = await m.api.token()
    const a = await helloAs(first, 'shared-name')
    expect(a.answer).toBe('welcomed')
    expect((await helloAs(await m.api.token(), 'shared-name')).answer).toEqual({ code: 1008, reason: expect.stringContaining('in use') })
    const replaced = closeCode(a.ws)
    expect((await helloAs(first, 'shared-name')).answer).toBe('welcomed')
    expect(await replaced).toBe(4002)
  })
})

/** Frames that can never decode: each must close its socket with 1002, 1007, 1008 or 1009. */
function malformedFrame(rng: Prng, i: number): { data: string | Buffer; binary?: boolean } {
  const hello = { type: 'hello', protocol: PROTOCOL_VERSION, name: `x${i}`, tags: [], capacity: 1, version: 'v' }
  const result = { type: 'task.result', taskId: randomUUID(), attemptId: randomUUID(), outcome: { ok: true, result: { type: 'list-tags', image: 'x', tags: [], truncated: false } } }
  const wrong = (v: unknown) => rng.pick([null, 42, -1, 1.5, 'x', [], {}, [1], true].filter((w) => typeof w !== typeof v || Array.isArray(w) !== Array.isArray(v)))
  const mutate = (msg: Record<string, unknown>) => {
    const keys = Object.keys(msg).filter((k) => k !== 'type')
    const key = rng.pick(keys)
    return JSON.stringify({ ...msg, [key]: wrong(msg[key]) })
  }
  switch (i % 10) {
    case 0:
      return { data: `~${rng.string(200)}` } // not JSON
    case 1:
      return { data: JSON.stringify(rng.pick([null, 1, 'hello', [], [{ type: 'hello' }], true])) }
    case 2:
      return { data: JSON.stringify({ type: `x-${rng.string(10)}`, payload: rng.json() }) }
    case 3:
      return { data: mutate(hello) }
    case 4:
      return { data: mutate(result) }
    case 5:
      return { data: JSON.stringify({ ...result, outcome: rng.pick([{ ok: true }, { ok: false, error: { code: 1 } }, { ok: 'yes', result: {} }, null]) }) }
    case 6:
      return { data: JSON.stringify({ type: 'heartbeat', active: rng.pick(['x', [1], null, {}]) }) }
    case 7:
      return { data: rng.bytes(1 + rng.int(64)), binary: true }
    case 8:
      return { data: Buffer.concat([Buffer.from('{"type":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}')]), binary: false } // invalid UTF-8
    default:
      return { data: '['.repeat(10_000 + rng.int(100_000)) } // deep and unterminated
  }
}

/** Frames ws itself refuses: reserved opcode, RSV bit, unmasked, oversized control, stray continuation. */
const BROKEN_WIRE_FRAMES = [
  Buffer.from([0x83, 0x80, 1, 2, 3, 4]),
  Buffer.from([0xc1, 0x80, 1, 2, 3, 4]),
  Buffer.from([0x81, 0x01, 0x41]),
  Buffer.concat([Buffer.from([0x89, 0xfe, 0x00, 0x7e, 0, 0, 0, 0]), Buffer.alloc(126)]),
  Buffer.from([0x80, 0x80, 1, 2, 3, 4]),
  Buffer.from([0x09, 0x80, 1, 2, 3, 4]),
]

describe('malformed frames', () => {
  it('close each socket with 1002/1007/1008/1009, are counted, and leave a well-behaved delegate working', async () => {
    const token = await m.api.token()
    const good = scriptedRegistry()
    const d = await startTestDelegate(m.url, token, { name: 'well-behaved', tags: ['good'], runner: good })
    cleanup.push(() => d.close())
    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com', delegateSelectors: ['good'] })
    const before = await decodeFailures()

    const rng = new Prng(0x5eed)
    const codes: number[] = []
    let taskRuns = 0
    let sent = 0
    const N = 300
    for (let batch = 0; batch < N; batch += 20) {
      const work = Array.from({ length: Math.min(20, N - batch) }, async (_, j) => {
        const i = batch + j
        // half before hello, half after
        const ws = await rawDelegate(token, i % 2 === 0 ? undefined : `fuzz-${i}`)
        const closed = closeCode(ws)
        if (i < BROKEN_WIRE_FRAMES.length) {
          ;(ws as unknown as { _socket: NodeJS.WritableStream })._socket.write(BROKEN_WIRE_FRAMES[i]!)
        } else {
          const frame = malformedFrame(rng, i)
          ws.send(frame.data, { binary: frame.binary ?? false })
        }
        sent++
        codes.push(await closed)
      })
      // the well-behaved delegate keeps working meanwhile
      const task = m.api.ok('GET', `/api/v1/connectors/${c.id}/tags?image=app`).then((r) => {
        expect(r.tags).toEqual(['1.0', '1.1', 'latest'])
        taskRuns++
      })
      await Promise.all([...work, task])
    }
    // one oversized frame, refused by ws before it is parsed
    const big = await rawDelegate(token, 'too-big')
    const bigClosed = closeCode(big)
    big.send('x'.repeat(8 * 1024 * 1024 + 1))
    codes.push(await bigClosed)
    sent++

    expect(codes).toHaveLength(N + 1)
    const unexpected = codes.filter((code) => ![1002, 1007, 1008, 1009].includes(code))
    expect(unexpected).toEqual([])
    expect(codes.at(-1)).toBe(1009)
    expect(await decodeFailures()).toBe(before + sent)
    expect(taskRuns).toBe(N / 20)
    expect((await fetch(`${m.url}/healthz`)).status).toBe(200)
    expect(m.dispatcher.localDelegates().map((l) => l.name)).toEqual(['well-behaved'])
    expect((await m.api.ok('POST', `/api/v1/connectors/${c.id}/validate`)).status).toBe('succeeded')
  })
})

describe('results', () => {
  it('from a delegate that does not hold the task are dropped', async () => {
    const token = await m.api.token()
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    let started: () => void = () => {}
    const running = new Promise<void>((resolve) => (started = resolve))
    const holder: TaskRunner = {
      async run(task: TaskSpec): Promise<TaskResult> {
        started()
        await held
        return { type: 'list-tags', image: task.image ?? '', tags: ['genuine'], truncated: false }
      },
      async close() {},
    }
    const d: Delegate = await startTestDelegate(m.url, token, { name: 'holder', tags: ['hold'], runner: holder })
    cleanup.push(() => d.close())
    const forger = await rawDelegate(token, 'forger')
    cleanup.push(async () => forger.terminate())
    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com', delegateSelectors: ['hold'] })
    const { id } = await m.api.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: c.id, image: 'app' })
    await running

    const forged = (taskId: string, attemptId: string) =>
      JSON.stringify({ type: 'task.result', taskId, attemptId, outcome: { ok: true, result: { type: 'list-tags', image: 'app', tags: ['forged'], truncated: false } } })
    forger.send(forged(id, randomUUID()))
    forger.send(forged(randomUUID(), randomUUID()))
    forger.send(JSON.stringify({ type: 'task.result', taskId: id, attemptId: randomUUID(), outcome: { ok: false, error: { code: 'NAME_UNKNOWN', message: 'forged', retryable: false } } }))
    // The manager answers a ping only once it has handled the frames before it (ws reads a socket's
    // frames in order, and results are handled synchronously): from here on, the forged results
    // have been seen, so the genuine result released below comes after them.
    const pong = once(forger, 'pong')
    forger.ping()
    await pong
    expect((await m.api.ok('GET', `/api/v1/tasks/${id}`)).status).toBe('running')

    release()
    const task = await m.api.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    expect(task).toMatchObject({ status: 'succeeded', delegate: { name: 'holder' }, result: { tags: ['genuine'] } })
    expect(forger.readyState).toBe(WebSocket.OPEN)
  })
})
