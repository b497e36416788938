/**
 * Hands tasks to connected delegates, one delegate per attempt, and turns what happens next
 * (result, failure, disconnect, silence, timeout) into exactly one outcome per task.
 *
 * A task is `pending` (waiting for an eligible delegate) or has one current `Attempt`. Every
 * change that could make a pending task placeable (a delegate connects, a slot frees, a mark
 * expires, a retry's back-off ends) calls `#pump()`, which places pending tasks in FIFO order.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { TaskErrorCode, type ManagerMessage, type TaskResultMessage, type TaskSpec, type WireFailure } from '../../protocol/src/index.ts'
import { selectDelegate, type Candidate, type UnreachableMark } from './select-delegate.ts'
import type { DelegateRef, TaskError, TaskOutcome } from './task-outcome.ts'

export interface DelegateLink extends Candidate {
  tags: string[]
  version: string
  tokenId: string
  connectedAt: number
  /** null: connected to this replica; else the id of the replica that holds its socket */
  remote: string | null
  /** attempt id → attempt, the tasks this replica gave this delegate */
  readonly attempts: Map<string, Attempt>
  /** attempt id → origin replica: tasks other replicas gave this (local) delegate through us */
  readonly relayed: Map<string, string>
  /** `task` comes with task.assign, for links that forward to another replica */
  send(message: ManagerMessage, task?: DispatchTask): void
}

export interface DispatchTask {
  taskId: string
  connectorId: string
  /** host[:port] of the registry API, the unit of "cannot reach" marks */
  registryHost: string
  /** connector's and task's selectors, normalised */
  selectors: string[]
  createdAt: number
  deadline: number
  /** hand-overs made before this run (a restarted manager carries them on) */
  attempts: number
  spec: TaskSpec
}

export interface DispatchHooks {
  /** one selection-log line, in order */
  log(message: string): void
  onState(state: { status: 'queued' | 'running'; delegate: DelegateRef | null; attempts: number }): void
}

export interface HistoryStore {
  get(connectorId: string): Promise<string | null>
  set(connectorId: string, delegateId: string): void
}

interface Attempt {
  id: string
  task: Running
  delegate: DelegateLink
}

interface Running {
  task: DispatchTask
  hooks: DispatchHooks
  attempts: number
  retryableFailures: number
  current: Attempt | null
  lastDelegate: DelegateRef | null
  lastWaitReason: string | null
  historyDelegateId: string | null
  /** set while backing off before a retry: not placeable until then */
  notBefore: number
  timer: NodeJS.Timeout | null
  done: boolean
  resolve(outcome: TaskOutcome): void
}

export interface DispatcherOptions {
  log: Logger
  history: HistoryStore
  heartbeatTimeoutMs: number
  unreachableMarkMs: number
  /** retryable registry failures tried again at most this often */
  maxRetries?: number
  now?: () => number
  /** told of every new "cannot reach" mark, so that other replicas learn it (ReplicaBus) */
  onMark?: (registryHost: string, delegateId: string, mark: UnreachableMark) => void
}

export class Dispatcher {
  readonly #log: Logger
  readonly #history: HistoryStore
  readonly #heartbeatTimeoutMs: number
  readonly #unreachableMarkMs: number
  readonly #onMark: DispatcherOptions['onMark']
  readonly #maxRetries: number
  readonly #now: () => number
  readonly #delegates = new Map<string, DelegateLink>()
  readonly #pending: Running[] = []
  /** registry host → delegate id → mark */
  readonly #unreachable = new Map<string, Map<string, UnreachableMark>>()
  #pumpScheduled = false
  #closed = false

  constructor(opts: DispatcherOptions) {
    this.#log = opts.log
    this.#history = opts.history
    this.#heartbeatTimeoutMs = opts.heartbeatTimeoutMs
    this.#unreachableMarkMs = opts.unreachableMarkMs
    this.#onMark = opts.onMark
    this.#maxRetries = opts.maxRetries ?? 3
    this.#now = opts.now ?? Date.now
  }

  get delegates(): ReadonlyMap<string, DelegateLink> {
    return this.#delegates
  }

  /** Tasks waiting for a delegate, by their selector set ("" for none): what to autoscale on. */
  waitingBySelectors(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const running of this.#pending) {
      if (running.done) continue
      const key = running.task.selectors.join(',')
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    return counts
  }

  addDelegate(link: DelegateLink): void {
    const before = this.#delegates.get(link.id)
    if (before && before !== link) this.removeDelegate(link.id, 'reconnected elsewhere')
    this.#delegates.set(link.id, link)
    this.#schedulePump()
  }

  /** Records that a delegate cannot reach a registry host until `mark.until` (also marks other replicas saw). */
  markUnreachable(registryHost: string, delegateId: string, mark: UnreachableMark): void {
    const marks = this.#unreachable.get(registryHost) ?? new Map<string, UnreachableMark>()
    this.#unreachable.set(registryHost, marks)
    const now = this.#now()
    for (const [id, m] of marks) if (m.until <= now) marks.delete(id)
    if ((marks.get(delegateId)?.until ?? 0) >= mark.until) return
    marks.set(delegateId, mark)
    // when the mark ends, waiting tasks may have a delegate again
    setTimeout(() => this.#schedulePump(), mark.until - now + 1).unref()
  }

  /** Wakes waiting tasks after a change the dispatcher cannot see (a remote delegate's slots). */
  poke(): void {
    this.#schedulePump()
  }

  /** The delegate is gone (closed, silent, replaced, revoked): its tasks run elsewhere. */
  removeDelegate(id: string, reason: string): void {
    const link = this.#delegates.get(id)
    if (!link) return
    this.#delegates.delete(id)
    for (const attempt of [...link.attempts.values()]) this.#lose(link, attempt, `delegate ${link.name} lost while holding the task (${reason})`)
    this.#schedulePump()
  }

  /** One attempt will not answer (the owning replica lost the delegate, or refused the hand-over). */
  attemptLost(delegateId: string, attemptId: string, reason: string): void {
    const link = this.#delegates.get(delegateId)
    const attempt = link?.attempts.get(attemptId)
    if (!link || !attempt) return
    this.#lose(link, attempt, `${link.name}: ${reason}`)
    this.#schedulePump()
  }

  #lose(link: DelegateLink, attempt: Attempt, why: string): void {
    release(link, attempt.id)
    const running = attempt.task
    if (running.done || running.current !== attempt) return
    running.current = null
    running.hooks.log(`${why}; reassigning`)
    running.hooks.onState({ status: 'queued', delegate: null, attempts: running.attempts })
    this.#pending.push(running)
  }

  heartbeat(id: string): void {
    const link = this.#delegates.get(id)
    if (link) link.lastHeartbeatAt = this.#now()
  }

  drain(id: string): void {
    const link = this.#delegates.get(id)
    if (link) link.draining = true
  }

  /** Local delegates whose heartbeat is older than the timeout, for the socket layer to terminate. */
  silentDelegates(): DelegateLink[] {
    const now = this.#now()
    return [...this.#delegates.values()].filter((d) => d.remote === null && now - d.lastHeartbeatAt > this.#heartbeatTimeoutMs)
  }

  /** Delegates connected to this replica. */
  localDelegates(): DelegateLink[] {
    return [...this.#delegates.values()].filter((d) => d.remote === null)
  }

  /** A delegate connected to this replica; the socket layer tracks the hand-overs it relays. */
  local(id: string): DelegateLink | undefined {
    const link = this.#delegates.get(id)
    return link?.remote === null ? link : undefined
  }

  /** After a relayed attempt ends, its slot is free for anyone. */
  releaseRelayed(link: DelegateLink, attemptId: string): void {
    if (link.relayed.delete(attemptId)) {
      link.active = link.attempts.size + link.relayed.size
      this.#schedulePump()
    }
  }

  /** Runs one task to its single outcome. */
  async run(task: DispatchTask, hooks: DispatchHooks): Promise<TaskOutcome> {
    const historyDelegateId = await this.#history.get(task.connectorId)
    return new Promise<TaskOutcome>((resolve) => {
      const running: Running = {
        task,
        hooks,
        attempts: task.attempts,
        retryableFailures: 0,
        current: null,
        lastDelegate: null,
        lastWaitReason: null,
        historyDelegateId,
        notBefore: 0,
        timer: null,
        done: false,
        resolve,
      }
      const left = task.deadline - this.#now()
      if (left <= 0) {
        this.#finish(running, { status: 'expired', error: expired(task, running), delegate: null, attempts: running.attempts })
        return
      }
      running.timer = setTimeout(() => this.#onDeadline(running), left)
      this.#pending.push(running)
      this.#pump()
    })
  }

  onResult(delegateId: string, message: TaskResultMessage): void {
    const link = this.#delegates.get(delegateId)
    const attempt = link?.attempts.get(message.attemptId)
    if (!link || !attempt || attempt.task.task.taskId !== message.taskId) {
      this.#log.warn({ delegateId, taskId: message.taskId, attemptId: message.attemptId }, 'late or unknown task result dropped')
      return
    }
    release(link, attempt.id)
    const running = attempt.task
    this.#schedulePump()
    if (running.done || running.current !== attempt) {
      this.#log.warn({ delegateId, taskId: message.taskId }, 'result for a superseded attempt dropped')
      return
    }
    running.current = null
    const by: DelegateRef = { id: link.id, name: link.name }
    if (message.outcome.ok) {
      running.hooks.log(`succeeded on ${link.name}`)
      this.#history.set(running.task.connectorId, link.id)
      this.#finish(running, { status: 'succeeded', result: message.outcome.result, delegate: by, attempts: running.attempts })
      return
    }
    this.#onFailure(running, link, message.outcome.error)
  }

  /** Stops timers. Runs in flight stay unresolved: their BullMQ jobs are picked up again elsewhere. */
  close(): void {
    this.#closed = true
    for (const running of this.#pending) if (running.timer) clearTimeout(running.timer)
    for (const link of this.#delegates.values()) {
      for (const attempt of link.attempts.values()) if (attempt.task.timer) clearTimeout(attempt.task.timer)
    }
    this.#pending.length = 0
  }

  #onFailure(running: Running, link: DelegateLink, error: WireFailure): void {
    const by: DelegateRef = { id: link.id, name: link.name }
    if (error.cannotReach) {
      const mark = { code: error.code, message: error.message, until: this.#now() + this.#unreachableMarkMs }
      this.markUnreachable(running.task.registryHost, link.id, mark)
      this.#onMark?.(running.task.registryHost, link.id, mark)
      running.hooks.log(
        `${link.name} cannot reach ${running.task.registryHost} (${error.code}); marked for ${this.#unreachableMarkMs} ms, trying another delegate`,
      )
      this.#requeue(running, 0)
      return
    }
    const left = running.task.deadline - this.#now()
    const wait = error.retryAfterMs ?? Math.min(2_000, 100 * 2 ** running.retryableFailures) * (0.5 + Math.random() / 2)
    if (error.retryable && running.retryableFailures < this.#maxRetries && wait < left) {
      running.retryableFailures++
      running.hooks.log(`${link.name} failed with ${error.code} (retryable); retrying in ${Math.round(wait)} ms`)
      this.#requeue(running, wait)
      return
    }
    running.hooks.log(`failed on ${link.name}: ${error.code}`)
    const taskError: TaskError = { code: error.code, message: error.message }
    if (error.status !== undefined) taskError.status = error.status
    if (error.retryAfterMs !== undefined) taskError.retryAfterMs = error.retryAfterMs
    if (error.registryErrors !== undefined) taskError.registryErrors = error.registryErrors
    this.#finish(running, { status: 'failed', error: taskError, delegate: by, attempts: running.attempts })
  }

  #requeue(running: Running, delayMs: number): void {
    running.hooks.onState({ status: 'queued', delegate: null, attempts: running.attempts })
    running.notBefore = this.#now() + delayMs
    this.#pending.push(running)
    if (delayMs > 0) setTimeout(() => this.#schedulePump(), delayMs + 1).unref()
    else this.#schedulePump()
  }

  #onDeadline(running: Running): void {
    running.timer = null
    if (running.done) return
    const attempt = running.current
    if (attempt) {
      release(attempt.delegate, attempt.id)
      attempt.delegate.send({ type: 'task.cancel', taskId: running.task.taskId, attemptId: attempt.id, reason: 'task timed out' })
      running.hooks.log(`timed out while running on ${attempt.delegate.name}; cancelled there`)
      this.#finish(running, { status: 'expired', error: expired(running.task, running), delegate: running.lastDelegate, attempts: running.attempts })
      this.#schedulePump()
      return
    }
    const index = this.#pending.indexOf(running)
    if (index !== -1) this.#pending.splice(index, 1)
    const sel = this.#select(running)
    if (running.attempts === 0 && sel.kind === 'wait') {
      const tags = [...this.#delegates.values()].map((d) => `${d.name} [${d.tags.join(', ')}]`)
      const message =
        `no eligible delegate within ${Math.round((running.task.deadline - running.task.createdAt) / 1000)} s: ${sel.reason}` +
        (running.task.selectors.length ? `; required selectors [${running.task.selectors.join(', ')}]` : '') +
        `; connected delegates: ${tags.length ? tags.join('; ') : 'none'}. ` +
        'Start a delegate with DELEGATE_TAGS covering these selectors, or change the selectors.'
      running.hooks.log(`gave up: ${sel.reason}`)
      this.#finish(running, {
        status: 'failed',
        error: { code: TaskErrorCode.NO_ELIGIBLE_DELEGATE, message, details: { selectors: running.task.selectors, delegates: tags } },
        delegate: null,
        attempts: running.attempts,
      })
      return
    }
    running.hooks.log('timed out waiting to run again')
    this.#finish(running, { status: 'expired', error: expired(running.task, running), delegate: running.lastDelegate, attempts: running.attempts })
  }

  #select(running: Running) {
    return selectDelegate({
      selectors: running.task.selectors,
      candidates: this.#delegates.values(),
      now: this.#now(),
      heartbeatTimeoutMs: this.#heartbeatTimeoutMs,
      unreachable: this.#unreachable.get(running.task.registryHost) ?? new Map(),
      historyDelegateId: running.historyDelegateId,
    })
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#closed) return
    this.#pumpScheduled = true
    queueMicrotask(() => {
      this.#pumpScheduled = false
      this.#pump()
    })
  }

  #pump(): void {
    if (this.#closed || this.#pending.length === 0) return
    const now = this.#now()
    const still: Running[] = []
    for (const running of this.#pending) {
      if (running.done) continue
      if (running.notBefore > now || !this.#place(running)) still.push(running)
    }
    this.#pending.length = 0
    this.#pending.push(...still)
  }

  /** True when the task left the pending list (placed or finished). */
  #place(running: Running): boolean {
    const sel = this.#select(running)
    switch (sel.kind) {
      case 'picked': {
        for (const line of sel.log) running.hooks.log(line)
        const link = this.#delegates.get(sel.delegate.id)!
        const attempt: Attempt = { id: randomUUID(), task: running, delegate: link }
        link.attempts.set(attempt.id, attempt)
        link.active = link.attempts.size + link.relayed.size
        link.lastAssignedAt = this.#now()
        running.current = attempt
        running.attempts++
        running.lastWaitReason = null
        running.lastDelegate = { id: link.id, name: link.name }
        running.hooks.onState({ status: 'running', delegate: running.lastDelegate, attempts: running.attempts })
        link.send(
          {
            type: 'task.assign',
            taskId: running.task.taskId,
            attemptId: attempt.id,
            task: running.task.spec,
            deadline: running.task.deadline,
          },
          running.task,
        )
        return true
      }
      case 'unreachable': {
        for (const line of sel.log) running.hooks.log(line)
        const list = sel.failures.map((f) => `${f.delegate}: ${f.code}`).join('; ')
        this.#finish(running, {
          status: 'failed',
          error: {
            code: TaskErrorCode.DELEGATE_CANNOT_REACH_REGISTRY,
            message:
              `no delegate can reach ${running.task.registryHost} (${list}). ` +
              'Check the URL, the delegates\' network, proxy and REGISTRY_CA_FILE, or add a delegate inside the registry\'s network.',
            details: { delegates: sel.failures },
          },
          delegate: running.lastDelegate,
          attempts: running.attempts,
        })
        return true
      }
      case 'wait':
        if (running.lastWaitReason !== sel.reason) {
          for (const line of sel.log) running.hooks.log(line)
          running.lastWaitReason = sel.reason
        }
        return false
    }
  }

  #finish(running: Running, outcome: TaskOutcome): void {
    if (running.done) return
    running.done = true
    if (running.timer) clearTimeout(running.timer)
    running.timer = null
    running.current = null
    running.resolve(outcome)
  }
}

function release(link: DelegateLink, attemptId: string): void {
  link.attempts.delete(attemptId)
  link.active = link.attempts.size + link.relayed.size
}

function expired(task: DispatchTask, running: { attempts: number }): TaskError {
  return {
    code: TaskErrorCode.EXPIRED,
    message: `task ${task.taskId} did not finish within its timeout (${running.attempts} attempt(s)); raise timeoutMs or check the delegates and the registry`,
  }
}
