/** Builds a manager from its config: Redis, stores, BullMQ, dispatcher, HTTP + WebSocket, replica bus. */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { VERSION } from '../../common/src/version.ts'
import { adaptivePipelining } from './adaptive-pipelining.ts'
import { buildApp } from './app.ts'
import type { ManagerConfig } from './config.ts'
import { ConnectorStore } from './connector-store.ts'
import { DelegateDirectory } from './delegate-directory.ts'
import { DelegateGateway } from './delegate-gateway.ts'
import { Dispatcher, hasFreeSlot } from './dispatcher.ts'
import { RedisHistory } from './history.ts'
import { previewEligibility } from './eligibility.ts'
import { createMetrics } from './metrics.ts'
import { Monitoring } from './monitoring.ts'
import { TaskPreparer } from './prepare-task.ts'
import { Prober } from './prober.ts'
import { redisKeys } from './redis-keys.ts'
import { createRedis, redisConnection } from './redis-options.ts'
import { ReplicaBus } from './replica-bus.ts'
import { SecretBox } from './secret-crypto.ts'
import { SecretStore } from './secret-store.ts'
import { Tasks } from './tasks.ts'
import { TokenStore } from './token-store.ts'
import { traceLink } from './task-tracing.ts'
import { WaitingRoom } from './waiting-room.ts'

export function newReplicaId(): string {
  return randomUUID().slice(0, 8)
}

export interface RunningManager {
  /** http://host:port the server listens on */
  url: string
  replicaId: string
  dispatcher: Dispatcher
  /** Graceful: stop accepting, close delegate sockets with 1001, leave queued tasks in Redis. */
  close(): Promise<void>
}

/** `replicaId`: given by main.ts, which names the process by it in its traces too. */
export async function startManager(config: ManagerConfig, log: Logger, { replicaId = newReplicaId() } = {}): Promise<RunningManager> {
  log = log.child({ replica: replicaId })
  const connection = redisConnection(config.redisUrl)
  const redis = createRedis(connection, { lazyConnect: true })
  const stopPipelining = adaptivePipelining(redis)
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'))
  await redis.connect()
  const keys = redisKeys(config.queuePrefix)
  const connectors = new ConnectorStore(redis, keys)
  const secrets = new SecretStore(redis, keys, new SecretBox(config.secretsKey, config.secretsOldKey))
  const tokens = new TokenStore(redis, keys)
  const directory = new DelegateDirectory(redis, keys, replicaId, log)
  const preparer = new TaskPreparer(connectors, secrets)
  const history = new RedisHistory(redis, keys, log)

  // The dispatcher, the waiting room, the tasks and the bus speak to each other; each is built
  // once, in this order, and the later ones are reached through these names.
  const bus: ReplicaBus = new ReplicaBus({
    redis,
    subscriber: redis.duplicate({ enableAutoPipelining: false }),
    keys,
    replicaId,
    dispatcher: () => dispatcher,
    directory,
    waiting: () => waiting,
    preparer,
    prober: () => prober,
    log,
    onDone: (taskId) => tasks.onDone(taskId),
  })
  const dispatcher: Dispatcher = new Dispatcher({
    replicaId,
    log,
    history,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    unreachableMarkMs: config.unreachableMarkMs,
    events: {
      localUp: (d) => (bus.delegateUp(d), directory.up(d)),
      localDown: (d) => (bus.delegateDown(d), directory.down(d)),
      slotsFreed: (d) => waiting.wake(d),
      load: (d) => directory.loadChanged(d),
      placed: (d, sinceCreatedMs) => metrics.onPlaced(d.local, sinceCreatedMs),
      mark: (host, delegateId, mark) => bus.mark(host, delegateId, mark),
      relayResult: (origin, delegateId, message) => bus.relayResult(origin, delegateId, message),
      relayLost: (origin, delegateId, attemptId, reason) => bus.relayLost(origin, delegateId, attemptId, reason),
    },
  })
  const prober = new Prober((origin, result) => bus.probeResult(origin, result))
  const tasks: Tasks = new Tasks({
    connection,
    redis,
    keys,
    prefix: config.queuePrefix,
    log,
    concurrency: config.workerConcurrency,
    prepare: (data, progress) => preparer.prepare(data, progress),
    dispatch: (task, hooks) => dispatcher.run(task, hooks),
    park: (taskId, selectors) => waiting.park(taskId, selectors, Date.now()),
    unpark: (taskId, setKey) => waiting.leave(taskId, setKey),
    refresh: (connectorId) => preparer.invalidate(connectorId),
    announceDone: (taskId) => bus.taskDone(taskId),
    traceLink: traceLink(config.traceUrlTemplate),
    onOutcome: (data, outcome) => {
      metrics.onOutcome(data, outcome)
      monitoring.onOutcome(data, outcome)
    },
  })
  const waiting: WaitingRoom = new WaitingRoom({
    redis,
    keys,
    queue: tasks.queue,
    log,
    announce: (key, selectors) => bus.waitingSet(key, selectors),
    freeLocal: () => dispatcher.localDelegates().filter(hasFreeSlot),
    freeSlots: (d) => (hasFreeSlot(d) ? d.capacity - d.active : 0),
  })
  const metrics = createMetrics({
    depth: () => tasks.depth(),
    connectedDelegates: () => dispatcher.localDelegates().length,
    waitingBySelectors: () => waiting.countsBySelectors(),
    replica: replicaId,
    version: VERSION,
  })
  const delegates = () => directory.list(dispatcher.localDelegates())
  const monitoring = new Monitoring({
    connection,
    redis,
    keys,
    prefix: config.queuePrefix,
    log,
    connectors,
    fleet: () => [...dispatcher.fleet.values()].map((d) => ({ id: d.id, name: d.name, tags: d.tags, connected: true, draining: d.draining })),
    localDelegates: () => dispatcher.localDelegates(),
    metrics: metrics.registry,
    createTask: (request, selectors) => tasks.create(request, selectors),
    webhookUrl: config.alertWebhookUrl,
    webhookSecret: config.alertWebhookSecret,
    watchIntervalMs: config.watchIntervalMs,
  })

  let gateway: DelegateGateway | null = null
  const app = buildApp({
    apiKey: config.apiKey,
    log,
    ctx: {
      redis,
      connectors,
      secrets,
      tokens,
      tasks,
      delegates,
      monitoring,
      eligibility: (query, probe) => previewEligibility({ dispatcher, history, prober: probe ? prober : null, delegates }, query),
      revokeToken: (id) => gateway?.revokeToken(id),
      taskConnector: (id) => preparer.connector(id),
      connectorChanged: (id) => (preparer.invalidate(id), bus.connectorChanged(id)),
    },
    metrics: metrics.registry,
  })
  await app.ready()
  gateway = new DelegateGateway({
    server: app.server,
    tokens,
    dispatcher,
    log,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    onDecodeFailure: (reason) => metrics.onDecodeFailure(reason),
    onConnectionError: (stage) => metrics.onConnectionError(stage),
    onProbeResult: (message) => prober.onResult(message),
  })
  gateway.start()
  await directory.start()
  await bus.start()
  await waiting.start()
  await tasks.start()
  await monitoring.start()
  const address = await app.listen({ host: config.host, port: config.port })
  log.info({ address, version: VERSION }, 'manager listening')

  let closing: Promise<void> | null = null
  const close = () =>
    (closing ??= (async () => {
      log.info('manager closing')
      await tasks.close(true)
      await monitoring.close()
      dispatcher.close()
      waiting.close()
      await bus.close()
      await gateway.close()
      await directory.close()
      await app.close()
      stopPipelining()
      await redis.quit().catch(() => undefined)
      log.info('manager closed')
    })())

  return { url: address.replace('0.0.0.0', '127.0.0.1'), replicaId, dispatcher, close }
}
