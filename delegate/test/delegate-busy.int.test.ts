/**
 * The delegate's own guard on capacity, against a manager-side WebSocket speaking the protocol:
 * an assignment beyond capacity is refused with DELEGATE_BUSY (retryable), never run.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocketServer, type WebSocket } from 'ws'
import { decodeDelegateMessage, PROTOCOL_VERSION, type DelegateMessage, type TaskAssign } from '../../protocol/src/index.ts'
import { testLog } from '../../test/harness.ts'
import { waitFor } from '../../test/wait-for.ts'
import { Delegate } from '../src/delegate.ts'

describe('a delegate at capacity', () => {
  let wss: WebSocketServer
  let delegate: Delegate
  let socket: WebSocket
  const received: DelegateMessage[] = []
  let release: () => void = () => {}
  let runs = 0

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    await once(wss, 'listening')
    const connected = once(wss, 'connection')
    delegate = new Delegate({
      managerUrls: [`http://127.0.0.1:${(wss.address() as AddressInfo).port}`],
      token: 'rdt_test',
      name: 'busy',
      tags: [],
      capacity: 1,
      version: 'test',
      log: testLog(),
      env: {},
      runner: {
        run: async (task) => {
          runs++
          await new Promise<void>((r) => (release = r))
          return { type: 'list-tags', image: task.image ?? '', tags: ['1'], truncated: false }
        },
        close: async () => {},
      },
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

  const assign = (n: number): TaskAssign => ({
    type: 'task.assign',
    taskId: `t${n}`,
    attemptId: `a${n}`,
    deadline: Date.now() + 30_000,
    task: { type: 'list-tags', image: 'x', registry: { url: '127.0.0.1:1' } },
  })
  const results = () => received.filter((m) => m.type === 'task.result')

  it('refuses a second task with DELEGATE_BUSY and runs only the first', async () => {
    socket.send(JSON.stringify(assign(1)))
    socket.send(JSON.stringify(assign(2)))
    await waitFor(() => results().length > 0, { timeoutMs: 2_000, what: 'the refusal of the second task' })
    expect(results()).toEqual([
      {
        type: 'task.result',
        taskId: 't2',
        attemptId: 'a2',
        outcome: { ok: false, error: { code: 'DELEGATE_BUSY', message: 'delegate is draining or at capacity', retryable: true } },
      },
    ])
    expect(runs).toBe(1)
    release()
    await waitFor(() => results().length > 1, { timeoutMs: 2_000, what: 'the result of the first task', describe: results })
    expect(results()[1]).toMatchObject({ taskId: 't1', attemptId: 'a1', outcome: { ok: true } })
  })
})
