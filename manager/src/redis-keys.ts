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
  } as const
}
export type RedisKeys = ReturnType<typeof redisKeys>
