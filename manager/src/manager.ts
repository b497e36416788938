/** Builds a manager from its config: Redis, stores, BullMQ, dispatcher, HTTP + WebSocket. */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { buildApp } from './app.ts'
import type { ManagerConfig } from './config.ts'
import { ConnectorStore } from './connector-store.ts'
import { DelegateDirectory } from './delegate-directory.ts'
import { DelegateGateway } from './delegate-gateway.ts'
import { Dispatcher } from './dispatcher.ts'
import { RedisHistory } from './history.ts'
import { createMetrics } from './metrics.ts'
import { Monitoring } from './monitoring.ts'
import { addCredentials, prepareTask } from './prepare-task.ts'
import { VERSION } from '../../common/src/version.ts'
import { redisKeys } from './redis-keys.ts'
import { createRedis, redisConnection } from './redis-options.ts'
import { ReplicaBus } from './replica-bus.ts'
import { SecretBox } from './secret-crypto.ts'
import { SecretStore } from './secret-store.ts'
import { Tasks } from './tasks.ts'
import { TokenStore } from './token-store.ts'

export interface RunningManager {
  /** http://host:port the server listens on */
  url: string
  replicaId: string
  dispatcher: Dispatcher
  /** Graceful: stop accepting, close delegate sockets with 1001, leave queued tasks in Redis. */
  close(): Promise<void>
}

export async function startManager(config: ManagerConfig, log: Logger): Promise<RunningManager> {
  const replicaId = randomUUID().slice(0, 8)
  log = log.child({ replica: replicaId })
  const connection = redisConnection(config.redisUrl)
  const redis = createRedis(connection, { lazyConnect: true })
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'))
  await redis.connect()
  const keys = redisKeys(config.queuePrefix)
  const connectors = new ConnectorStore(redis, keys)
  const secrets = new SecretStore(redis, keys, new SecretBox(config.secretsKey, config.secretsOldKey))
  const tokens = new TokenStore(redis, keys)
  const directory = new DelegateDirectory(redis, keys, replicaId, log)
  const dispatcher = new Dispatcher({
    log,
    history: new RedisHistory(redis, keys, log),
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    unreachableMarkMs: config.unreachableMarkMs,
    onMark: (host, delegateId, mark) => bus.recordMark(host, delegateId, mark),
  })
  const tasks = new Tasks({
    connection,
    redis,
    keys,
    prefix: config.queuePrefix,
    log,
    concurrency: config.workerConcurrency,
    prepare: (data, attempts) => prepareTask(data, attempts, { connectors, secrets }),
    dispatch: (task, hooks) => dispatcher.run(task, hooks),
    onOutcome: (data, outcome) => {
      metrics.onOutcome(data, outcome)
      monitoring.onOutcome(data, outcome)
    },
  })
  const metrics = createMetrics({
    depth: () => tasks.depth(),
    connectedDelegates: () => dispatcher.localDelegates().length,
    waitingBySelectors: () => dispatcher.waitingBySelectors(),
    replica: replicaId,
    version: VERSION,
  })
  const monitoring = new Monitoring({
    connection,
    redis,
    keys,
    prefix: config.queuePrefix,
    log,
    connectors,
    directory,
    metrics: metrics.registry,
    createTask: (request, selectors) => tasks.create(request, selectors),
    webhookUrl: config.alertWebhookUrl,
    webhookSecret: config.alertWebhookSecret,
    watchIntervalMs: config.watchIntervalMs,
  })

  const bus = new ReplicaBus({
    redis,
    subscriber: redis.duplicate(),
    keys,
    replicaId,
    dispatcher,
    directory,
    log,
    withCredentials: (connectorId, spec) => addCredentials(connectorId, spec, { connectors, secrets }),
  })

  let gateway: DelegateGateway | null = null
  const app = buildApp({
    apiKey: config.apiKey,
    log,
    ctx: { redis, connectors, secrets, tokens, tasks, directory, monitoring, revokeToken: (id) => gateway?.revokeToken(id) },
    metrics: metrics.registry,
  })
  await app.ready()
  gateway = new DelegateGateway({
    server: app.server,
    tokens,
    dispatcher,
    directory,
    log,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    relay: { result: (link, message) => bus.relayResult(link, message), lost: (link, reason) => bus.relayLost(link, reason) },
    onDecodeFailure: (reason) => metrics.onDecodeFailure(reason),
    onConnectionError: (stage) => metrics.onConnectionError(stage),
  })
  gateway.start()
  await bus.start()
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
      await bus.close()
      await gateway.close()
      await app.close()
      await redis.quit().catch(() => undefined)
      log.info('manager closed')
    })())

  return { url: address.replace('0.0.0.0', '127.0.0.1'), replicaId, dispatcher, close }
}
