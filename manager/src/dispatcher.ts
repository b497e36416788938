/**
 * Hands tasks to delegates, one delegate per attempt, and turns what happens next (result,
 * failure, a lost or refusing delegate, the deadline) into exactly one end per stint of a task
 * on this replica: an outcome, or "park" — the task goes back to the queue and costs nothing
 * until a slot frees for its selectors, its back-off ends or its deadline comes (tasks.ts parks
 * it in BullMQ, waiting-room.ts indexes it by selector set).
 *
 *   placing ──picked──▶ running ──result──▶ ended: outcome
 *     │ ▲                 │
 *     │ └─────────────────┘ lost, refused, cannot reach: place again at once
 *     ├──wait, back-off, stale connector──▶ ended: park
 *     └──every matching delegate cannot reach the registry──▶ ended: outcome
 *
 * Slots (delegate-record.ts): this replica counts the slots of the delegates it owns exactly,
 * its own hand-overs included, and takes other replicas' delegates as their owners describe them.
 * An owner refuses a hand-over it has no slot for; the origin then treats that delegate as full
 * until the owner reports a newer state, so an offer is only ever repeated after a real change.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { TaskErrorCode, type DelegateState, type TaskAssign, type TaskResultMessage, type WireFailure } from '../../protocol/src/index.ts'
import type { DispatchTask, TaskProgress } from './dispatch-task.ts'
import { DelegateFleet } from './delegate-fleet.ts'
import { normalizeTags, selectorsOf, type DelegateRecord, type Transport } from './delegate-record.ts'
import { noFreeSlot, reasonsAgainst, selectDelegate, type IneligibleReason, type Selection, type UnreachableMark } from './select-delegate.ts'
import type { DelegateRef, TaskError, TaskOutcome } from './task-outcome.ts'

export type RunEnd =
  | { kind: 'outcome'; outcome: TaskOutcome }
  /**
   * Back to the queue until `until` at the latest. `waitingFor`: the selectors whose next free
   * slot should wake it (null for a back-off). `refresh`: prepare the task anew (its connector
   * changed while it was handed over).
   */
  | { kind: 'park'; until: number; waitingFor: readonly string[] | null; refresh: boolean; progress: TaskProgress }

export interface Preview {
  delegates: { record: DelegateRecord; reasons: IneligibleReason[] }[]
  selection: Selection
}

export interface DispatchHooks {
  /** one selection-log line, in order */
  log(message: string): void
  onState(progress: TaskProgress): void
  /** a delegate was picked for an attempt (tracing): the traceparent its task.assign carries, and the attempt's end */
  attempt?(start: AttemptStart): AttemptTrace
}

/** A delegate picked for one attempt of a task, and how it was picked. */
export interface AttemptStart {
  attemptId: string
  delegate: DelegateRecord
  via: 'history' | 'round-robin'
  /** eligible delegates when it was picked */
  eligible: number
  replicaId: string
}

/** How an attempt ended: its result, or why it will not answer. */
export type AttemptEnd = 'succeeded' | 'failed' | 'lost' | 'refused' | 'expired'

export interface AttemptTrace {
  traceparent: string | undefined
  end(how: AttemptEnd, code?: string): void
}

export interface HistoryStore {
  get(connectorId: string): Promise<string | null>
  set(connectorId: string, delegateId: string): void
}

/** What the dispatcher tells the rest of the replica (replica-bus.ts, waiting-room.ts, the directory). */
export interface DispatcherEvents {
  /** a delegate owned here connected or changed state (full, draining): tell the other replicas */
  localUp(record: DelegateRecord): void
  localDown(record: DelegateRecord): void
  /** a delegate owned here has free slots now: wake tasks waiting for them */
  slotsFreed(record: DelegateRecord): void
  /** the number of tasks on a delegate owned here changed */
  load(record: DelegateRecord): void
  /** a task was handed to a delegate (owned here or elsewhere), `sinceCreatedMs` after its creation */
  placed(record: DelegateRecord, sinceCreatedMs: number): void
  /** a "cannot reach" mark this replica made: share it */
  mark(registryHost: string, delegateId: string, mark: UnreachableMark): void
  /** a relayed attempt (another replica's task on a delegate owned here) answered or was lost */
  relayResult(origin: string, delegateId: string, message: TaskResultMessage): void
  relayLost(origin: string, delegateId: string, attemptId: string, reason: string): void
}

interface TaskRun {
  task: DispatchTask
  hooks: DispatchHooks
  state: 'placing' | 'running' | 'ended'
  attempts: number
  retries: number
  waitReason: string | null
  historyDelegateId: string | null
  attempt: Attempt | null
  lastDelegate: DelegateRef | null
  timer: NodeJS.Timeout | null
  resolve(end: RunEnd): void
}

interface Attempt {
  id: string
  run: TaskRun
  delegate: DelegateRecord
  trace: AttemptTrace | null
}

/** Another replica's task on a delegate owned here. */
interface Relayed {
  id: string
  origin: string
  delegateId: string
  /** released at the deadline (plus a grace) even if nobody cancels: the origin may be gone */
  timer: NodeJS.Timeout
}

export interface DispatcherOptions {
  replicaId: string
  log: Logger
  history: HistoryStore
  events: DispatcherEvents
  heartbeatTimeoutMs: number
  unreachableMarkMs: number
  /** retryable registry failures tried again at most this often */
  maxRetries?: number
  now?: () => number
}

/** How long after its deadline a relayed attempt's slot is freed when its origin never cancelled it. */
const RELAY_GRACE_MS = 5_000
const SHOW_DELEGATES = 20
const NO_MARKS: ReadonlyMap<string, UnreachableMark> = new Map()

export class Dispatcher {
  readonly #o: DispatcherOptions
  readonly #now: () => number
  readonly #maxRetries: number
  readonly #fleet = new DelegateFleet()
  /** attempt id → this replica's attempt */
  readonly #attempts = new Map<string, Attempt>()
  /** attempt id → another replica's attempt on a delegate owned here */
  readonly #relayed = new Map<string, Relayed>()
  /** delegate id → ids of the attempts (ours and relayed) in flight on it */
  readonly #onDelegate = new Map<string, Set<string>>()
  /** registry host → delegate id → mark */
  readonly #unreachable = new Map<string, Map<string, UnreachableMark>>()
  #closed = false

  constructor(opts: DispatcherOptions) {
    this.#o = opts
    this.#now = opts.now ?? Date.now
    this.#maxRetries = opts.maxRetries ?? 3
  }

  get replicaId(): string {
    return this.#o.replicaId
  }

  /** Every delegate this replica knows, its own and other replicas'. */
  get fleet(): Pick<DelegateFleet, 'get' | 'values' | 'size' | 'matching'> {
    return this.#fleet
  }

  /** Delegates connected to this replica. */
  localDelegates(): DelegateRecord[] {
    return [...this.#fleet.values()].filter((d) => d.local)
  }

  local(id: string): DelegateRecord | undefined {
    const d = this.#fleet.get(id)
    return d?.local ? d : undefined
  }

  /** Delegates owned here whose heartbeat is older than the timeout, for the socket layer to end. */
  silentDelegates(): DelegateRecord[] {
    const now = this.#now()
    return this.localDelegates().filter((d) => now - d.lastHeartbeatAt > this.#o.heartbeatTimeoutMs)
  }

  // ── delegates ─────────────────────────────────────────────────────────────────────────────

  /** A delegate said hello on this replica. */
  addLocal(hello: { id: string; name: string; tags: readonly string[]; capacity: number; version: string; tokenId: string }, transport: Transport): DelegateRecord {
    const before = this.#fleet.get(hello.id)
    if (before) this.removeDelegate(hello.id, before.local ? 'replaced by a new connection' : 'reconnected to this replica')
    const now = this.#now()
    const tags = normalizeTags(hello.tags)
    const record: DelegateRecord = {
      id: hello.id,
      name: hello.name,
      tags,
      selectors: selectorsOf(hello.name, tags),
      version: hello.version,
      capacity: hello.capacity,
      draining: false,
      connectedAt: now,
      owner: this.#o.replicaId,
      local: true,
      active: 0,
      full: false,
      // the connection's start: a reconnected delegate's states are newer than the old connection's
      rev: now,
      refusedRev: 0,
      lastHeartbeatAt: now,
      lastAssignedAt: 0,
      tokenId: hello.tokenId,
      transport,
    }
    this.#fleet.add(record)
    this.#o.events.localUp(record)
    this.#o.events.slotsFreed(record)
    return record
  }

  /** Another replica describes a delegate it owns (newer states only). */
  upsertRemote(owner: string, state: DelegateState, transport: Transport): void {
    const existing = this.#fleet.get(state.id)
    if (existing?.local) return // its socket is here: our own count wins
    if (existing && existing.owner === owner) {
      if (state.rev < existing.rev) return
      if (existing.name !== state.name || existing.tags.join() !== state.tags.join()) {
        existing.name = state.name
        existing.tags = state.tags
        this.#fleet.reindex(existing, selectorsOf(state.name, state.tags))
      }
      existing.capacity = state.capacity
      existing.draining = state.draining
      existing.full = state.full
      existing.version = state.version
      existing.rev = state.rev
      return
    }
    if (existing) this.removeDelegate(existing.id, `moved to replica ${owner}`)
    this.#fleet.add({
      id: state.id,
      name: state.name,
      tags: state.tags,
      selectors: selectorsOf(state.name, state.tags),
      version: state.version,
      capacity: state.capacity,
      draining: state.draining,
      connectedAt: state.connectedAt,
      owner,
      local: false,
      active: 0,
      full: state.full,
      rev: state.rev,
      refusedRev: 0,
      lastHeartbeatAt: this.#now(),
      lastAssignedAt: 0,
      tokenId: '',
      transport,
    })
  }

  /**
   * The delegate is gone (closed, silent, replaced, revoked, its owner gone): this replica's
   * tasks on it are placed again, other replicas' are reported lost to them. With `owner`, only
   * when that replica still owns it (a late "down" must not remove a reconnected delegate).
   */
  removeDelegate(id: string, reason: string, owner?: string): void {
    const record = this.#fleet.get(id)
    if (!record || (owner !== undefined && record.owner !== owner)) return
    this.#fleet.delete(id)
    for (const attemptId of [...(this.#onDelegate.get(id) ?? [])]) {
      const relayed = this.#relayed.get(attemptId)
      if (relayed) {
        this.#endRelay(relayed)
        this.#o.events.relayLost(relayed.origin, id, attemptId, `delegate ${record.name} left its replica (${reason})`)
        continue
      }
      const attempt = this.#attempts.get(attemptId)
      if (attempt) this.#lose(attempt, `delegate ${record.name} lost while holding the task (${reason})`)
    }
    this.#onDelegate.delete(id)
    if (record.local) this.#o.events.localDown(record)
  }

  /** Every delegate of a replica that stopped (or stopped answering). */
  removeReplica(owner: string, reason: string): void {
    for (const d of [...this.#fleet.values()]) if (!d.local && d.owner === owner) this.removeDelegate(d.id, reason, owner)
  }

  heartbeat(id: string): void {
    const d = this.local(id)
    if (d) d.lastHeartbeatAt = this.#now()
  }

  drain(id: string): void {
    const d = this.local(id)
    if (!d || d.draining) return
    d.draining = true
    d.rev++
    this.#o.events.localUp(d)
  }

  /** Records that a delegate cannot reach a registry host until `mark.until` (also marks other replicas saw). */
  markUnreachable(registryHost: string, delegateId: string, mark: UnreachableMark): void {
    let marks = this.#unreachable.get(registryHost)
    if (!marks) this.#unreachable.set(registryHost, (marks = new Map<string, UnreachableMark>()))
    const now = this.#now()
    for (const [id, m] of marks) if (m.until <= now) marks.delete(id)
    if ((marks.get(delegateId)?.until ?? 0) >= mark.until) return
    marks.set(delegateId, mark)
  }

  /**
   * What placing a task with these selectors on this registry would do now, without doing it:
   * every delegate this replica knows with the reasons it is not eligible, and the pick.
   */
  preview(selectors: readonly string[], registryHost: string, historyDelegateId: string | null): Preview {
    const input = {
      selectors,
      now: this.#now(),
      heartbeatTimeoutMs: this.#o.heartbeatTimeoutMs,
      unreachable: this.#unreachable.get(registryHost) ?? NO_MARKS,
      historyDelegateId,
    }
    const delegates = [...this.#fleet.values()].map((d) => ({ record: d, reasons: reasonsAgainst(d, input) }))
    const selection = selectDelegate({ ...input, candidates: this.#fleet.matching(selectors), matched: true, connected: this.#fleet.size })
    return { delegates, selection }
  }

  // ── tasks ─────────────────────────────────────────────────────────────────────────────────

  /** One stint of a task on this replica, to its outcome or until it parks. */
  async run(task: DispatchTask, hooks: DispatchHooks): Promise<RunEnd> {
    const historyDelegateId = await this.#o.history.get(task.connectorId)
    return new Promise<RunEnd>((resolve) => {
      const run: TaskRun = {
        task,
        hooks,
        state: 'placing',
        attempts: task.attempts,
        retries: task.retries,
        waitReason: task.waitReason,
        historyDelegateId,
        attempt: null,
        lastDelegate: null,
        timer: null,
        resolve,
      }
      const left = task.deadline - this.#now()
      if (left <= 0) return this.#deadlinePassed(run)
      run.timer = setTimeout(() => this.#onDeadline(run), left)
      this.#place(run)
    })
  }

  /** A result from a delegate owned here, or one relayed back by the owner of a remote delegate. */
  onResult(delegateId: string, message: TaskResultMessage): void {
    const relayed = this.#relayed.get(message.attemptId)
    if (relayed && relayed.delegateId === delegateId) {
      this.#endRelay(relayed)
      this.#o.events.relayResult(relayed.origin, delegateId, message)
      return
    }
    const attempt = this.#attempts.get(message.attemptId)
    if (!attempt || attempt.delegate.id !== delegateId || attempt.run.task.taskId !== message.taskId) {
      this.#o.log.warn({ delegateId, taskId: message.taskId, attemptId: message.attemptId }, 'late or unknown task result dropped')
      return
    }
    const { run, delegate } = attempt
    this.#release(attempt, message.outcome.ok ? 'succeeded' : 'failed', message.outcome.ok ? undefined : message.outcome.error.code)
    run.attempt = null
    if (message.outcome.ok) {
      run.hooks.log(`succeeded on ${delegate.name}`)
      this.#o.history.set(run.task.connectorId, delegate.id)
      this.#end(run, { kind: 'outcome', outcome: { status: 'succeeded', result: message.outcome.result, delegate: ref(delegate), attempts: run.attempts } })
      return
    }
    this.#onFailure(run, delegate, message.outcome.error)
  }

  /** The owner of a remote delegate lost this attempt (its delegate left, or it could not prepare it). */
  attemptLost(delegateId: string, attemptId: string, reason: string): void {
    const attempt = this.#attempts.get(attemptId)
    if (!attempt || attempt.delegate.id !== delegateId) return
    this.#lose(attempt, `${attempt.delegate.name}: ${reason}`)
  }

  /** The owner of a remote delegate had no slot (at its `rev`), or the connector changed since the task was prepared. */
  refused(delegateId: string, attemptId: string, rev: number, reason: string): void {
    const attempt = this.#attempts.get(attemptId)
    if (!attempt || attempt.delegate.id !== delegateId) return
    const { run, delegate } = attempt
    this.#release(attempt, 'refused')
    run.attempt = null
    run.attempts--
    if (reason === STALE_CONNECTOR) {
      run.hooks.log(`the connector changed while the task was handed to ${delegate.name}; preparing it again`)
      this.#park(run, this.#now(), null, true)
      return
    }
    delegate.refusedRev = Math.max(delegate.refusedRev, rev)
    run.hooks.log(`${delegate.name} refused the task on its replica (${reason}); not offering it again until that changes`)
    this.#place(run)
  }

  /** The owner side of a hand-over: take a slot for another replica's attempt, or say why not. */
  acceptRelay(origin: string, delegateId: string, attemptId: string, deadline: number): { rev: number; reason: string } | null {
    const d = this.local(delegateId)
    if (!d) return { rev: Number.MAX_SAFE_INTEGER, reason: 'no longer connected to this replica' }
    if (d.draining) return { rev: d.rev, reason: 'draining' }
    if (d.active >= d.capacity) return { rev: d.rev, reason: `no free slot (${d.active}/${d.capacity})` }
    const wait = Math.max(0, deadline - this.#now()) + RELAY_GRACE_MS
    const relayed: Relayed = { id: attemptId, origin, delegateId, timer: setTimeout(() => this.cancelRelay(delegateId, attemptId), wait) }
    relayed.timer.unref()
    this.#relayed.set(attemptId, relayed)
    this.#take(d, attemptId)
    return null
  }

  /** The delegate holds this attempt (this replica's, or one relayed to it): its result is awaited (result chunks, gateway). */
  holds(delegateId: string, attemptId: string): boolean {
    const relayed = this.#relayed.get(attemptId)
    if (relayed) return relayed.delegateId === delegateId
    return this.#attempts.get(attemptId)?.delegate.id === delegateId
  }

  /** A relayed attempt ended without a result reaching us (cancelled, could not be prepared, past its deadline). */
  cancelRelay(delegateId: string, attemptId: string): void {
    const relayed = this.#relayed.get(attemptId)
    if (relayed && relayed.delegateId === delegateId) this.#endRelay(relayed)
  }

  /** Stops timers. Stints in flight stay unresolved: their BullMQ jobs are picked up again elsewhere. */
  close(): void {
    this.#closed = true
    for (const a of this.#attempts.values()) if (a.run.timer) clearTimeout(a.run.timer)
    for (const r of this.#relayed.values()) clearTimeout(r.timer)
  }

  // ── placing ───────────────────────────────────────────────────────────────────────────────

  #select(run: TaskRun): Selection {
    const { task } = run
    return selectDelegate({
      selectors: task.selectors,
      candidates: this.#fleet.matching(task.selectors),
      matched: true,
      connected: this.#fleet.size,
      now: this.#now(),
      heartbeatTimeoutMs: this.#o.heartbeatTimeoutMs,
      unreachable: this.#unreachable.get(task.registryHost) ?? NO_MARKS,
      historyDelegateId: run.historyDelegateId,
    })
  }

  #place(run: TaskRun): void {
    if (this.#closed) return
    run.state = 'placing'
    const sel = this.#select(run)
    switch (sel.kind) {
      case 'picked': {
        for (const line of sel.log) run.hooks.log(line)
        const delegate = this.#fleet.get(sel.delegate.id)!
        const id = randomUUID()
        const trace = run.hooks.attempt?.({ attemptId: id, delegate, via: sel.via, eligible: sel.eligible, replicaId: this.#o.replicaId }) ?? null
        const attempt: Attempt = { id, run, delegate, trace }
        this.#attempts.set(attempt.id, attempt)
        this.#take(delegate, attempt.id)
        delegate.lastAssignedAt = this.#now()
        run.state = 'running'
        run.attempt = attempt
        run.attempts++
        run.waitReason = null
        run.lastDelegate = ref(delegate)
        run.hooks.onState(this.#progress(run, 'running'))
        const { task } = run
        this.#o.events.placed(delegate, this.#now() - task.createdAt)
        const message: TaskAssign = { type: 'task.assign', taskId: task.taskId, attemptId: attempt.id, task: task.spec, deadline: task.deadline }
        if (trace?.traceparent) message.traceparent = trace.traceparent
        delegate.transport.assign(message, task)
        return
      }
      case 'unreachable': {
        for (const line of sel.log) run.hooks.log(line)
        const list = sel.failures.map((f) => `${f.delegate}: ${f.code}`).join('; ')
        this.#fail(run, {
          code: TaskErrorCode.DELEGATE_CANNOT_REACH_REGISTRY,
          message:
            `no delegate can reach ${run.task.registryHost} (${list}). ` +
            "Check the URL, the delegates' network, proxy and REGISTRY_CA_FILE, or add a delegate inside the registry's network.",
          details: { delegates: sel.failures },
        })
        return
      }
      case 'wait':
        if (run.waitReason !== sel.reason) {
          for (const line of sel.log) run.hooks.log(line)
          run.waitReason = sel.reason
        }
        this.#park(run, run.task.deadline, run.task.selectors, false)
        return
    }
  }

  #take(d: DelegateRecord, attemptId: string): void {
    let ids = this.#onDelegate.get(d.id)
    if (!ids) this.#onDelegate.set(d.id, (ids = new Set()))
    ids.add(attemptId)
    d.active++
    if (d.local) this.#o.events.load(d)
    if (d.local && d.active === d.capacity) {
      d.rev++
      this.#o.events.localUp(d)
    }
  }

  #release(attempt: Attempt, how: AttemptEnd, code?: string): void {
    attempt.trace?.end(how, code)
    this.#attempts.delete(attempt.id)
    this.#free(attempt.delegate, attempt.id)
  }

  #endRelay(relayed: Relayed): void {
    clearTimeout(relayed.timer)
    this.#relayed.delete(relayed.id)
    const d = this.#fleet.get(relayed.delegateId)
    if (d) this.#free(d, relayed.id)
  }

  #free(d: DelegateRecord, attemptId: string): void {
    const ids = this.#onDelegate.get(d.id)
    if (!ids?.delete(attemptId)) return
    const wasFull = d.active >= d.capacity
    d.active--
    if (!d.local || this.#fleet.get(d.id) !== d) return
    this.#o.events.load(d)
    if (wasFull) {
      d.rev++
      this.#o.events.localUp(d)
    }
    if (!d.draining) this.#o.events.slotsFreed(d)
  }

  /** The attempt will not answer: place the task again. */
  #lose(attempt: Attempt, why: string): void {
    const { run } = attempt
    this.#release(attempt, 'lost')
    if (run.state !== 'running' || run.attempt !== attempt) return
    run.attempt = null
    run.hooks.log(`${why}; reassigning`)
    this.#place(run)
  }

  #onFailure(run: TaskRun, d: DelegateRecord, error: WireFailure): void {
    if (error.cannotReach) {
      const mark = { code: error.code, message: error.message, until: this.#now() + this.#o.unreachableMarkMs }
      this.markUnreachable(run.task.registryHost, d.id, mark)
      this.#o.events.mark(run.task.registryHost, d.id, mark)
      run.hooks.log(`${d.name} cannot reach ${run.task.registryHost} (${error.code}); marked for ${this.#o.unreachableMarkMs} ms, trying another delegate`)
      this.#place(run)
      return
    }
    const left = run.task.deadline - this.#now()
    const wait = error.retryAfterMs ?? Math.min(2_000, 100 * 2 ** run.retries) * (0.5 + Math.random() / 2)
    if (error.retryable && run.retries < this.#maxRetries && wait < left) {
      run.retries++
      run.hooks.log(`${d.name} failed with ${error.code} (retryable); retrying in ${Math.round(wait)} ms`)
      this.#park(run, this.#now() + wait, null, false)
      return
    }
    run.hooks.log(`failed on ${d.name}: ${error.code}`)
    const taskError: TaskError = { code: error.code, message: error.message }
    if (error.status !== undefined) taskError.status = error.status
    if (error.retryAfterMs !== undefined) taskError.retryAfterMs = error.retryAfterMs
    if (error.registryErrors !== undefined) taskError.registryErrors = error.registryErrors
    this.#end(run, { kind: 'outcome', outcome: { status: 'failed', error: taskError, delegate: ref(d), attempts: run.attempts } })
  }

  #onDeadline(run: TaskRun): void {
    run.timer = null
    const attempt = run.attempt
    if (run.state !== 'running' || !attempt) return
    this.#release(attempt, 'expired')
    run.attempt = null
    attempt.delegate.transport.cancel({ type: 'task.cancel', taskId: run.task.taskId, attemptId: attempt.id, reason: 'task timed out' })
    run.hooks.log(`timed out while running on ${attempt.delegate.name}; cancelled there`)
    this.#end(run, { kind: 'outcome', outcome: { status: 'expired', error: expired(run), delegate: run.lastDelegate, attempts: run.attempts } })
  }

  /** A stint that starts at or after the deadline (a parked task whose time ran out). */
  #deadlinePassed(run: TaskRun): void {
    const sel = this.#select(run)
    if (run.attempts === 0 && sel.kind === 'wait') {
      const delegates = [...this.#fleet.values()].map((d) => `${d.name} [${d.tags.join(', ')}]`).sort()
      const shown = delegates.length > SHOW_DELEGATES ? [...delegates.slice(0, SHOW_DELEGATES), `and ${delegates.length - SHOW_DELEGATES} more`] : delegates
      const { task } = run
      const message =
        `no eligible delegate within ${Math.round((task.deadline - task.createdAt) / 1000)} s: ${sel.reason}` +
        (task.selectors.length ? `; required selectors [${task.selectors.join(', ')}]` : '') +
        `; connected delegates: ${shown.length ? shown.join('; ') : 'none'}. ` +
        'Start a delegate with DELEGATE_TAGS covering these selectors, or change the selectors.'
      run.hooks.log(`gave up: ${sel.reason}`)
      this.#fail(run, { code: TaskErrorCode.NO_ELIGIBLE_DELEGATE, message, details: { selectors: task.selectors, delegates: shown } })
      return
    }
    run.hooks.log('timed out waiting to run again')
    this.#end(run, { kind: 'outcome', outcome: { status: 'expired', error: expired(run), delegate: run.lastDelegate, attempts: run.attempts } })
  }

  #fail(run: TaskRun, error: TaskError): void {
    this.#end(run, { kind: 'outcome', outcome: { status: 'failed', error, delegate: run.lastDelegate, attempts: run.attempts } })
  }

  #park(run: TaskRun, until: number, waitingFor: readonly string[] | null, refresh: boolean): void {
    this.#end(run, { kind: 'park', until, waitingFor, refresh, progress: this.#progress(run, 'queued') })
  }

  #progress(run: TaskRun, status: TaskProgress['status']): TaskProgress {
    return { status, delegate: status === 'running' ? run.lastDelegate : null, attempts: run.attempts, retries: run.retries, waitReason: run.waitReason }
  }

  #end(run: TaskRun, end: RunEnd): void {
    if (run.state === 'ended') return
    run.state = 'ended'
    if (run.timer) clearTimeout(run.timer)
    run.timer = null
    run.attempt = null
    run.resolve(end)
  }
}

/** The reason an owner gives when the connector changed between preparing and handing over. */
export const STALE_CONNECTOR = 'stale-connector'

/** Whether a record has a free slot for another task (for the waiting room). */
export function hasFreeSlot(d: DelegateRecord): boolean {
  return !d.draining && !noFreeSlot(d)
}

function ref(d: DelegateRecord): DelegateRef {
  return { id: d.id, name: d.name }
}

function expired(run: TaskRun): TaskError {
  return {
    code: TaskErrorCode.EXPIRED,
    message: `task ${run.task.taskId} did not finish within its timeout (${run.attempts} attempt(s)); raise timeoutMs or check the delegates and the registry`,
  }
}
