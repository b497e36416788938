/**
 * Dispatch on real parts: Redis, BullMQ, HTTP and WebSocket; delegates in this process with a
 * scripted task runner, so that each test controls what the "registry work" does.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import type { TaskResult, TaskSpec } from '../../protocol/src/index.ts'
import type { Delegate, TaskRunner } from '../../delegate/src/delegate.ts'
import { RegistryError } from '../../delegate/src/registry/errors.ts'
import { waitFor } from '../../test/wait-for.ts'
import { startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'

const tags = (image = 'x'): TaskResult => ({ type: 'list-tags', image, tags: ['1'], truncated: false })

/** A runner whose behaviour each test scripts; it records what ran where. */
function scripted(name: string, behave: (task: TaskSpec, signal: AbortSignal) => Promise<TaskResult>, ran: string[] = []) {
  let now = 0
  let max = 0
  const runner: TaskRunner & { max(): number } = {
    async run(task, signal) {
      now++
      max = Math.max(max, now)
      ran.push(name)
      try {
        return await behave(task, signal)
      } finally {
        now--
      }
    },
    async close() {},
    max: () => max,
  }
  return runner
}

describe('dispatch', () => {
  let m: TestManager
  let token: string
  const delegates: Delegate[] = []

  beforeAll(async () => {
    m = await startTestManager(inject('redisUrl'), { heartbeatTimeoutMs: 2_000, heartbeatIntervalMs: 300 })
    token = await m.api.token()
  })
  afterEach(async () => {
    await Promise.all(delegates.splice(0).map((d) => d.close()))
    await waitFor(() => m.dispatcher.localDelegates().length === 0, { timeoutMs: 5_000, what: "the test's delegates to be gone" })
  })
  afterAll(async () => {
    await m.close()
  })

  async function delegate(name: string, runner: TaskRunner, o: { tags?: string[]; capacity?: number } = {}) {
    const d = await startTestDelegate(m.url, token, { name, runner, ...o })
    delegates.push(d)
    return d
  }
  async function connector(over: Record<string, unknown> = {}) {
    return m.api.ok<{ id: string }>('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: '127.0.0.1:1', ...over })
  }
  async function run(body: Record<string, unknown>) {
    const { id } = await m.api.ok<{ id: string }>('POST', '/api/v1/tasks', { type: 'list-tags', image: 'x', ...body })
    return m.api.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
  }

  it('never gives a task to a delegate without the required selectors', async () => {
    const ran: string[] = []
    await delegate('eu-1', scripted('eu-1', async () => tags(), ran), { tags: ['EU ', 'docker'] })
    await delegate('us-1', scripted('us-1', async () => tags(), ran), { tags: ['us', 'docker'] })
    const c = await connector({ delegateSelectors: ['docker'] })
    const results = await Promise.all(Array.from({ length: 20 }, () => run({ connectorId: c.id, delegateSelectors: ['eu'] })))
    expect(results.every((t) => t.status === 'succeeded' && t.delegate.name === 'eu-1')).toBe(true)
    expect(ran.every((n) => n === 'eu-1')).toBe(true)
  })

  it('spreads tasks of different connectors round robin', async () => {
    const ran: string[] = []
    for (const n of ['a', 'b', 'c']) await delegate(`rr-${n}`, scripted(n, async () => tags(), ran))
    for (let i = 0; i < 9; i++) {
      const c = await connector()
      const t = await run({ connectorId: c.id })
      expect(t.status).toBe('succeeded')
    }
    expect(ran.filter((n) => n === 'a').length).toBe(3)
    expect(ran.filter((n) => n === 'b').length).toBe(3)
    expect(ran.filter((n) => n === 'c').length).toBe(3)
  })

  it('keeps giving a connector to the delegate that last succeeded for it', async () => {
    const ran: string[] = []
    for (const n of ['a', 'b', 'c']) await delegate(`h-${n}`, scripted(n, async () => tags(), ran))
    const c = await connector()
    const first = await run({ connectorId: c.id })
    for (let i = 0; i < 5; i++) {
      const t = await run({ connectorId: c.id })
      expect(t.delegate.name).toBe(first.delegate.name)
      expect(t.selectionLog.map((l: { message: string }) => l.message).join('\n')).toMatch(/history: .* last succeeded/)
    }
  })

  it('never runs more tasks on a delegate than its capacity', async () => {
    const a = scripted('a', async () => (await sleep(40), tags()))
    const b = scripted('b', async () => (await sleep(40), tags()))
    await delegate('cap-a', a, { capacity: 2 })
    await delegate('cap-b', b, { capacity: 3 })
    const c = await connector()
    const results = await Promise.all(Array.from({ length: 40 }, () => run({ connectorId: c.id })))
    expect(results.every((t) => t.status === 'succeeded')).toBe(true)
    expect(a.max()).toBeLessThanOrEqual(2)
    expect(b.max()).toBeLessThanOrEqual(3)
    expect(a.max() + b.max()).toBeGreaterThan(2)
  })

  it('re-routes a task when a delegate cannot reach the registry', async () => {
    await delegate('far', scripted('far', async () => Promise.reject(new RegistryError('CONNECTION_REFUSED', 'refused'))))
    await delegate('near', scripted('near', async () => tags()))
    const c = await connector({ url: 'reroute.example.invalid' })
    // Run twice so that whichever delegate round robin picks first, "far" gets one.
    for (let i = 0; i < 2; i++) {
      const t = await run({ connectorId: c.id })
      expect(t.status).toBe('succeeded')
      expect(t.delegate.name).toBe('near')
    }
    const log = (await m.api.ok('GET', `/api/v1/tasks?connectorId=${c.id}`)).tasks
      .flatMap((t: { selectionLog: { message: string }[] }) => t.selectionLog.map((l) => l.message))
      .join('\n')
    expect(log).toMatch(/far cannot reach reroute.example.invalid \(CONNECTION_REFUSED\)/)
  })

  it('fails with DELEGATE_CANNOT_REACH_REGISTRY naming each delegate when none can reach it', async () => {
    await delegate('x1', scripted('x1', async () => Promise.reject(new RegistryError('DNS_NOT_FOUND', 'no such host'))))
    await delegate('x2', scripted('x2', async () => Promise.reject(new RegistryError('TLS_UNTRUSTED', 'bad cert'))))
    const c = await connector({ url: 'nowhere.invalid' })
    const t = await run({ connectorId: c.id })
    expect(t.status).toBe('failed')
    expect(t.error.code).toBe('DELEGATE_CANNOT_REACH_REGISTRY')
    expect(t.error.message).toMatch(/x1: DNS_NOT_FOUND/)
    expect(t.error.message).toMatch(/x2: TLS_UNTRUSTED/)
    expect(t.attempts).toBe(2)
  })

  it('fails NO_ELIGIBLE_DELEGATE at the timeout, naming the missing selector and the delegates present', async () => {
    await delegate('only-us', scripted('only-us', async () => tags()), { tags: ['us'] })
    const c = await connector()
    const t = await run({ connectorId: c.id, delegateSelectors: ['mars'], timeoutMs: 700 })
    expect(t.status).toBe('failed')
    expect(t.error.code).toBe('NO_ELIGIBLE_DELEGATE')
    expect(t.error.message).toMatch(/\[mars\]/)
    expect(t.error.message).toMatch(/only-us \[us\]/)
    expect(t.attempts).toBe(0)
  })

  it('expires a task that runs past its timeout and aborts it on the delegate', async () => {
    let aborted = false
    await delegate(
      'slow',
      scripted('slow', (_t, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => ((aborted = true), reject(new Error('aborted')))))),
    )
    const c = await connector()
    const t = await run({ connectorId: c.id, timeoutMs: 600 })
    expect(t.status).toBe('expired')
    expect(t.error.code).toBe('EXPIRED')
    await waitFor(() => aborted, { timeoutMs: 5_000, what: 'the delegate to abort the expired task' })
  })

  it('ends a task at once on a non-retryable failure', async () => {
    const ran: string[] = []
    await delegate('n1', scripted('n1', async () => Promise.reject(new RegistryError('INVALID_CREDENTIALS', 'bad password')), ran))
    await delegate('n2', scripted('n2', async () => Promise.reject(new RegistryError('INVALID_CREDENTIALS', 'bad password')), ran))
    const c = await connector()
    const t = await run({ connectorId: c.id })
    expect(t.status).toBe('failed')
    expect(t.error.code).toBe('INVALID_CREDENTIALS')
    expect(ran.length).toBe(1)
  })

  it('retries a retryable failure and succeeds', async () => {
    let calls = 0
    await delegate('flaky', scripted('flaky', async () => (++calls === 1 ? Promise.reject(new RegistryError('SERVER_ERROR', '503')) : tags())))
    const c = await connector()
    const t = await run({ connectorId: c.id })
    expect(t.status).toBe('succeeded')
    expect(t.attempts).toBe(2)
    expect(t.selectionLog.map((l: { message: string }) => l.message).join('\n')).toMatch(/SERVER_ERROR \(retryable\)/)
  })

  it('ends with INTERNAL when the delegate keeps crashing on a task, after bounded retries', async () => {
    const ran: string[] = []
    await delegate('buggy', scripted('buggy', async () => Promise.reject(new TypeError('boom')), ran))
    const c = await connector()
    const t = await run({ connectorId: c.id })
    expect(t.status).toBe('failed')
    expect(t.error.code).toBe('INTERNAL')
    expect(t.error.message).toMatch(/see its log/)
    expect(ran).toHaveLength(4) // the first try and 3 retries
  })

  it('runs a task on another delegate when the one holding it disconnects', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>((r) => (release = r))
    const first = await delegate('holder', scripted('holder', async () => (await held, tags())))
    const c = await connector()
    const { id } = await m.api.ok<{ id: string }>('POST', '/api/v1/tasks', { type: 'list-tags', image: 'x', connectorId: c.id })
    await m.api.waitForStatus(id, 'running')
    await delegate('taker', scripted('taker', async () => tags()))
    await first.close()
    release()
    const t = await m.api.ok('GET', `/api/v1/tasks/${id}?waitMs=10000`)
    expect(t.status).toBe('succeeded')
    expect(t.delegate.name).toBe('taker')
    expect(t.attempts).toBe(2)
    expect(t.selectionLog.map((l: { message: string }) => l.message).join('\n')).toMatch(/holder lost while holding the task/)
  })

  it('shows the selection log while a task waits', async () => {
    const c = await connector()
    const { id } = await m.api.ok<{ id: string }>('POST', '/api/v1/tasks', {
      type: 'list-tags',
      image: 'x',
      connectorId: c.id,
      delegateSelectors: ['later'],
      timeoutMs: 10_000,
    })
    const t = await waitFor(
      async () => {
        const v = await m.api.ok('GET', `/api/v1/tasks/${id}`)
        return v.selectionLog.length > 0 && v
      },
      { timeoutMs: 5_000, what: 'the first line of the selection log' },
    )
    expect(t.status).toBe('queued')
    expect(t.selectionLog.map((l: { message: string }) => l.message).join('\n')).toMatch(/waiting: no delegate is connected/)
    await delegate('late-comer', scripted('late', async () => tags()), { tags: ['later'] })
    const done = await m.api.ok('GET', `/api/v1/tasks/${id}?waitMs=10000`)
    expect(done.status).toBe('succeeded')
    expect(done.delegate.name).toBe('late-comer')
  })
})
