/**
 * What a delegate answers when a task fails, against a manager-side WebSocket speaking the
 * protocol: a registry failure keeps its code; anything else is a bug, answered INTERNAL and
 * logged with its stack, never dressed up as a registry code.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocketServer, type WebSocket } from 'ws'
import { decodeDelegateMessage, PROTOCOL_VERSION, type DelegateMessage, type TaskResult, type TaskSpec } from '../../protocol/src/index.ts'
import { waitFor } from '../../test/wait-for.ts'
import { Delegate } from '../src/delegate.ts'
import { RegistryError } from '../src/registry/errors.ts'

/** What each task (by image name) does in the runner. */
const behaviours: Record<string, () => Promise<TaskResult>> = {
  bug: async () => {
    const broken = undefined as unknown as { tags: string[] }
    return { type: 'list-tags', image: 'bug', tags: broken.tags, truncated: false }
  },
  // has a registry code and a toWire() like a RegistryError, but is not one
  lookalike: async () => {
    throw Object.assign(new Error('looks like a registry failure'), {
      code: 'NAME_UNKNOWN',
      toWire: () => ({ code: 'NAME_UNKNOWN', message: 'looks like a registry failure', retryable: false }),
    })
  },
  thrown_string: async () => {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a dependency may throw anything
    throw 'not an Error'
  },
  registry: async () => {
    throw new RegistryError('NAME_UNKNOWN', 'no such repository: check the image name')
  },
}

describe('a failing task on a delegate', () => {
  let wss: WebSocketServer
  let delegate: Delegate
  let socket: WebSocket
  const received: DelegateMessage[] = []
  const logLines: { level: number; msg: string; taskId?: string; err?: { type: string; message: string; stack: string } }[] = []

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    await once(wss, 'listening')
    const connected = once(wss, 'connection')
    delegate = new Delegate({
      managerUrls: [`http://127.0.0.1:${(wss.address() as AddressInfo).port}`],
      token: 'rdt_test',
      name: 'failing',
      tags: [],
      capacity: 8,
      version: 'test',
      log: pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) }),
      env: {},
      runner: { run: async (task: TaskSpec) => behaviours[task.image!]!(), close: async () => {} },
    })
    delegate.start()
    ;[socket] = (await connected) as [WebSocket]
    socket.on('message', (data) => received.push(decodeDelegateMessage(data)))
    socket.send(JSON.stringify({ type: 'welcome', protocol: PROTOCOL_VERSION, delegateId: 'd', heartbeatMs: 60_000 }))
  })
  afterAll(async () => {
    await delegate.close()
    wss.close()
  })

  /** Assigns a task whose runner does `image`'s behaviour; answers the delegate's result. */
  async function run(image: string) {
    const taskId = `task-${image}`
    socket.send(
      JSON.stringify({ type: 'task.assign', taskId, attemptId: `a-${image}`, deadline: Date.now() + 30_000, task: { type: 'list-tags', image, registry: { url: 'r.example.com' } } }),
    )
    const result = await waitFor(() => received.find((m) => m.type === 'task.result' && m.taskId === taskId), {
      timeoutMs: 5_000,
      what: `the result of ${taskId}`,
      describe: () => received,
    })
    return { result, logs: logLines.filter((l) => l.taskId === taskId) }
  }

  it('a bug in the task is INTERNAL (retryable), logged once at error level with its stack', async () => {
    const { result, logs } = await run('bug')
    expect(result).toMatchObject({ outcome: { ok: false, error: { code: 'INTERNAL', message: expect.stringMatching(/see its log/), retryable: true } } })
    const errors = logs.filter((l) => l.level >= 50)
    expect(errors).toEqual([expect.objectContaining({ msg: 'task crashed in the delegate' })])
    expect(errors[0]!.err).toMatchObject({ type: 'TypeError', message: expect.stringMatching(/reading 'tags'/) })
    expect(errors[0]!.err!.stack).toMatch(/delegate-failures\.int\.test\.ts/)
  })

  it('an error that only looks like a registry failure is INTERNAL too: no duck typing', async () => {
    const { result, logs } = await run('lookalike')
    expect(result).toMatchObject({ outcome: { ok: false, error: { code: 'INTERNAL' } } })
    expect(logs.filter((l) => l.level >= 50)).toHaveLength(1)
  })

  it('something thrown that is not an Error is INTERNAL and logged', async () => {
    const { result, logs } = await run('thrown_string')
    expect(result).toMatchObject({ outcome: { ok: false, error: { code: 'INTERNAL' } } })
    expect(logs.filter((l) => l.level >= 50)).toHaveLength(1)
  })

  it('a registry failure keeps its code and is not logged as a crash', async () => {
    const { result, logs } = await run('registry')
    expect(result).toMatchObject({ outcome: { ok: false, error: { code: 'NAME_UNKNOWN', message: 'no such repository: check the image name', retryable: false } } })
    expect(logs.filter((l) => l.level >= 50)).toEqual([])
  })
})
