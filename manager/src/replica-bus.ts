/**
 * Several managers on one Redis (SPEC §6). Any replica's worker may take a task; the delegate it
 * picks may be connected to another replica. Delegates of other replicas appear in this
 * replica's dispatcher as *remote links* (from the shared directory, refreshed every second);
 * a hand-over to one travels over Redis pub/sub to the replica that holds its socket, and the
 * result travels back the same way.
 *
 *   origin replica                     Redis pub/sub                 owner replica ── delegate
 *   dispatcher ─ assign {taskId, attemptId, connectorId} ─▶ channel:owner ─▶ task.assign ──▶
 *   dispatcher ◀─ result | lost | rejected ──────────────── channel:origin ◀─ task.result ◀─
 *
 * Credentials never cross Redis: the owner rebuilds the registry target from the connector.
 * If the owner dies, its delegates leave the directory within 15 s and the origin reassigns.
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { TaskResultMessage, TaskSpec } from '../../protocol/src/index.ts'
import type { DelegateDirectory } from './delegate-directory.ts'
import type { DelegateLink, Dispatcher, DispatchTask } from './dispatcher.ts'
import type { RedisKeys } from './redis-keys.ts'
import type { UnreachableMark } from './select-delegate.ts'

type BusMessage =
  | {
      kind: 'assign'
      origin: string
      delegateId: string
      taskId: string
      attemptId: string
      connectorId: string
      deadline: number
      /** the spec without any password; the owner adds it back from the connector */
      spec: TaskSpec
    }
  | { kind: 'cancel'; delegateId: string; taskId: string; attemptId: string; reason: string }
  | { kind: 'result'; delegateId: string; message: TaskResultMessage }
  | { kind: 'lost'; delegateId: string; attemptId: string; reason: string }

export interface ReplicaBusOptions {
  redis: Redis
  /** a second connection: a subscribed ioredis client can do nothing else */
  subscriber: Redis
  keys: RedisKeys
  replicaId: string
  dispatcher: Dispatcher
  directory: DelegateDirectory
  log: Logger
  /** the owner's way to add the password back (connector → secret) */
  withCredentials(connectorId: string, spec: TaskSpec): Promise<TaskSpec>
}

export class ReplicaBus {
  readonly #o: ReplicaBusOptions
  #timer: NodeJS.Timeout | null = null

  constructor(opts: ReplicaBusOptions) {
    this.#o = opts
  }

  async start(): Promise<void> {
    const { subscriber, keys, replicaId } = this.#o
    subscriber.on('error', (err: Error) => this.#o.log.warn({ err: err.message }, 'replica bus connection error'))
    subscriber.on('message', (_channel: string, raw: string) => {
      let message: BusMessage
      try {
        message = JSON.parse(raw) as BusMessage
      } catch {
        return
      }
      this.#onMessage(message).catch((err: unknown) => this.#o.log.error({ err }, 'replica message failed'))
    })
    await subscriber.subscribe(keys.replicaChannel(replicaId))
    await this.#refresh()
    this.#timer = setInterval(() => void this.#refresh().catch((err: unknown) => this.#o.log.warn({ err }, 'directory refresh failed')), 1_000)
    this.#timer.unref()
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    await this.#o.subscriber.quit().catch(() => undefined)
  }

  /** Shares a "cannot reach" mark with every replica (they read them on each refresh). */
  recordMark(registryHost: string, delegateId: string, mark: UnreachableMark): void {
    this.#o.redis
      .hset(this.#o.keys.unreachable, `${registryHost} ${delegateId}`, JSON.stringify(mark))
      .catch((err: unknown) => this.#o.log.warn({ err }, 'cannot-reach mark write failed'))
  }

  /** The owner side: a delegate of ours answered a task another replica gave it. */
  relayResult(link: DelegateLink, message: TaskResultMessage): boolean {
    const origin = link.relayed.get(message.attemptId)
    if (origin === undefined) return false
    this.#o.dispatcher.releaseRelayed(link, message.attemptId)
    this.#publish(origin, { kind: 'result', delegateId: link.id, message })
    return true
  }

  /** The owner side: a delegate of ours left while holding tasks of other replicas. */
  relayLost(link: DelegateLink, reason: string): void {
    for (const [attemptId, origin] of link.relayed) {
      this.#publish(origin, { kind: 'lost', delegateId: link.id, attemptId, reason })
    }
    link.relayed.clear()
  }

  async #onMessage(m: BusMessage): Promise<void> {
    const { dispatcher } = this.#o
    switch (m.kind) {
      case 'assign': {
        const link = dispatcher.local(m.delegateId)
        if (!link || link.draining || link.active >= link.capacity) {
          const reason = link ? 'no free slot on its replica' : 'no longer connected to its replica'
          this.#publish(m.origin, { kind: 'lost', delegateId: m.delegateId, attemptId: m.attemptId, reason })
          return
        }
        link.relayed.set(m.attemptId, m.origin)
        link.active = link.attempts.size + link.relayed.size
        let task: TaskSpec
        try {
          task = await this.#o.withCredentials(m.connectorId, m.spec)
        } catch (err) {
          this.#o.log.warn({ err, taskId: m.taskId }, 'relayed task could not be prepared')
          dispatcher.releaseRelayed(link, m.attemptId)
          this.#publish(m.origin, { kind: 'lost', delegateId: m.delegateId, attemptId: m.attemptId, reason: 'its replica could not read the connector' })
          return
        }
        link.send({ type: 'task.assign', taskId: m.taskId, attemptId: m.attemptId, task, deadline: m.deadline })
        return
      }
      case 'cancel': {
        const link = dispatcher.local(m.delegateId)
        if (!link) return
        link.send({ type: 'task.cancel', taskId: m.taskId, attemptId: m.attemptId, reason: m.reason })
        dispatcher.releaseRelayed(link, m.attemptId)
        return
      }
      case 'result':
        dispatcher.onResult(m.delegateId, m.message)
        return
      case 'lost':
        dispatcher.attemptLost(m.delegateId, m.attemptId, m.reason)
        return
      default: {
        const never: never = m
        throw new Error(`unknown bus message ${JSON.stringify(never)}`)
      }
    }
  }

  /** Mirrors the other replicas' delegates and "cannot reach" marks into the dispatcher. */
  async #refresh(): Promise<void> {
    const { dispatcher, directory, replicaId, redis, keys } = this.#o
    const now = Date.now()
    const ended: string[] = []
    for (const [field, raw] of Object.entries(await redis.hgetall(keys.unreachable))) {
      const mark = JSON.parse(raw) as UnreachableMark
      const [host, delegateId] = field.split(' ') as [string, string]
      if (mark.until <= now) ended.push(field)
      else dispatcher.markUnreachable(host, delegateId, mark)
    }
    if (ended.length) await redis.hdel(keys.unreachable, ...ended)
    const seen = new Set<string>()
    for (const d of await directory.live()) {
      if (d.replica === replicaId) continue
      const existing = dispatcher.delegates.get(d.id)
      if (existing && existing.remote === null) continue // connected here too: ours wins
      seen.add(d.id)
      const lastHeartbeatAt = Date.parse(d.lastHeartbeatAt ?? '') || 0
      if (existing && existing.remote === d.replica) {
        existing.tags = d.tags
        existing.selectors = new Set([...d.tags, d.name.toLowerCase()])
        existing.capacity = d.capacity
        existing.draining = d.draining
        existing.lastHeartbeatAt = lastHeartbeatAt
        existing.active = Math.max(d.activeTasks, existing.attempts.size)
        continue
      }
      const owner = d.replica
      const link: DelegateLink = {
        id: d.id,
        name: d.name,
        tags: d.tags,
        selectors: new Set([...d.tags, d.name.toLowerCase()]),
        capacity: d.capacity,
        active: d.activeTasks,
        version: d.version,
        tokenId: '',
        connectedAt: Date.parse(d.connectedAt ?? '') || 0,
        lastHeartbeatAt,
        lastAssignedAt: 0,
        draining: d.draining,
        remote: owner,
        attempts: new Map(),
        relayed: new Map(),
        send: (message, task?: DispatchTask) => {
          if (message.type === 'task.assign' && task) {
            const { password: _password, ...registry } = message.task.registry
            this.#publish(owner, {
              kind: 'assign',
              origin: replicaId,
              delegateId: d.id,
              taskId: message.taskId,
              attemptId: message.attemptId,
              connectorId: task.connectorId,
              deadline: message.deadline,
              spec: { ...message.task, registry },
            })
          } else if (message.type === 'task.cancel') {
            this.#publish(owner, { kind: 'cancel', delegateId: d.id, taskId: message.taskId, attemptId: message.attemptId, reason: message.reason })
          }
        },
      }
      dispatcher.addDelegate(link)
    }
    for (const link of dispatcher.delegates.values()) {
      if (link.remote !== null && !seen.has(link.id)) dispatcher.removeDelegate(link.id, `its replica ${link.remote} stopped reporting it`)
    }
    dispatcher.poke()
  }

  #publish(replica: string, message: BusMessage): void {
    this.#o.redis.publish(this.#o.keys.replicaChannel(replica), JSON.stringify(message)).catch((err: unknown) => {
      this.#o.log.warn({ err, replica }, 'replica publish failed')
    })
  }
}
