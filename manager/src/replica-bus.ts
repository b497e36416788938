/**
 * Several managers on one Redis (SPEC §6): what replicas tell each other, over pub/sub, in the
 * messages of protocol/src/replica-messages.ts (decoded here, at the edge).
 *
 * - The fleet: each replica announces the delegates it owns when they connect, change state (a
 *   slot frees on a full delegate, it drains) or leave, so every replica knows every delegate
 *   within milliseconds, with traffic that grows with changes, not with the number of delegates.
 *   A replica that starts, or resubscribes after a lost connection, reads the directory once.
 *   Liveness keys with a TTL tell a dead replica from a quiet one.
 * - Hand-overs: a task placed on another replica's delegate travels to that owner, which takes a
 *   slot for it or refuses (delegate-record.ts), adds the credentials back from the connector
 *   (they never cross Redis) and answers with the result, or with "lost".
 * - Notices: selector sets that gained waiting tasks, connectors that changed, cannot-reach marks.
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import {
  decodeFleetMessage,
  decodeHandoverMessage,
  encodeReplicaMessage,
  type HandoverMessage,
  type ProbeResult,
  type TaskAssign,
  type TaskResultMessage,
  type UnreachableMarkWire,
} from '../../protocol/src/index.ts'
import type { DelegateDirectory } from './delegate-directory.ts'
import { localState } from './delegate-directory.ts'
import type { DelegateRecord, Transport } from './delegate-record.ts'
import { STALE_CONNECTOR, type Dispatcher } from './dispatcher.ts'
import type { TaskPreparer } from './prepare-task.ts'
import type { Prober } from './prober.ts'
import type { RedisKeys } from './redis-keys.ts'
import { handoverSpan } from './task-tracing.ts'
import type { WaitingRoom } from './waiting-room.ts'

/** Results larger than this go through a Redis key rather than pub/sub (whose buffers have limits). */
const INLINE_RESULT_BYTES = 512 * 1024
const RELAYED_RESULT_TTL_MS = 5 * 60_000
const LIVENESS_CHECK_MS = 5_000
const RESYNC_MS = 60_000

export interface ReplicaBusOptions {
  redis: Redis
  /** a second connection: a subscribed ioredis client can do nothing else */
  subscriber: Redis
  keys: RedisKeys
  replicaId: string
  dispatcher: () => Dispatcher
  directory: DelegateDirectory
  waiting: () => WaitingRoom
  preparer: TaskPreparer
  prober: () => Prober
  log: Logger
  /** a task ended on some replica (the done channel) */
  onDone(taskId: string): void
}

export class ReplicaBus {
  readonly #o: ReplicaBusOptions
  readonly #timers: NodeJS.Timeout[] = []
  #started = false
  #closed = false

  constructor(opts: ReplicaBusOptions) {
    this.#o = opts
  }

  async start(): Promise<void> {
    const { subscriber, keys, replicaId, log } = this.#o
    subscriber.on('error', (err: Error) => log.warn({ err: err.message }, 'replica bus connection error'))
    subscriber.on('message', (channel: string, raw: string) => {
      try {
        if (channel === keys.doneChannel) this.#o.onDone(raw)
        else if (channel === keys.fleetChannel) this.#onFleet(raw)
        else this.#onHandover(raw)
      } catch (err) {
        log.error({ err, channel }, 'replica message handling failed')
      }
    })
    // after a lost connection, messages may have been missed: learn the fleet again, and read
    // connectors afresh (a change notice may be among them; Redis may even have come back empty)
    subscriber.on('ready', () => {
      if (!this.#started) return
      this.#o.preparer.invalidateAll()
      void this.#resync().catch((err: unknown) => log.warn({ err }, 'fleet resync failed'))
    })
    await subscriber.subscribe(keys.fleetChannel, keys.doneChannel, keys.replicaChannel(replicaId))
    await this.#resync()
    this.#started = true
    this.#timers.push(
      setInterval(() => void this.#checkLiveness().catch((err: unknown) => log.warn({ err }, 'replica liveness check failed')), LIVENESS_CHECK_MS),
      setInterval(() => void this.#resync().catch((err: unknown) => log.warn({ err }, 'fleet resync failed')), RESYNC_MS),
    )
    for (const t of this.#timers) t.unref()
  }

  /** Tells the others this replica is gone (their tasks on its delegates run elsewhere at once). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#timers) clearInterval(t)
    await this.#o.redis.publish(this.#o.keys.fleetChannel, encodeReplicaMessage({ t: 'replica-down', replica: this.#o.replicaId })).catch(() => undefined)
    await this.#o.subscriber.quit().catch(() => undefined)
  }

  // ── what this replica announces ───────────────────────────────────────────────────────────

  delegateUp(record: DelegateRecord): void {
    this.#fleet({ t: 'up', replica: this.#o.replicaId, delegate: localState(record) })
  }

  delegateDown(record: DelegateRecord): void {
    this.#fleet({ t: 'down', replica: this.#o.replicaId, id: record.id })
  }

  /** Shares a "cannot reach" mark with every replica (and with replicas that start later). */
  mark(registryHost: string, delegateId: string, mark: UnreachableMarkWire): void {
    this.#o.redis
      .hset(this.#o.keys.unreachable, `${registryHost} ${delegateId}`, JSON.stringify(mark))
      .catch((err: unknown) => this.#o.log.warn({ err }, 'cannot-reach mark write failed'))
    this.#fleet({ t: 'mark', host: registryHost, delegateId, mark })
  }

  waitingSet(key: string, selectors: string[]): void {
    this.#fleet({ t: 'waiting', key, selectors })
  }

  connectorChanged(id: string): void {
    this.#fleet({ t: 'connector', id })
  }

  taskDone(taskId: string): void {
    this.#o.redis.publish(this.#o.keys.doneChannel, taskId).catch((err: unknown) => this.#o.log.warn({ err }, 'task-done publish failed'))
  }

  /** The owner side: a delegate of ours answered another replica's task. */
  relayResult(origin: string, delegateId: string, message: TaskResultMessage): void {
    const text = JSON.stringify(message)
    if (text.length <= INLINE_RESULT_BYTES) {
      this.#handover(origin, { t: 'result', delegateId, attemptId: message.attemptId, message })
      return
    }
    const ref = this.#o.keys.relayedResult(message.attemptId)
    this.#o.redis
      .set(ref, text, 'PX', RELAYED_RESULT_TTL_MS)
      .then(() => this.#handover(origin, { t: 'result', delegateId, attemptId: message.attemptId, ref }))
      .catch((err: unknown) => {
        this.#o.log.warn({ err }, 'relayed result write failed')
        this.#handover(origin, { t: 'lost', delegateId, attemptId: message.attemptId, reason: 'its replica could not pass the result on' })
      })
  }

  relayLost(origin: string, delegateId: string, attemptId: string, reason: string): void {
    this.#handover(origin, { t: 'lost', delegateId, attemptId, reason })
  }

  /** How this replica reaches a delegate another replica owns: hand-overs to its owner. */
  transportTo(owner: string, delegateId: string): Transport {
    return {
      assign: (message, task) => {
        const { password: _password, ...registry } = message.task.registry
        this.#handover(owner, {
          t: 'assign',
          origin: this.#o.replicaId,
          delegateId,
          taskId: message.taskId,
          attemptId: message.attemptId,
          connectorId: task?.connectorId ?? '',
          connectorRev: task?.connectorRev ?? '',
          deadline: message.deadline,
          spec: { ...message.task, registry },
          ...(message.traceparent ? { traceparent: message.traceparent } : {}),
        })
      },
      cancel: (message) => {
        this.#handover(owner, { t: 'cancel', delegateId, taskId: message.taskId, attemptId: message.attemptId, reason: message.reason })
      },
      probe: (message) => {
        this.#handover(owner, { t: 'probe', origin: this.#o.replicaId, delegateId, probeId: message.probeId, url: message.url })
      },
    }
  }

  /** The owner side of a probe: its answer goes back to the replica that asked. */
  probeResult(origin: string, result: ProbeResult): void {
    this.#handover(origin, { t: 'probe-result', result })
  }

  // ── what this replica hears ───────────────────────────────────────────────────────────────

  #onFleet(raw: string): void {
    const m = decodeFleetMessage(raw)
    if (!m) return
    const dispatcher = this.#o.dispatcher()
    switch (m.t) {
      case 'up':
        if (m.replica !== this.#o.replicaId) dispatcher.upsertRemote(m.replica, m.delegate, this.transportTo(m.replica, m.delegate.id))
        return
      case 'down':
        if (m.replica !== this.#o.replicaId) dispatcher.removeDelegate(m.id, `it left replica ${m.replica}`, m.replica)
        return
      case 'replica-down':
        if (m.replica !== this.#o.replicaId) dispatcher.removeReplica(m.replica, `its replica ${m.replica} stopped`)
        return
      case 'mark':
        dispatcher.markUnreachable(m.host, m.delegateId, m.mark)
        return
      case 'waiting': {
        const room = this.#o.waiting()
        room.known(m.key, m.selectors)
        for (const d of dispatcher.localDelegates()) room.wake(d)
        return
      }
      case 'connector':
        this.#o.preparer.invalidate(m.id)
        return
      default: {
        const never: never = m
        return never
      }
    }
  }

  #onHandover(raw: string): void {
    const m = decodeHandoverMessage(raw)
    if (!m) return
    const dispatcher = this.#o.dispatcher()
    switch (m.t) {
      case 'assign':
        void this.#assign(m)
        return
      case 'cancel': {
        const d = dispatcher.local(m.delegateId)
        d?.transport.cancel({ type: 'task.cancel', taskId: m.taskId, attemptId: m.attemptId, reason: m.reason })
        dispatcher.cancelRelay(m.delegateId, m.attemptId)
        return
      }
      case 'refused':
        dispatcher.refused(m.delegateId, m.attemptId, m.rev, m.reason)
        return
      case 'lost':
        dispatcher.attemptLost(m.delegateId, m.attemptId, m.reason)
        return
      case 'result':
        if (m.message) dispatcher.onResult(m.delegateId, m.message)
        else if (m.ref) void this.#fetchResult(m.delegateId, m.attemptId, m.ref)
        return
      case 'probe':
        this.#o.prober().relay(m.origin, m.probeId, dispatcher.local(m.delegateId), m.url)
        return
      case 'probe-result':
        this.#o.prober().onResult(m.result)
        return
      default: {
        const never: never = m
        return never
      }
    }
  }

  /** The owner side of a hand-over: a slot, the credentials, then the delegate. */
  async #assign(m: Extract<HandoverMessage, { t: 'assign' }>): Promise<void> {
    const dispatcher = this.#o.dispatcher()
    const span = handoverSpan(m.traceparent, { 'rd.task.id': m.taskId, 'rd.attempt.id': m.attemptId, 'rd.origin.replica': m.origin, 'rd.replica': this.#o.replicaId, 'rd.delegate.id': m.delegateId, 'rd.delegate.name': dispatcher.local(m.delegateId)?.name ?? '' })
    const refusal = dispatcher.acceptRelay(m.origin, m.delegateId, m.attemptId, m.deadline)
    if (refusal) {
      span?.end('refused')
      this.#handover(m.origin, { t: 'refused', delegateId: m.delegateId, attemptId: m.attemptId, rev: refusal.rev, reason: refusal.reason })
      return
    }
    let task
    try {
      task = await this.#o.preparer.withCredentials(m.connectorId, m.connectorRev, m.spec)
    } catch (err) {
      this.#o.log.warn({ err, taskId: m.taskId }, 'relayed task could not be prepared')
      span?.end('lost')
      dispatcher.cancelRelay(m.delegateId, m.attemptId)
      this.#handover(m.origin, { t: 'lost', delegateId: m.delegateId, attemptId: m.attemptId, reason: 'its replica could not read the connector' })
      return
    }
    if (task === null) {
      span?.end('refused')
      dispatcher.cancelRelay(m.delegateId, m.attemptId)
      this.#handover(m.origin, { t: 'refused', delegateId: m.delegateId, attemptId: m.attemptId, rev: 0, reason: STALE_CONNECTOR })
      return
    }
    const d = dispatcher.local(m.delegateId)
    span?.end(d ? 'assigned' : 'lost')
    if (!d) return // it left meanwhile; the dispatcher has reported the attempt lost
    const message: TaskAssign = { type: 'task.assign', taskId: m.taskId, attemptId: m.attemptId, task, deadline: m.deadline }
    if (span?.traceparent) message.traceparent = span.traceparent
    d.transport.assign(message, null)
  }

  async #fetchResult(delegateId: string, attemptId: string, ref: string): Promise<void> {
    const { redis, log } = this.#o
    let text: string | null = null
    try {
      text = await redis.getdel(ref)
    } catch (err) {
      log.warn({ err }, 'relayed result read failed')
    }
    if (text === null) {
      this.#o.dispatcher().attemptLost(delegateId, attemptId, 'its result could not be read back from Redis')
      return
    }
    this.#o.dispatcher().onResult(delegateId, JSON.parse(text) as TaskResultMessage)
  }

  /** Learns every other replica's delegates and the shared marks (start, resubscribe, now and then). */
  async #resync(): Promise<void> {
    const dispatcher = this.#o.dispatcher()
    for (const { replica, state } of await this.#o.directory.others()) dispatcher.upsertRemote(replica, state, this.transportTo(replica, state.id))
    const now = Date.now()
    const ended: string[] = []
    for (const [field, raw] of Object.entries(await this.#o.redis.hgetall(this.#o.keys.unreachable))) {
      const mark = JSON.parse(raw) as UnreachableMarkWire
      const [host, delegateId] = field.split(' ') as [string, string]
      if (mark.until <= now) ended.push(field)
      else dispatcher.markUnreachable(host, delegateId, mark)
    }
    if (ended.length) await this.#o.redis.hdel(this.#o.keys.unreachable, ...ended)
  }

  /** Replicas whose liveness key expired (killed, not stopped) lose their delegates here. */
  async #checkLiveness(): Promise<void> {
    const dispatcher = this.#o.dispatcher()
    const owners = new Set<string>()
    for (const d of dispatcher.fleet.values()) if (!d.local) owners.add(d.owner)
    if (owners.size === 0) return
    const alive = await this.#o.directory.alive([...owners])
    for (const owner of owners) if (!alive.has(owner)) dispatcher.removeReplica(owner, `its replica ${owner} stopped answering`)
  }

  #fleet(message: Parameters<typeof encodeReplicaMessage>[0]): void {
    this.#o.redis.publish(this.#o.keys.fleetChannel, encodeReplicaMessage(message)).catch((err: unknown) => this.#o.log.warn({ err }, 'fleet publish failed'))
  }

  #handover(replica: string, message: Parameters<typeof encodeReplicaMessage>[0]): void {
    this.#o.redis.publish(this.#o.keys.replicaChannel(replica), encodeReplicaMessage(message)).catch((err: unknown) => {
      this.#o.log.warn({ err, replica }, 'replica publish failed')
    })
  }
}
