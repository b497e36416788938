/** Every Redis key and channel the manager uses outside BullMQ, in one place. */
export function redisKeys(prefix: string) {
  return {
    connectors: `${prefix}:connectors`,
    secrets: `${prefix}:secrets`,
    tokens: `${prefix}:delegate-tokens`,
    tokenByHash: `${prefix}:delegate-token-hashes`,
    /** delegate id → its latest description (written on change, for the API and a replica's start) */
    delegates: `${prefix}:delegates`,
    /** delegate id → tasks in flight on it, written by its owner at most once a second */
    delegateLoad: `${prefix}:delegate-load`,
    history: `${prefix}:history`,
    taskIndex: `${prefix}:task-index`,
    taskIndexByConnector: (connectorId: string) => `${prefix}:task-index:${connectorId}`,
    unreachable: `${prefix}:unreachable`,
    /** selector-set key → its selectors (JSON), for the sets that hold waiting tasks */
    waitingSets: `${prefix}:waiting-sets`,
    /** task ids waiting for a delegate of one selector set, scored by when they parked */
    waiting: (setKey: string) => `${prefix}:waiting:${setKey}`,
    /** a large relayed result, read once by the origin replica */
    relayedResult: (attemptId: string) => `${prefix}:relayed-result:${attemptId}`,
    /** present while the replica lives (a key with a TTL, refreshed) */
    replicaAlive: (replicaId: string) => `${prefix}:replica-alive:${replicaId}`,
    replicaChannel: (replicaId: string) => `${prefix}:replica:${replicaId}`,
    fleetChannel: `${prefix}:fleet`,
    doneChannel: `${prefix}:task-done`,
    healthChecks: (connectorId: string) => `${prefix}:health:${connectorId}`,
    healthState: `${prefix}:health-state`,
    healthSeen: (taskId: string) => `${prefix}:health-seen:${taskId}`,
    selectorLevels: `${prefix}:selector-levels`,
    alertOutbox: `${prefix}:alert-outbox`,
    taskStats: (minute: number) => `${prefix}:stats:tasks:${minute}`,
    delegateStats: (minute: number) => `${prefix}:stats:delegates:${minute}`,
  } as const
}
export type RedisKeys = ReturnType<typeof redisKeys>
