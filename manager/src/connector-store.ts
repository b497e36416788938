import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { InvalidInputError, NotFoundError } from './errors.ts'
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
  healthCheck?: HealthCheckSettings | undefined
}

/** Validate the connector every `intervalSeconds` (at least 30). */
export interface HealthCheckSettings {
  intervalSeconds: number
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
  healthCheck: HealthCheckSettings | null
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
    await this.#write(connector, false)
    return connector
  }

  async replace(id: string, input: ConnectorInput): Promise<Connector> {
    const before = await this.get(id)
    const connector = build(id, input, before.createdAt, new Date().toISOString())
    await this.#write(connector, true)
    return connector
  }

  async get(id: string): Promise<Connector> {
    const raw = await this.#redis.hget(this.#keys.connectors, id)
    if (raw === null) throw new NotFoundError('connector', id)
    return parse(raw)
  }

  async list(): Promise<Connector[]> {
    const all = await this.#redis.hvals(this.#keys.connectors)
    return all.map(parse).sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  }

  async delete(id: string): Promise<void> {
    if ((await this.#redis.hdel(this.#keys.connectors, id)) === 0) throw new NotFoundError('connector', id)
  }

  /**
   * One atomic step with the checks it depends on, so that a secret deleted meanwhile (which
   * SecretStore.delete refuses while a connector uses it) or a connector deleted meanwhile cannot
   * leave a connector pointing at nothing, or bring a deleted connector back.
   */
  async #write(connector: Connector, mustExist: boolean): Promise<void> {
    const { connectors, secrets } = this.#keys
    const answer = await this.#redis.eval(WRITE, 2, connectors, secrets, connector.id, JSON.stringify(connector), connector.passwordSecretId ?? '', mustExist ? '1' : '0')
    if (answer === 'no-connector') throw new NotFoundError('connector', connector.id)
    if (answer === 'no-secret') {
      throw new InvalidInputError('passwordSecretId', `secret ${JSON.stringify(connector.passwordSecretId)} does not exist`)
    }
  }
}

const WRITE = `
if ARGV[4] == '1' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'no-connector' end
if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[3]) == 0 then return 'no-secret' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'ok'`

/** Records written before a field existed read with its default. */
function parse(raw: string): Connector {
  return { healthCheck: null, ...(JSON.parse(raw) as Partial<Connector>) } as Connector
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
    healthCheck: input.healthCheck ? { intervalSeconds: input.healthCheck.intervalSeconds } : null,
    createdAt,
    updatedAt,
  }
}
