/**
 * A running delegate: holds the manager connection, runs the tasks it is given (each with its own
 * AbortController, never more than `capacity`), heart-beats, and drains on SIGTERM.
 */
import type { Logger } from 'pino'
import {
  PROTOCOL_VERSION,
  TaskErrorCode,
  fitProbeResult,
  resultFrames,
  type ManagerMessage,
  type ResultFrame,
  type Probe,
  type ProbeResult,
  type TaskAssign,
  type TaskResult,
  type TaskResultMessage,
  type TaskSpec,
  type WireFailure,
} from '../../protocol/src/index.ts'
import { ManagerConnection } from './manager-connection.ts'
import type { DelegateObserver } from './metrics.ts'
import { RegistryError } from './registry/errors.ts'
import { DEFAULT_PASSWORD_REFS, parsePasswordRefs, resolvePassword, type PasswordRefPolicy } from './resolve-password.ts'

/** What runs registry work; the RegistryClient in production. */
export interface TaskRunner {
  /**
   * `deadline` (epoch ms) bounds waits such as Retry-After; `signal` aborts at once; `trace`: the
   * assignment, whose traceparent the work's trace continues. A failure the task may report is a
   * RegistryError; anything else thrown ends the task INTERNAL.
   */
  run(task: TaskSpec, signal: AbortSignal, opts?: RunOptions): Promise<TaskResult>
  /** Whether the registry is reachable from here (network and TLS); never throws. Absent: not supported. */
  probe?(url: string, signal: AbortSignal): Promise<Omit<ProbeResult, 'type' | 'probeId'>>
  close(): Promise<void>
}

export interface RunOptions {
  deadline?: number
  trace?: { taskId: string; attemptId: string; traceparent?: string | undefined }
}

/** Probes at once; more are answered at once as refused (they are cheap, but not free). */
const MAX_PROBES = 16
const PROBE_TIMEOUT_MS = 5_000

export interface DelegateOptions {
  managerUrls: readonly string[]
  token: string
  name: string
  tags: readonly string[]
  capacity: number
  version: string
  log: Logger
  runner: TaskRunner
  env: Readonly<Record<string, string | undefined>>
  /** DELEGATE_PASSWORD_REFS; default env:REGISTRY_PASSWORD_* */
  passwordRefs?: Omit<PasswordRefPolicy, 'env'>
  proxy?: { httpProxy?: string; httpsProxy?: string; noProxy?: string }
  /** metrics (DELEGATE_HEALTH_PORT on) */
  observer?: Pick<DelegateObserver, 'taskEnded' | 'reconnecting'> | undefined
}

interface Running {
  taskId: string
  attemptId: string
  controller: AbortController
  done: Promise<void>
}

export class Delegate {
  readonly #opts: DelegateOptions
  readonly #log: Logger
  readonly #conn: ManagerConnection
  readonly #running = new Map<string, Running>()
  readonly #passwordRefs: PasswordRefPolicy
  #heartbeat: NodeJS.Timeout | null = null
  /** results that travel in chunks go one at a time (the manager holds one partial result per delegate) */
  #streams: Promise<unknown> = Promise.resolve()
  #probes = 0
  #draining = false
  #delegateId: string | null = null

  constructor(opts: DelegateOptions) {
    this.#opts = opts
    this.#log = opts.log
    this.#passwordRefs = {
      ...(opts.passwordRefs ?? { patterns: parsePasswordRefs(DEFAULT_PASSWORD_REFS), spec: DEFAULT_PASSWORD_REFS, ownFiles: [] }),
      env: opts.env,
    }
    const connOpts: ConstructorParameters<typeof ManagerConnection>[0] = {
      urls: opts.managerUrls,
      token: opts.token,
      log: opts.log,
      hello: () => ({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        name: opts.name,
        tags: [...opts.tags],
        capacity: opts.capacity,
        version: opts.version,
      }),
      onMessage: (m) => this.#onMessage(m),
      onDisconnect: () => this.#onDisconnect(),
      onReconnecting: () => opts.observer?.reconnecting(),
    }
    if (opts.proxy) connOpts.proxy = opts.proxy
    this.#conn = new ManagerConnection(connOpts)
  }

  get id(): string | null {
    return this.#delegateId
  }

  get activeTasks(): number {
    return this.#running.size
  }

  get connectionState() {
    return this.#conn.state
  }

  start(): void {
    this.#conn.start()
  }

  /**
   * SIGTERM: tell the manager to send nothing more, let running tasks finish within `graceMs`
   * (then abort them), close the socket. Resolves when everything is stopped.
   */
  async drain(graceMs: number): Promise<void> {
    if (!this.#draining) {
      this.#draining = true
      this.#conn.send({ type: 'drain' })
      this.#log.info({ running: this.#running.size, graceMs }, 'draining')
    }
    const all = Promise.all([...this.#running.values()].map((r) => r.done))
    const grace = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref())
    if ((await Promise.race([all, grace])) === 'late') {
      this.#log.warn({ running: this.#running.size }, 'grace period over; aborting running tasks')
      for (const r of this.#running.values()) r.controller.abort(new Error('delegate stopping'))
      await all
    }
    await this.close()
  }

  async close(): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    this.#heartbeat = null
    for (const r of this.#running.values()) r.controller.abort(new Error('delegate stopping'))
    await this.#conn.close()
    await this.#opts.runner.close()
  }

  #onMessage(message: ManagerMessage): void {
    switch (message.type) {
      case 'welcome':
        this.#delegateId = message.delegateId
        this.#conn.welcomed()
        this.#log.info({ delegateId: message.delegateId }, 'welcomed by manager')
        if (this.#heartbeat) clearInterval(this.#heartbeat)
        this.#heartbeat = setInterval(
          () => this.#conn.send({ type: 'heartbeat', active: [...this.#running.keys()] }),
          message.heartbeatMs,
        )
        if (this.#draining) this.#conn.send({ type: 'drain' })
        return
      case 'task.assign':
        this.#start(message)
        return
      case 'task.cancel': {
        const r = this.#running.get(message.attemptId)
        if (r) {
          this.#log.info({ taskId: message.taskId, reason: message.reason }, 'task cancelled by manager')
          r.controller.abort(new Error(message.reason))
        }
        return
      }
      case 'probe':
        void this.#probe(message)
        return
      default: {
        const never: never = message
        throw new Error(`unhandled message ${JSON.stringify(never)}`)
      }
    }
  }

  async #probe(message: Probe): Promise<void> {
    const { runner } = this.#opts
    let answer: Omit<ProbeResult, 'type' | 'probeId'>
    if (!runner.probe) answer = { reachable: false, code: TaskErrorCode.INTERNAL, message: 'this delegate cannot probe registries', latencyMs: 0 }
    else if (this.#probes >= MAX_PROBES) answer = { reachable: false, code: TaskErrorCode.INTERNAL, message: `more than ${MAX_PROBES} probes at once; try again`, latencyMs: 0 }
    else {
      this.#probes++
      try {
        answer = await runner.probe(message.url, AbortSignal.timeout(PROBE_TIMEOUT_MS))
      } finally {
        this.#probes--
      }
    }
    this.#conn.send(fitProbeResult({ type: 'probe.result', probeId: message.probeId, ...answer }))
  }

  #onDisconnect(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    this.#heartbeat = null
    // The manager has released these tasks and will run them elsewhere: stop the work here.
    for (const r of this.#running.values()) r.controller.abort(new Error('manager connection lost'))
  }

  #start(assign: TaskAssign): void {
    const log = this.#log.child({ taskId: assign.taskId, attemptId: assign.attemptId, type: assign.task.type })
    if (this.#draining || this.#running.size >= this.#opts.capacity) {
      log.warn({ running: this.#running.size }, 'assignment refused: draining or at capacity')
      this.#fail(assign, { code: TaskErrorCode.DELEGATE_BUSY, message: 'delegate is draining or at capacity', retryable: true })
      return
    }
    const controller = new AbortController()
    // The manager cancels at the deadline; this is the safety net if that message never comes.
    const timeout = setTimeout(() => controller.abort(new Error('task deadline passed')), Math.max(0, assign.deadline - Date.now()) + 2_000)
    const started = Date.now()
    const { observer } = this.#opts
    const done = (async () => {
      try {
        const task = { ...assign.task, registry: await resolvePassword(assign.task.registry, this.#passwordRefs, controller.signal) }
        const trace = { taskId: assign.taskId, attemptId: assign.attemptId, traceparent: assign.traceparent }
        const result = await this.#opts.runner.run(task, controller.signal, { deadline: assign.deadline, trace })
        log.info({ durationMs: Date.now() - started }, 'task succeeded')
        observer?.taskEnded(assign.task.type, 'succeeded')
        await this.#answer({ type: 'task.result', taskId: assign.taskId, attemptId: assign.attemptId, outcome: { ok: true, result } })
      } catch (err) {
        if (controller.signal.aborted) {
          // cancelled, past its deadline or the manager is gone: nobody waits for this answer
          log.info({ durationMs: Date.now() - started, reason: String(controller.signal.reason) }, 'task aborted')
          observer?.taskEnded(assign.task.type, 'aborted')
          return
        }
        const failure = toWireFailure(err)
        if (failure.code === TaskErrorCode.INTERNAL) log.error({ err }, 'task crashed in the delegate')
        log.info({ durationMs: Date.now() - started, code: failure.code }, 'task failed')
        observer?.taskEnded(assign.task.type, 'failed', failure.code)
        this.#fail(assign, failure)
      } finally {
        clearTimeout(timeout)
        this.#running.delete(assign.attemptId)
      }
    })()
    this.#running.set(assign.attemptId, { taskId: assign.taskId, attemptId: assign.attemptId, controller, done })
  }

  #fail(assign: TaskAssign, error: WireFailure): void {
    void this.#answer({ type: 'task.result', taskId: assign.taskId, attemptId: assign.attemptId, outcome: { ok: false, error } })
  }

  /**
   * Sends a task's answer fitted to what the manager accepts (protocol/src/encode-result.ts):
   * in one frame, or as a stream of chunks queued behind any stream still being sent.
   */
  async #answer(message: TaskResultMessage): Promise<void> {
    const frames = resultFrames(message)
    const first = frames.next()
    if (first.done) return
    if (first.value.last) {
      void this.#conn.sendFrames([first.value.text])
      return
    }
    const stream = this.#streams.then(async () => {
      const sent = await this.#conn.sendFrames(texts(first.value, frames))
      if (!sent) this.#log.warn({ taskId: message.taskId, attemptId: message.attemptId }, 'manager connection lost while sending a result')
    })
    this.#streams = stream.catch(() => undefined)
    await stream
  }
}

/** The frames' texts, lazily: the first already taken, then the rest as they are made. */
function* texts(first: ResultFrame, rest: Iterator<ResultFrame>): Generator<string> {
  yield first.text
  for (let r = rest.next(); !r.done; r = rest.next()) yield r.value.text
}

/**
 * A registry failure travels with its own code; anything else thrown is a bug in the delegate,
 * answered INTERNAL (its stack goes to the log, not over the wire).
 */
function toWireFailure(err: unknown): WireFailure {
  if (err instanceof RegistryError) return err.toWire()
  return { code: TaskErrorCode.INTERNAL, message: 'the delegate failed unexpectedly; see its log', retryable: true }
}
