/** Every Redis key the manager writes outside BullMQ, in one place. */
export function redisKeys(prefix: string) {
  return {
    connectors: `${prefix}:connectors`,
    secrets: `${prefix}:secrets`,
    tokens: `${prefix}:delegate-tokens`,
    tokenByHash: `${prefix}:delegate-token-hashes`,
    delegates: `${prefix}:delegates`,
    history: `${prefix}:history`,
    taskIndex: `${prefix}:task-index`,
    taskIndexByConnector: (connectorId: string) => `${prefix}:task-index:${connectorId}`,
    unreachable: `${prefix}:unreachable`,
    replicas: `${prefix}:replicas`,
    replicaChannel: (replicaId: string) => `${prefix}:replica:${replicaId}`,
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
