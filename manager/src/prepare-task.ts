/**
 * From a queued task to what the dispatcher and the delegate need: the connector's URL,
 * username, password (opened from its secret) or delegate-side reference, selectors and the
 * registry host. Connectors are read through a local copy, dropped when any replica changes the
 * connector (a fleet notice) and after a short while regardless, so the hot path reads no Redis.
 * Nothing prepared here is ever stored. A task that cannot run throws a ManagerError with a task
 * code (its connector was deleted: INVALID_INPUT; its secret cannot be opened: SECRET_UNREADABLE).
 */
import type { RegistryTarget, TaskSpec } from '../../protocol/src/index.ts'
import type { Connector, ConnectorStore } from './connector-store.ts'
import type { DispatchTask, TaskProgress } from './dispatch-task.ts'
import { InvalidInputError, NotFoundError } from './errors.ts'
import { registryHostOf } from './registry-host.ts'
import type { SecretStore } from './secret-store.ts'
import type { TaskData } from './tasks.ts'

/** A copy older than this is read again even without a notice (a notice can be missed). */
const FRESH_MS = 30_000

interface Prepared {
  connector: Connector
  registry: RegistryTarget
  registryHost: string
  at: number
}

export class TaskPreparer {
  readonly #connectors: ConnectorStore
  readonly #secrets: SecretStore
  readonly #cache = new Map<string, Prepared>()
  readonly #now: () => number

  constructor(connectors: ConnectorStore, secrets: SecretStore, now: () => number = Date.now) {
    this.#connectors = connectors
    this.#secrets = secrets
    this.#now = now
  }

  /** The connector changed or went away (on any replica). */
  invalidate(connectorId: string): void {
    this.#cache.delete(connectorId)
  }

  /** Change notices may have been missed (the connection to Redis was lost). */
  invalidateAll(): void {
    this.#cache.clear()
  }

  async prepare(data: TaskData, progress: TaskProgress): Promise<DispatchTask> {
    const p = await this.#load(data.connectorId, data.id)
    const spec: TaskSpec = { type: data.type, registry: p.registry }
    if (data.image !== null) spec.image = data.image
    return {
      taskId: data.id,
      connectorId: data.connectorId,
      connectorRev: p.connector.updatedAt,
      registryHost: p.registryHost,
      selectors: data.delegateSelectors,
      createdAt: data.createdAt,
      deadline: data.createdAt + data.timeoutMs,
      attempts: progress.attempts,
      retries: progress.retries,
      waitReason: progress.waitReason,
      spec,
    }
  }

  /**
   * For a hand-over from another replica: the password is added back here, never sent over
   * Redis, from the same revision of the connector the origin prepared the task from. Null when
   * the connector changed since (the origin prepares the task again).
   */
  async withCredentials(connectorId: string, connectorRev: string, spec: TaskSpec): Promise<TaskSpec | null> {
    let p = await this.#load(connectorId, null)
    if (p.connector.updatedAt !== connectorRev) {
      this.invalidate(connectorId)
      p = await this.#load(connectorId, null)
      if (p.connector.updatedAt !== connectorRev) return null
    }
    if (p.registry.password === undefined) return spec
    return { ...spec, registry: { ...spec.registry, password: p.registry.password } }
  }

  /**
   * The connector a task about to be created will run against, for the routes that create tasks:
   * the prepared copy when there is one (a busy connector's tasks read no Redis to be created),
   * else the store's (NotFoundError when it does not exist). Preparing, which opens the secret,
   * stays the task's business: a secret that cannot be opened fails the task, not the request.
   */
  async connector(connectorId: string): Promise<Connector> {
    return this.#fresh(connectorId)?.connector ?? (await this.#connectors.get(connectorId))
  }

  #fresh(connectorId: string): Prepared | undefined {
    const cached = this.#cache.get(connectorId)
    return cached && this.#now() - cached.at < FRESH_MS ? cached : undefined
  }

  async #load(connectorId: string, taskId: string | null): Promise<Prepared> {
    const cached = this.#fresh(connectorId)
    if (cached) return cached
    const connector = await this.#connectors.get(connectorId).catch((err: unknown) => {
      // the task's own fault (it ends INVALID_INPUT); anything else, Redis down, ends it INTERNAL
      if (err instanceof NotFoundError) throw new InvalidInputError('connectorId', `connector ${connectorId} was deleted before the task${taskId ? ` ${taskId}` : ''} ran`)
      throw err
    })
    return this.#prepare(connector)
  }

  async #prepare(connector: Connector): Promise<Prepared> {
    const now = this.#now()
    const registry: RegistryTarget = { url: connector.url }
    if (connector.username !== null) registry.username = connector.username
    if (connector.passwordSecretId !== null) registry.password = await this.#secrets.reveal(connector.passwordSecretId)
    if (connector.passwordRef !== null) registry.passwordRef = connector.passwordRef
    const prepared: Prepared = { connector, registry, registryHost: registryHostOf(connector.url), at: now }
    this.#cache.set(connector.id, prepared)
    return prepared
  }
}
