/**
 * Dispatch where users lean on it (SPEC §6): several replicas on one Redis with delegates spread
 * over them, a delegate with no free slot, a backlog of thousands of tasks nobody can run.
 * Real Redis, BullMQ, HTTP and WebSocket; managers and delegates in this process, delegates with
 * scripted runners that record how many tasks they hold at once.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import { afterEach, describe, expect, inject, it } from 'vitest'
import type { TaskResult } from '../../protocol/src/index.ts'
import type { Delegate, TaskRunner } from '../../delegate/src/delegate.ts'
import { startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'
import { Redis } from 'ioredis'
import { redisKeys } from '../src/redis-keys.ts'
import { QUEUE_NAME, type TaskData } from '../src/tasks.ts'
import { selectorSetKey } from '../src/waiting-room.ts'
import { waitFor } from '../../test/wait-for.ts'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

/** A runner that takes `ms` per task and remembers the most tasks it held at once. */
function counting(ms: number) {
  let now = 0
  let ran = 0
  const runner: TaskRunner & { max: number; ran: () => number } = {
    max: 0,
    ran: () => ran,
    async run(task): Promise<TaskResult> {
      now++
      ran++
      runner.max = Math.max(runner.max, now)
      try {
        await sleep(ms)
        return { type: 'list-tags', image: task.image ?? '', tags: ['1'], truncated: false }
      } finally {
        now--
      }
    },
    async close() {},
  }
  return runner
}

/** `n` managers sharing Redis, key prefix and API key. */
async function replicas(n: number): Promise<TestManager[]> {
  const first = await startTestManager(inject('redisUrl'), { queuePrefix: `s-${randomUUID().slice(0, 8)}`, workerConcurrency: 2_000 })
  cleanup.push(() => first.close())
  const out = [first]
  for (let i = 1; i < n; i++) {
    const m = await startTestManager(inject('redisUrl'), { queuePrefix: first.config.queuePrefix, apiKey: first.config.apiKey, workerConcurrency: 2_000 })
    cleanup.push(() => m.close())
    out.push(m)
  }
  return out
}

async function delegateOn(m: TestManager, name: string, runner: TaskRunner, o: { tags?: string[]; capacity?: number } = {}): Promise<Delegate> {
  const d = await startTestDelegate(m.url, await m.api.token(), { name, runner, ...o })
  cleanup.push(() => d.close())
  return d
}

/** Until every replica's dispatcher knows these delegates (the fleet is announced over pub/sub). */
async function seenEverywhere(managers: TestManager[], names: string[]): Promise<void> {
  const until = Date.now() + 10_000
  for (;;) {
    const missing = managers.flatMap((m) => names.filter((n) => ![...m.dispatcher.fleet.values()].some((d) => d.name === n)))
    if (missing.length === 0) return
    if (Date.now() > until) throw new Error(`not seen everywhere: ${missing.join(', ')}`)
    await sleep(20)
  }
}

async function runTask(m: TestManager, body: Record<string, unknown>, waitMs = 30_000): Promise<any> {
  const { id } = await m.api.ok<{ id: string }>('POST', '/api/v1/tasks', { type: 'list-tags', image: 'x', ...body })
  return m.api.ok('GET', `/api/v1/tasks/${id}?waitMs=${waitMs}`)
}

describe('dispatch across replicas', () => {
  it('hands tasks to a full delegate on another replica without a hand-over loop: every task succeeds after a bounded number of offers', async () => {
    const [a, b] = (await replicas(2)) as [TestManager, TestManager]
    const runner = counting(300)
    await delegateOn(b, 'single-slot', runner, { capacity: 1 })
    await seenEverywhere([a, b], ['single-slot'])
    const c = await a.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com' })
    const tasks = await Promise.all(Array.from({ length: 6 }, (_, i) => runTask(i % 2 === 0 ? a : b, { connectorId: c.id })))

    expect(tasks.map((t) => t.status)).toEqual(Array(6).fill('succeeded'))
    expect(runner.max).toBe(1)
    expect(tasks.every((t) => t.attempts === 1)).toBe(true)
    const lines = tasks.flatMap((t) => t.selectionLog.map((l: { message: string }) => l.message))
    const refusals = lines.filter((l) => /refused the task on its replica/.test(l))
    // each task is offered again only after the owner reported a change: a handful of lines per task, not thousands
    expect(refusals.length).toBeLessThanOrEqual(6 * 2)
    expect(lines.length).toBeLessThanOrEqual(6 * 12)
  })

  it('never gives a delegate more than its capacity with three replicas and delegates spread over them under load', async () => {
    const managers = await replicas(3)
    const runners = managers.map(() => counting(25))
    await Promise.all(managers.map((m, i) => delegateOn(m, `cap-${i}`, runners[i]!, { capacity: 2 })))
    await seenEverywhere(managers, ['cap-0', 'cap-1', 'cap-2'])
    const c = await managers[0]!.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com' })
    const tasks = await Promise.all(Array.from({ length: 90 }, (_, i) => runTask(managers[i % 3]!, { connectorId: c.id })))

    expect(tasks.filter((t) => t.status !== 'succeeded')).toEqual([])
    for (const r of runners) expect(r.max).toBeLessThanOrEqual(2)
    // the load was enough to fill every delegate at some point
    expect(runners.map((r) => r.max)).toEqual([2, 2, 2])
    expect(runners.reduce((sum, r) => sum + r.ran(), 0)).toBe(90)
  })

  it('keeps round robin and history across replicas', async () => {
    const [a, b] = (await replicas(2)) as [TestManager, TestManager]
    const runners = [counting(5), counting(5), counting(5)]
    await delegateOn(a, 'rr-0', runners[0]!)
    await delegateOn(b, 'rr-1', runners[1]!)
    await delegateOn(b, 'rr-2', runners[2]!)
    await seenEverywhere([a, b], ['rr-0', 'rr-1', 'rr-2'])
    // round robin: each task its own connector (no history), created alternately on both replicas
    for (let i = 0; i < 12; i++) {
      const c = await a.api.ok('POST', '/api/v1/connectors', { name: `c${i}`, type: 'docker-registry', url: 'r.example.com' })
      expect((await runTask(i % 2 === 0 ? a : b, { connectorId: c.id })).status).toBe('succeeded')
    }
    // each replica rotates through all three: nobody is left out, nobody takes most
    for (const r of runners) {
      expect(r.ran()).toBeGreaterThanOrEqual(3)
      expect(r.ran()).toBeLessThanOrEqual(5)
    }
    // history: one connector sticks to the delegate that last succeeded for it, whichever replica places it
    const c = await a.api.ok('POST', '/api/v1/connectors', { name: 'sticky', type: 'docker-registry', url: 'r.example.com' })
    const first = await runTask(a, { connectorId: c.id })
    for (let i = 0; i < 6; i++) {
      const t = await runTask(i % 2 === 0 ? b : a, { connectorId: c.id })
      expect(t.delegate.name).toBe(first.delegate.name)
      expect(t.selectionLog.map((l: { message: string }) => l.message).join('\n')).toMatch(/history: .* last succeeded/)
    }
  })
})

describe('the waiting room', () => {
  it('runs a task whose wake-up was lost (its waker died after taking it, before promoting it) once the lease ends', async () => {
    const [m] = (await replicas(1)) as [TestManager]
    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com' })
    const { id } = await m.api.ok('POST', '/api/v1/tasks', { type: 'list-tags', image: 'x', connectorId: c.id, delegateSelectors: ['later'], timeoutMs: 60_000 })
    const redis = new Redis(inject('redisUrl'))
    cleanup.push(async () => redis.quit())
    const set = redisKeys(m.config.queuePrefix).waiting(selectorSetKey(['later']))
    await waitFor(async () => (await redis.zscore(set, id)) !== null && (await m.api.ok('GET', `/api/v1/tasks/${id}`)).selectionLog.length > 0, { timeoutMs: 10_000, what: 'the task parked' })
    const queue = new Queue(QUEUE_NAME, { connection: { url: inject('redisUrl') }, prefix: m.config.queuePrefix })
    cleanup.push(() => queue.close())
    await waitFor(async () => (await queue.getJobState(id)) === 'delayed', { timeoutMs: 10_000, what: 'its job delayed' })
    // a waker took it (hid its entry) and died before promoting its job
    await redis.zadd(set, Date.now() + 2_000, id)
    const runner = counting(1)
    await delegateOn(m, 'late', runner, { tags: ['later'] })
    const t = await m.api.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    expect(t.status).toBe('succeeded')
    expect(runner.ran()).toBe(1)
    // and its entry is gone with it
    expect(await redis.zscore(set, id)).toBe(null)
  })
})

describe('a backlog', () => {
  it('of 10,000 tasks nobody can run does not delay a task a free delegate can run', async () => {
    const [m] = (await replicas(1)) as [TestManager]
    const runner = counting(1)
    await delegateOn(m, 'free', runner, { tags: ['here'] })
    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com' })
    // the backlog goes in as jobs (10,000 POSTs would only measure the HTTP layer)
    const queue = new Queue<TaskData>(QUEUE_NAME, { connection: { url: inject('redisUrl') }, prefix: m.config.queuePrefix })
    cleanup.push(() => queue.close())
    const now = Date.now()
    const backlog = Array.from({ length: 10_000 }, (): TaskData => {
      const id = randomUUID()
      return { id, type: 'list-tags', connectorId: c.id, image: 'x', delegateSelectors: ['nobody-has-this'], timeoutMs: 600_000, createdAt: now }
    })
    for (let i = 0; i < backlog.length; i += 1_000) {
      await queue.addBulk(backlog.slice(i, i + 1_000).map((data) => ({ name: data.type, data, opts: { jobId: data.id } })))
    }
    // every one of them parked: waiting for a delegate, holding no worker slot
    const until = Date.now() + 120_000
    for (let parked = 0; parked < 10_000; await sleep(200)) {
      parked = Number(/rd_tasks_waiting_for_delegate\{selectors="nobody-has-this"\} (\d+)/.exec(await (await fetch(`${m.url}/metrics`)).text())?.[1] ?? 0)
      if (Date.now() > until) throw new Error(`only ${parked} of 10,000 tasks parked after 120 s`)
    }

    const runnable = await Promise.all(Array.from({ length: 20 }, () => runTask(m, { connectorId: c.id, delegateSelectors: ['here'] }, 10_000)))
    expect(runnable.map((t) => t.status)).toEqual(Array(20).fill('succeeded'))
    expect(runner.ran()).toBe(20)
    // and the backlog is still there, untouched, each task with one line saying why it waits
    const sample = await m.api.ok('GET', `/api/v1/tasks/${backlog[1234]!.id}`)
    expect(sample.status).toBe('queued')
    expect(sample.selectionLog.filter((l: { message: string }) => l.message.startsWith('waiting:'))).toHaveLength(1)
  }, 180_000)
})
