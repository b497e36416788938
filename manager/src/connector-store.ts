import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { notFound } from './api-error.ts'
import type { RedisKeys } from './redis-keys.ts'

export interface ConnectorInput {
  name: string
  type: 'docker-registry'
  url: string
  username?: string | undefined
  passwordSecretId?: string | undefined
  /** Resolved on the delegate (`env:NAME`, `file:/path`): the password never reaches the manager. */
  passwordRef?: string | undefined
  delegateSelectors?: string[] | undefined
  project?: string | undefined
}

export interface Connector {
  id: string
  name: string
  type: 'docker-registry'
  url: string
  username: string | null
  passwordSecretId: string | null
  passwordRef: string | null
  delegateSelectors: string[]
  project: string | null
  createdAt: string
  updatedAt: string
}

/** Selectors are compared trimmed and lower-cased (SPEC §4); stored that way, de-duplicated. */
export function normalizeSelectors(selectors: readonly string[] | undefined): string[] {
  return [...new Set((selectors ?? []).map((s) => s.trim().toLowerCase()).filter((s) => s !== ''))].sort()
}

export class ConnectorStore {
  readonly #redis: Redis
  readonly #keys: RedisKeys

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis
    this.#keys = keys
  }

  async create(input: ConnectorInput): Promise<Connector> {
    const now = new Date().toISOString()
    const connector = build(randomUUID(), input, now, now)
    await this.#redis.hset(this.#keys.connectors, connector.id, JSON.stringify(connector))
    return connector
  }

  async replace(id: string, input: ConnectorInput): Promise<Connector> {
    const before = await this.get(id)
    const connector = build(id, input, before.createdAt, new Date().toISOString())
    await this.#redis.hset(this.#keys.connectors, id, JSON.stringify(connector))
    return connector
  }

  async get(id: string): Promise<Connector> {
    const raw = await this.#redis.hget(this.#keys.connectors, id)
    if (raw === null) throw notFound('connector', id)
    return JSON.parse(raw) as Connector
  }

  async list(): Promise<Connector[]> {
    const all = await this.#redis.hvals(this.#keys.connectors)
    return all.map((raw) => JSON.parse(raw) as Connector).sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  }

  async delete(id: string): Promise<void> {
    if ((await this.#redis.hdel(this.#keys.connectors, id)) === 0) throw notFound('connector', id)
  }
}

function build(id: string, input: ConnectorInput, createdAt: string, updatedAt: string): Connector {
  return {
    id,
    name: input.name,
    type: input.type,
    url: input.url,
    username: input.username ?? null,
    passwordSecretId: input.passwordSecretId ?? null,
    passwordRef: input.passwordRef ?? null,
    delegateSelectors: normalizeSelectors(input.delegateSelectors),
    project: input.project ?? null,
    createdAt,
    updatedAt,
  }
}
