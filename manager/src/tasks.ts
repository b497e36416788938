/**
 * Tasks live in BullMQ from creation to end: the job's data is the request, its progress the
 * current placement, its logs the selection log, its return value the outcome (with the last
 * log lines, so that ending a task is one write). A task that waits for a delegate or backs off
 * is *parked*: a delayed job until its deadline or back-off end, indexed by selector set in the
 * waiting room, holding no worker slot. A manager that dies mid-task leaves the job active
 * without a lock; BullMQ's stalled check hands it to another replica, which runs it again.
 *
 * Callers waiting for a task (`GET ?waitMs`, the connector routes) are answered from memory when
 * this replica ended it, and woken by a task-done notice (a bare task id on pub/sub) when
 * another replica did.
 */
import { randomUUID } from 'node:crypto'
import { DelayedError, Job, Queue, Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { isTaskErrorCode, TaskErrorCode, type TaskResult, type TaskType } from '../../protocol/src/index.ts'
import type { DispatchTask, TaskProgress } from './dispatch-task.ts'
import type { DispatchHooks, RunEnd } from './dispatcher.ts'
import { ManagerError } from './errors.ts'
import type { RedisKeys } from './redis-keys.ts'
import type { DelegateRef, TaskError, TaskOutcome } from './task-outcome.ts'
import { ProgressWriter, type LogRow } from './task-progress.ts'
import { activeTraceparent, StintTrace, traceFields } from './task-tracing.ts'

export const QUEUE_NAME = 'tasks'

export interface TaskRequest {
  type: TaskType
  connectorId: string
  image?: string | undefined
  delegateSelectors?: string[] | undefined
  timeoutMs?: number | undefined
}

export interface TaskData {
  id: string
  type: TaskType
  connectorId: string
  image: string | null
  delegateSelectors: string[]
  timeoutMs: number
  createdAt: number
  /** W3C trace context of the call that created it (tracing on): every stint continues this trace */
  traceparent?: string
}

/** The job's return value: the outcome, when it ended, and the selection-log lines not in the log list. */
type StoredOutcome = TaskOutcome & { finishedAt: number; log?: LogRow[] }

export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'expired'
export const TASK_STATUSES: readonly TaskStatus[] = ['queued', 'running', 'succeeded', 'failed', 'expired']

export interface TaskView {
  id: string
  type: TaskType
  connectorId: string
  image?: string
  delegateSelectors: string[]
  timeoutMs: number
  status: TaskStatus
  attempts: number
  delegate?: DelegateRef
  selectionLog: LogRow[]
  result?: TaskResult
  error?: TaskError
  createdAt: string
  finishedAt?: string
  /** tracing on: the task's trace, and where to see it (MANAGER_TRACE_URL_TEMPLATE, sampled traces) */
  traceId?: string
  traceUrl?: string
}

export const DEFAULT_TIMEOUT_MS = 60_000
/** Task-done notices remembered, for waiters that arrive just after the end. */
const RECENTLY_DONE = 10_000
const CREATED_HERE = 100_000
/** The listings' index keeps the newest INDEX_SIZE tasks (as many as BullMQ keeps ended jobs). */
const INDEX_SIZE = 20_000
const TRIM_EVERY = 100

export interface TasksOptions {
  connection: ConnectionOptions
  redis: Redis
  keys: RedisKeys
  prefix: string
  log: Logger
  concurrency: number
  /** Turns a task into what a delegate needs (connector, decrypted secret, registry host). */
  prepare(data: TaskData, progress: TaskProgress): Promise<DispatchTask>
  dispatch(task: DispatchTask, hooks: DispatchHooks): Promise<RunEnd>
  /** Indexes a task that will wait for a slot of a delegate with these selectors; answers its set's key (waiting-room.ts). */
  park(taskId: string, selectors: readonly string[]): Promise<string>
  /** A task that waited starts a stint: drop its index entry. */
  unpark(taskId: string, setKey: string): void
  /** The connector of a task changed while it was handed over: prepare it from Redis again. */
  refresh(connectorId: string): void
  /** Tells every replica that a task ended (their waiters wake). */
  announceDone(taskId: string): void
  /** Called once per outcome this replica produced (metrics). */
  onOutcome?(data: TaskData, outcome: TaskOutcome): void
  /** a trace id → its URL in a tracing UI, for task views */
  traceLink?: ((traceId: string) => string) | undefined
}

/** A stint of a task in this replica's worker. */
interface InFlight {
  writer: ProgressWriter
  /** this stint wrote every line of the task's log (it never parked or moved), so the view needs no read */
  whole: boolean
}

export class Tasks {
  readonly queue: Queue<TaskData, StoredOutcome>
  readonly #o: TasksOptions
  readonly #inFlight = new Map<string, InFlight>()
  /** task id → callers waiting for its end */
  readonly #waiters = new Map<string, Set<(view: TaskView | null) => void>>()
  /** tasks created here that this replica has not seen end: a waiter needs no first read */
  readonly #createdHere = new Set<string>()
  /** tasks created on this replica, for trimming the index */
  #created = 0
  /** tasks that ended lately (task-done notices), oldest first: a waiter must not wait for them */
  readonly #recentlyDone = new Set<string>()
  #worker: Worker<TaskData, StoredOutcome> | null = null

  constructor(opts: TasksOptions) {
    this.#o = opts
    this.queue = new Queue<TaskData, StoredOutcome>(QUEUE_NAME, {
      connection: opts.connection,
      prefix: opts.prefix,
      defaultJobOptions: {
        attempts: 1,
        removeOnComplete: { age: 7 * 24 * 3600, count: INDEX_SIZE },
        removeOnFail: { age: 7 * 24 * 3600, count: INDEX_SIZE },
      },
    })
    this.queue.on('error', (err) => opts.log.warn({ err: err.message }, 'task queue connection error')) // else BullMQ writes it to stderr
  }

  /** Starts this replica's worker. */
  async start(): Promise<void> {
    const { connection, prefix, concurrency, log } = this.#o
    this.#worker = new Worker<TaskData, StoredOutcome>(QUEUE_NAME, (job, token) => this.#process(job, token), {
      connection,
      prefix,
      concurrency,
      // A replica that dies releases its tasks after lockDuration; the stalled check (every
      // stalledInterval) hands them to a live replica: 15 s at most, inside SPEC §6's 30 s.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      maxStalledCount: 20,
    })
    this.#worker.on('completed', (job, stored) => this.#ended(job, stored))
    this.#worker.on('failed', (job, err) => {
      if (!job) return
      this.#inFlight.delete(job.id!)
      this.#o.announceDone(job.id!)
      this.#wake(job.id!, null)
      log.error({ taskId: job.id, err }, 'task job failed inside the manager')
    })
    this.#worker.on('error', (err) => log.error({ err }, 'task worker error'))
    await this.#worker.waitUntilReady()
  }

  async create(request: TaskRequest, selectors: string[]): Promise<TaskData> {
    const data: TaskData = {
      id: randomUUID(),
      type: request.type,
      connectorId: request.connectorId,
      image: request.image ?? null,
      delegateSelectors: selectors,
      timeoutMs: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      createdAt: Date.now(),
    }
    const traceparent = activeTraceparent()
    if (traceparent) data.traceparent = traceparent
    const { redis, keys } = this.#o
    // The index only serves listings; written beside the job, not before it (one round trip),
    // and cut back to its size on one create in TRIM_EVERY (it may briefly hold a few more).
    const index = redis.pipeline().zadd(keys.taskIndex, data.createdAt, data.id).zadd(keys.taskIndexByConnector(data.connectorId), data.createdAt, data.id)
    // (a connector's index is cut on its own creates: about one in TRIM_EVERY of them)
    if (++this.#created % TRIM_EVERY === 0) {
      index.zremrangebyrank(keys.taskIndex, 0, -(INDEX_SIZE + 1)).zremrangebyrank(keys.taskIndexByConnector(data.connectorId), 0, -(INDEX_SIZE + 1))
    }
    await Promise.all([index.exec(), this.queue.add(data.type, data, { jobId: data.id })])
    this.#createdHere.add(data.id)
    // a missed notice must not keep an id forever (its waiter then reads at its own timeout)
    if (this.#createdHere.size > CREATED_HERE) this.#createdHere.delete(this.#createdHere.values().next().value!)
    return data
  }

  async get(id: string): Promise<TaskView | null> {
    return (await this.#views([id]))[0] ?? null
  }

  /** Waits up to `ms` for the task to end, then returns it as it is. */
  async wait(id: string, ms: number): Promise<TaskView | null> {
    if (ms <= 0) return this.get(id)
    let wake: (view: TaskView | null) => void = () => {}
    const woken = new Promise<TaskView | null>((resolve) => (wake = resolve))
    let waiters = this.#waiters.get(id)
    if (!waiters) this.#waiters.set(id, (waiters = new Set()))
    waiters.add(wake)
    const timer = setTimeout(() => wake(null), ms)
    try {
      // A task created or running here that has not ended yet tells us itself when it ends (or a
      // task-done notice does): nothing to read before.
      if (this.#recentlyDone.has(id) || !(this.#inFlight.has(id) || this.#createdHere.has(id))) {
        const first = await this.get(id)
        if (!first || isFinal(first.status)) return first
      }
      return (await woken) ?? (await this.get(id))
    } finally {
      clearTimeout(timer)
      waiters.delete(wake)
      if (waiters.size === 0) this.#waiters.delete(id)
    }
  }

  /** A task ended on some replica (a task-done notice). */
  onDone(taskId: string): void {
    this.#createdHere.delete(taskId)
    this.#recentlyDone.add(taskId)
    if (this.#recentlyDone.size > RECENTLY_DONE) this.#recentlyDone.delete(this.#recentlyDone.values().next().value!)
    if (!this.#inFlight.has(taskId)) this.#wake(taskId, null)
  }

  async list(filter: { connectorId?: string | undefined; status?: TaskStatus | undefined; limit: number }): Promise<TaskView[]> {
    const { redis, keys } = this.#o
    const index = filter.connectorId ? keys.taskIndexByConnector(filter.connectorId) : keys.taskIndex
    const out: TaskView[] = []
    const batch = Math.max(filter.limit, 100)
    for (let start = 0; out.length < filter.limit && start < INDEX_SIZE; start += batch) {
      const ids = await redis.zrevrange(index, start, start + batch - 1)
      if (ids.length === 0) break
      for (const view of await this.#views(ids)) {
        if (!view) continue
        // A listing carries no results (one tag list can be megabytes); GET /tasks/:id has it.
        delete view.result
        if (!filter.status || view.status === filter.status) out.push(view)
        if (out.length === filter.limit) break
      }
    }
    return out
  }

  /** Waiting (parked included) plus running tasks, for /metrics. */
  async depth(): Promise<{ waiting: number; active: number }> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized')
    return { waiting: (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0 }
  }

  /**
   * Stops taking tasks. `force` leaves running jobs to the stalled check of another replica
   * (a manager going away must not wait for registry calls on its delegates).
   */
  async close(force = true): Promise<void> {
    await this.#worker?.close(force)
    await this.queue.close()
  }

  async #process(job: Job<TaskData, StoredOutcome>, token: string | undefined): Promise<StoredOutcome> {
    const data = job.data
    const log = this.#o.log.child({ taskId: data.id })
    const progress = readProgress(job.progress)
    if (progress.parkedIn) this.#o.unpark(data.id, progress.parkedIn)
    const writer = new ProgressWriter(this.#o.redis, this.queue.toKey(data.id), log)
    const stint = StintTrace.start(data, progress.queuedAt ?? data.createdAt, progress.waitReason)
    const hooks: DispatchHooks = stint
      ? { log: (message) => (writer.log(message), stint.event(message)), onState: (state) => writer.state(state), attempt: (start) => stint.attempt(start) }
      : { log: (message) => writer.log(message), onState: (state) => writer.state(state) }
    // a stint that finds the task running was interrupted: its manager stopped
    if (progress.status === 'running') hooks.log('picked up again after a manager stopped; running it anew')
    this.#inFlight.set(data.id, { writer, whole: job.progress === 0 || job.progress === undefined })
    let end: RunEnd
    try {
      end = await this.#o.dispatch(await this.#o.prepare(data, progress), hooks)
    } catch (err) {
      const code = err instanceof ManagerError && isTaskErrorCode(err.code) ? err.code : TaskErrorCode.INTERNAL
      hooks.log(`could not start: ${code}`)
      if (code === TaskErrorCode.INTERNAL) log.error({ err }, 'task preparation failed')
      const message = err instanceof Error ? err.message : String(err)
      end = { kind: 'outcome', outcome: { status: 'failed', error: { code, message }, delegate: null, attempts: progress.attempts } }
    }
    if (end.kind === 'park') {
      stint?.end({ outcome: 'parked', attempts: end.progress.attempts, waitReason: end.progress.waitReason })
      this.#inFlight.delete(data.id)
      if (end.refresh) this.#o.refresh(data.connectorId)
      // indexed before it is delayed: a job is never delayed without its entry (waiting-room.ts)
      const parkedIn = end.waitingFor ? await this.#o.park(data.id, end.waitingFor) : null
      writer.state({ ...end.progress, parkedIn, queuedAt: Date.now() })
      await writer.flushed()
      await job.moveToDelayed(end.until, token)
      throw new DelayedError()
    }
    const { outcome } = end
    stint?.end({ outcome: outcome.status, attempts: outcome.attempts, code: outcome.status === 'succeeded' ? undefined : outcome.error.code })
    const tail = writer.takePending()
    this.#o.onOutcome?.(data, outcome)
    log.info({ status: outcome.status, code: outcome.status === 'succeeded' ? undefined : outcome.error.code, attempts: outcome.attempts }, 'task finished')
    const stored: StoredOutcome = { ...outcome, finishedAt: Date.now() }
    if (tail.length) stored.log = tail
    return stored
  }

  /** The job is completed in Redis: answer the waiters here, tell the other replicas. */
  #ended(job: Job<TaskData, StoredOutcome>, stored: StoredOutcome): void {
    const id = job.id!
    const inFlight = this.#inFlight.get(id)
    this.#inFlight.delete(id)
    this.#o.announceDone(id)
    const waiters = this.#waiters.get(id)
    if (!waiters) return
    this.#wake(id, inFlight?.whole ? finalView(job.data, inFlight.writer.rows, stored, this.#o.traceLink) : null)
  }

  #wake(id: string, view: TaskView | null): void {
    const waiters = this.#waiters.get(id)
    if (!waiters) return
    for (const wake of [...waiters]) wake(view)
  }

  /** One round trip for any number of tasks: the job hashes and their selection logs. */
  async #views(ids: readonly string[]): Promise<(TaskView | null)[]> {
    if (ids.length === 0) return []
    const pipeline = this.#o.redis.pipeline()
    for (const id of ids) pipeline.hgetall(this.queue.toKey(id)).lrange(`${this.queue.toKey(id)}:logs`, 0, -1)
    const replies = (await pipeline.exec()) ?? []
    return ids.map((id, i) => {
      const hash = replies[2 * i]?.[1] as Record<string, string> | undefined
      const logs = (replies[2 * i + 1]?.[1] as string[] | undefined) ?? []
      if (!hash || !hash.data) return null
      return view(Job.fromJSON<TaskData, StoredOutcome>(this.queue, hash as never, id), logs.map(parseLogRow), this.#o.traceLink)
    })
  }
}

function readProgress(raw: unknown): TaskProgress {
  const p = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<TaskProgress>
  const progress: TaskProgress = { status: p.status ?? 'queued', delegate: p.delegate ?? null, attempts: p.attempts ?? 0, retries: p.retries ?? 0, waitReason: p.waitReason ?? null, parkedIn: p.parkedIn ?? null }
  if (p.queuedAt !== undefined) progress.queuedAt = p.queuedAt
  return progress
}

type TraceLink = TasksOptions['traceLink']

function baseView(data: TaskData, log: LogRow[], link: TraceLink): TaskView {
  const v: TaskView = {
    id: data.id,
    type: data.type,
    connectorId: data.connectorId,
    delegateSelectors: data.delegateSelectors,
    timeoutMs: data.timeoutMs,
    status: 'queued',
    attempts: 0,
    selectionLog: log,
    createdAt: new Date(data.createdAt).toISOString(),
  }
  if (data.image !== null) v.image = data.image
  if (data.traceparent) Object.assign(v, traceFields(data.traceparent, link))
  return v
}

function finalView(data: TaskData, rows: LogRow[], stored: StoredOutcome, link: TraceLink): TaskView {
  const v = baseView(data, [...rows], link)
  applyOutcome(v, stored)
  return v
}

function applyOutcome(v: TaskView, outcome: StoredOutcome): void {
  v.status = outcome.status
  v.attempts = outcome.attempts
  if (outcome.delegate) v.delegate = outcome.delegate
  if (outcome.status === 'succeeded') v.result = outcome.result
  else v.error = outcome.error
  v.finishedAt = new Date(outcome.finishedAt).toISOString()
}

/** What a job's fields say about its task. BullMQ sets finishedOn with returnvalue or failedReason. */
function view(job: Job<TaskData, StoredOutcome>, logs: LogRow[], link: TraceLink): TaskView {
  const outcome = job.returnvalue as StoredOutcome | null | undefined
  const v = baseView(job.data, outcome?.log ? [...logs, ...outcome.log] : logs, link)
  const progress = readProgress(job.progress)
  v.attempts = progress.attempts
  if (job.finishedOn && outcome && typeof outcome === 'object') applyOutcome(v, outcome)
  else if (job.finishedOn && job.failedReason) {
    v.status = 'failed'
    v.error = { code: TaskErrorCode.INTERNAL, message: `the manager could not run this task: ${job.failedReason}` }
    v.finishedAt = new Date(job.finishedOn).toISOString()
  } else if (progress.status === 'running' && progress.delegate) {
    v.status = 'running'
    v.delegate = progress.delegate
  }
  return v
}

export function isFinal(status: TaskStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'expired'
}

function parseLogRow(row: string): LogRow {
  try {
    const parsed = JSON.parse(row) as LogRow
    return { at: parsed.at, message: parsed.message }
  } catch {
    return { at: '', message: row }
  }
}
