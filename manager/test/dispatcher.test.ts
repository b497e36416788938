/**
 * The dispatcher's state machine at its seams: transports that record what they were asked to
 * send, the events it raises, and the ends of each stint. No Redis, no sockets: every step is
 * driven by the test, so each rule of SPEC §4 and §6 is checked on its own.
 */
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { DelegateState, ManagerMessage, TaskAssign, TaskResultMessage, WireFailure } from '../../protocol/src/index.ts'
import type { DispatchTask } from '../src/dispatch-task.ts'
import type { Transport } from '../src/delegate-record.ts'
import { Dispatcher, STALE_CONNECTOR, type DispatchHooks, type RunEnd } from '../src/dispatcher.ts'

class Wire implements Transport {
  readonly sent: ManagerMessage[] = []
  assign(message: TaskAssign): void {
    this.sent.push(message)
  }
  cancel(message: ManagerMessage): void {
    this.sent.push(message)
  }
  probe(message: ManagerMessage): void {
    this.sent.push(message)
  }
  get assigns(): TaskAssign[] {
    return this.sent.filter((m): m is TaskAssign => m.type === 'task.assign')
  }
}

function setup(over: { heartbeatTimeoutMs?: number; now?: () => number } = {}) {
  const events: string[] = []
  const relayed: { kind: string; origin: string; attemptId: string }[] = []
  const history = new Map<string, string>()
  const d = new Dispatcher({
    replicaId: 'here',
    log: pino({ level: 'silent' }),
    history: { get: async (c) => history.get(c) ?? null, set: (c, id) => void history.set(c, id) },
    heartbeatTimeoutMs: over.heartbeatTimeoutMs ?? 10_000,
    unreachableMarkMs: 60_000,
    ...(over.now ? { now: over.now } : {}),
    events: {
      localUp: (r) => events.push(`up ${r.name} rev=${r.rev} ${r.active}/${r.capacity}`),
      localDown: (r) => events.push(`down ${r.name}`),
      slotsFreed: (r) => events.push(`free ${r.name}`),
      load: () => undefined,
      placed: () => undefined,
      mark: (host, id) => events.push(`mark ${host} ${id}`),
      relayResult: (origin, _d, m) => relayed.push({ kind: 'result', origin, attemptId: m.attemptId }),
      relayLost: (origin, _d, attemptId) => relayed.push({ kind: 'lost', origin, attemptId }),
    },
  })
  const local = (name: string, o: { tags?: string[]; capacity?: number } = {}) => {
    const wire = new Wire()
    const record = d.addLocal({ id: name, name, tags: o.tags ?? [], capacity: o.capacity ?? 2, version: 'v', tokenId: 't' }, wire)
    return { wire, record }
  }
  const remote = (owner: string, name: string, o: Partial<DelegateState> = {}) => {
    const wire = new Wire()
    d.upsertRemote(owner, { id: name, name, tags: [], version: 'v', capacity: 2, draining: false, full: false, connectedAt: 0, rev: 1, ...o }, wire)
    return { wire, record: d.fleet.get(name)! }
  }
  return { d, events, relayed, history, local, remote }
}

let seq = 0
function task(over: Partial<DispatchTask> = {}): DispatchTask {
  const now = Date.now()
  return {
    taskId: `t${++seq}`,
    connectorId: 'c1',
    connectorRev: 'r1',
    registryHost: 'registry.example',
    selectors: [],
    createdAt: now,
    deadline: now + 60_000,
    attempts: 0,
    retries: 0,
    waitReason: null,
    spec: { type: 'list-tags', registry: { url: 'registry.example' }, image: 'x' },
    ...over,
  }
}

function hooks() {
  const log: string[] = []
  const states: { status: string; attempts: number }[] = []
  const h: DispatchHooks = { log: (m) => log.push(m), onState: (s) => states.push({ status: s.status, attempts: s.attempts }) }
  return { h, log, states }
}

const ok = (a: TaskAssign): TaskResultMessage => ({
  type: 'task.result',
  taskId: a.taskId,
  attemptId: a.attemptId,
  outcome: { ok: true, result: { type: 'list-tags', image: 'x', tags: ['1'], truncated: false } },
})
const fail = (a: TaskAssign, error: Partial<WireFailure>): TaskResultMessage => ({
  type: 'task.result',
  taskId: a.taskId,
  attemptId: a.attemptId,
  outcome: { ok: false, error: { code: 'SERVER_ERROR', message: 'm', retryable: false, ...error } },
})

/** Lets the stint's `await history.get()` run, so that the first placement has happened. */
const settle = () => new Promise((r) => setImmediate(r))

describe('Dispatcher', () => {
  it('places a task on a free delegate, ends it with its result and remembers the delegate for the connector', async () => {
    const { d, local, history } = setup()
    const a = local('a')
    const { h, states } = hooks()
    const end = d.run(task(), h)
    await settle()
    expect(a.wire.assigns).toHaveLength(1)
    expect(states.at(-1)).toEqual({ status: 'running', attempts: 1 })
    d.onResult('a', ok(a.wire.assigns[0]!))
    expect(await end).toMatchObject({ kind: 'outcome', outcome: { status: 'succeeded', delegate: { name: 'a' }, attempts: 1 } })
    expect(history.get('c1')).toBe('a')
    expect(a.record.active).toBe(0)
  })

  it('parks a task nobody can serve until its deadline, writing the reason once per reason', async () => {
    const { d, local } = setup()
    local('us-1', { tags: ['us'] })
    const t = task({ selectors: ['eu'] })
    const first = hooks()
    const end = (await d.run(t, first.h)) as Extract<RunEnd, { kind: 'park' }>
    expect(end).toMatchObject({ kind: 'park', until: t.deadline, waitingFor: ['eu'], refresh: false })
    expect(first.log.join('\n')).toMatch(/waiting: no connected delegate has selectors \[eu\]/)
    // woken again with nothing changed: no new line
    const again = hooks()
    expect(await d.run({ ...t, waitReason: end.progress.waitReason }, again.h)).toMatchObject({ kind: 'park' })
    expect(again.log).toEqual([])
  })

  it('never gives a delegate more tasks than its capacity, and says when its last slot is taken and freed', async () => {
    const { d, local, events } = setup()
    const a = local('a', { capacity: 2 })
    const rev = a.record.rev
    const ends = [d.run(task(), hooks().h), d.run(task(), hooks().h), d.run(task(), hooks().h)]
    await settle()
    expect(a.wire.assigns).toHaveLength(2)
    expect(await ends[2]).toMatchObject({ kind: 'park', waitingFor: [] })
    expect(events).toContain(`up a rev=${rev + 1} 2/2`)
    d.onResult('a', ok(a.wire.assigns[0]!))
    expect(events.slice(-2)).toEqual([`up a rev=${rev + 2} 1/2`, 'free a'])
  })

  it('believes the owner of a remote delegate: a refusal holds until the owner reports a newer state', async () => {
    const { d, remote } = setup()
    const r = remote('other', 'r')
    const { h, log } = hooks()
    const end = d.run(task(), h)
    await settle()
    expect(r.wire.assigns).toHaveLength(1)
    d.refused('r', r.wire.assigns[0]!.attemptId, 1, 'no free slot (2/2)')
    expect(await end).toMatchObject({ kind: 'park', progress: { attempts: 0 } })
    expect(log.join('\n')).toMatch(/r refused the task on its replica \(no free slot \(2\/2\)\)/)
    // offered again only after a newer rev
    expect(await d.run(task(), hooks().h)).toMatchObject({ kind: 'park' })
    expect(r.wire.assigns).toHaveLength(1)
    remote('other', 'r', { rev: 2 })
    void d.run(task(), hooks().h)
    await settle()
    expect(r.wire.assigns).toHaveLength(2)
  })

  it('parks a task for a fresh preparation when its connector changed during a hand-over', async () => {
    const { d, remote } = setup()
    const r = remote('other', 'r')
    const end = d.run(task(), hooks().h)
    await settle()
    d.refused('r', r.wire.assigns[0]!.attemptId, 0, STALE_CONNECTOR)
    expect(await end).toMatchObject({ kind: 'park', refresh: true, waitingFor: null, progress: { attempts: 0 } })
  })

  it('runs a task on another delegate when the one holding it is lost, counting both attempts', async () => {
    const { d, local } = setup()
    const a = local('a')
    const { h, log } = hooks()
    const end = d.run(task(), h)
    await settle()
    const b = local('b')
    d.removeDelegate('a', 'disconnected (1006)')
    expect(b.wire.assigns).toHaveLength(1)
    d.onResult('a', ok(a.wire.assigns[0]!)) // late: dropped
    d.onResult('b', ok(b.wire.assigns[0]!))
    expect(await end).toMatchObject({ kind: 'outcome', outcome: { status: 'succeeded', delegate: { name: 'b' }, attempts: 2 } })
    expect(log.join('\n')).toMatch(/a lost while holding the task \(disconnected \(1006\)\); reassigning/)
  })

  it('marks a delegate that cannot reach the registry, tries another, and fails naming each when none can', async () => {
    const { d, local, events } = setup()
    const a = local('a')
    const b = local('b')
    const end = d.run(task(), hooks().h)
    await settle()
    const first = a.wire.assigns[0] ?? b.wire.assigns[0]!
    const firstOn = a.wire.assigns.length ? 'a' : 'b'
    d.onResult(firstOn, fail(first, { code: 'CONNECTION_REFUSED', retryable: true, cannotReach: true }))
    const second = (firstOn === 'a' ? b : a).wire.assigns[0]!
    d.onResult(firstOn === 'a' ? 'b' : 'a', fail(second, { code: 'DNS_NOT_FOUND', retryable: true, cannotReach: true }))
    const out = await end
    expect(out).toMatchObject({ kind: 'outcome', outcome: { status: 'failed', error: { code: 'DELEGATE_CANNOT_REACH_REGISTRY' }, attempts: 2 } })
    expect(events.filter((e) => e.startsWith('mark'))).toHaveLength(2)
  })

  it('parks a retryable failure for its back-off and carries the retry count', async () => {
    const { d, local } = setup()
    const a = local('a')
    const end = d.run(task(), hooks().h)
    await settle()
    d.onResult('a', fail(a.wire.assigns[0]!, { code: 'RATE_LIMITED', retryable: true, retryAfterMs: 1_500 }))
    const out = (await end) as Extract<RunEnd, { kind: 'park' }>
    expect(out).toMatchObject({ kind: 'park', waitingFor: null, progress: { retries: 1, attempts: 1 } })
    expect(out.until - Date.now()).toBeGreaterThan(1_000)
    expect(out.until - Date.now()).toBeLessThanOrEqual(1_500)
  })

  it('ends a task at once on a failure that is not retryable', async () => {
    const { d, local } = setup()
    const a = local('a')
    const end = d.run(task(), hooks().h)
    await settle()
    d.onResult('a', fail(a.wire.assigns[0]!, { code: 'INVALID_CREDENTIALS', status: 401 }))
    expect(await end).toMatchObject({ kind: 'outcome', outcome: { status: 'failed', error: { code: 'INVALID_CREDENTIALS', status: 401 } } })
  })

  it('cancels a task on its delegate at the deadline and ends it expired', async () => {
    const { d, local } = setup()
    const a = local('a')
    const end = d.run(task({ deadline: Date.now() + 30 }), hooks().h)
    expect(await end).toMatchObject({ kind: 'outcome', outcome: { status: 'expired', error: { code: 'EXPIRED' } } })
    expect(a.wire.sent.map((m) => m.type)).toEqual(['task.assign', 'task.cancel'])
    expect(a.record.active).toBe(0)
  })

  it('ends a task whose deadline passed while it waited with NO_ELIGIBLE_DELEGATE, naming the delegates present', async () => {
    const { d, local } = setup()
    local('us-1', { tags: ['us'] })
    const out = await d.run(task({ selectors: ['mars'], deadline: Date.now() - 1 }), hooks().h)
    expect(out).toMatchObject({ kind: 'outcome', outcome: { status: 'failed', error: { code: 'NO_ELIGIBLE_DELEGATE' } } })
    const message = (out as { outcome: { error: { message: string } } }).outcome.error.message
    expect(message).toMatch(/\[mars\]/)
    expect(message).toMatch(/us-1 \[us\]/)
  })

  it('prefers the delegate that last succeeded for the connector, else the one assigned least recently', async () => {
    const { d, local, history } = setup()
    history.set('c1', 'b')
    const a = local('a')
    const b = local('b')
    void d.run(task(), hooks().h)
    await settle()
    expect(b.wire.assigns).toHaveLength(1)
    void d.run(task({ connectorId: 'other' }), hooks().h) // no history: b was assigned last, so a
    await settle()
    expect(a.wire.assigns).toHaveLength(1)
  })

  it('takes slots for other replicas up to the capacity, relays their results back and reports them lost when the delegate leaves', () => {
    const { d, local, relayed, events } = setup()
    const a = local('a', { capacity: 2 })
    const deadline = Date.now() + 60_000
    expect(d.acceptRelay('o1', 'a', 'x1', deadline)).toBeNull()
    expect(d.acceptRelay('o2', 'a', 'x2', deadline)).toBeNull()
    expect(d.acceptRelay('o1', 'a', 'x3', deadline)).toEqual({ rev: a.record.rev, reason: 'no free slot (2/2)' })
    d.onResult('a', { type: 'task.result', taskId: 't', attemptId: 'x1', outcome: { ok: true, result: { type: 'list-images', images: [], truncated: false } } })
    expect(relayed).toEqual([{ kind: 'result', origin: 'o1', attemptId: 'x1' }])
    expect(events.at(-1)).toBe('free a')
    d.removeDelegate('a', 'gone')
    expect(relayed.at(-1)).toEqual({ kind: 'lost', origin: 'o2', attemptId: 'x2' })
    expect(events.at(-1)).toBe('down a')
  })

  it('refuses a hand-over for a delegate that left or drains', () => {
    const { d, local } = setup()
    local('a')
    d.drain('a')
    expect(d.acceptRelay('o', 'a', 'x', Date.now() + 1_000)).toMatchObject({ reason: 'draining' })
    expect(d.acceptRelay('o', 'nobody', 'y', Date.now() + 1_000)).toMatchObject({ reason: 'no longer connected to this replica' })
  })

  it('ignores an older state of a remote delegate, and a late "down" from a replica that no longer owns it', () => {
    const { d, remote } = setup()
    remote('r1', 'x', { rev: 5, full: true })
    remote('r1', 'x', { rev: 4, full: false })
    expect(d.fleet.get('x')).toMatchObject({ full: true, rev: 5 })
    remote('r2', 'x', { rev: 1 }) // reconnected to r2
    d.removeDelegate('x', 'left r1', 'r1')
    expect(d.fleet.get('x')).toMatchObject({ owner: 'r2' })
  })
})

