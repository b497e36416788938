import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { InvalidInputError, NotFoundError, SecretInUseError, SecretOutOfScopeError } from './errors.ts'
import type { RedisKeys } from './redis-keys.ts'
import type { Sealed, SecretBox } from './secret-crypto.ts'

export interface Secret {
  id: string
  name: string
  /** null: account scope, usable by every connector */
  project: string | null
  createdAt: string
}
interface StoredSecret extends Secret {
  sealed: Sealed
}

/** Encrypted Text secrets. The plaintext leaves this class only through `reveal()`. */
export class SecretStore {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #box: SecretBox

  constructor(redis: Redis, keys: RedisKeys, box: SecretBox) {
    this.#redis = redis
    this.#keys = keys
    this.#box = box
  }

  async create(input: { name: string; value: string; project?: string | undefined }): Promise<Secret> {
    const id = randomUUID()
    const secret: Secret = { id, name: input.name, project: input.project ?? null, createdAt: new Date().toISOString() }
    const stored: StoredSecret = { ...secret, sealed: this.#box.seal(input.value, id) }
    await this.#redis.hset(this.#keys.secrets, id, JSON.stringify(stored))
    return secret
  }

  async list(): Promise<Secret[]> {
    const all = await this.#redis.hvals(this.#keys.secrets)
    return all.map((raw) => publicView(JSON.parse(raw) as StoredSecret)).sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  }

  async get(id: string): Promise<Secret> {
    return publicView(await this.#load(id))
  }

  /** Checks that a connector of `project` may use the secret (usage scope). */
  async assertUsableBy(id: string, project: string | null): Promise<void> {
    const raw = await this.#redis.hget(this.#keys.secrets, id)
    if (raw === null) throw new InvalidInputError('passwordSecretId', `secret ${JSON.stringify(id)} does not exist`)
    const secret = JSON.parse(raw) as StoredSecret
    if (secret.project !== null && secret.project !== project) throw new SecretOutOfScopeError(secret.name, secret.project)
  }

  /**
   * The plaintext, for a task sent to an authenticated delegate. A value still sealed under the
   * old key is sealed again under the current one, so that rotation completes as secrets are used.
   */
  async reveal(id: string): Promise<string> {
    const raw = await this.#redis.hget(this.#keys.secrets, id)
    if (raw === null) throw new NotFoundError('secret', id)
    const secret = JSON.parse(raw) as StoredSecret
    const value = this.#box.open(secret.sealed, secret.id)
    if (this.#box.isStale(secret.sealed)) {
      const resealed: StoredSecret = { ...secret, sealed: this.#box.seal(value, secret.id) }
      // only if nobody changed or deleted it meanwhile
      await this.#redis.eval(RESEAL, 1, this.#keys.secrets, id, raw, JSON.stringify(resealed))
    }
    return value
  }

  /**
   * Deletes the secret unless a connector refers to it (SecretInUseError naming those
   * connectors; nothing is deleted). Atomic with connector writes (see ConnectorStore).
   */
  async delete(id: string): Promise<void> {
    const answer = (await this.#redis.eval(DELETE_UNLESS_USED, 2, this.#keys.secrets, this.#keys.connectors, id)) as string[]
    if (answer[0] === 'gone') throw new NotFoundError('secret', id)
    if (answer.length > 2) throw new SecretInUseError(answer[1]!, answer.slice(2))
  }

  async #load(id: string): Promise<StoredSecret> {
    const raw = await this.#redis.hget(this.#keys.secrets, id)
    if (raw === null) throw new NotFoundError('secret', id)
    return JSON.parse(raw) as StoredSecret
  }
}

/** → {'gone'}, or {'ok', secret name, names of the connectors using it…}; deletes only when none does. */
const DELETE_UNLESS_USED = `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return {'gone'} end
local okSecret, secret = pcall(cjson.decode, stored)
local out = {'ok', okSecret and tostring(secret.name) or ARGV[1]}
for _, raw in ipairs(redis.call('HVALS', KEYS[2])) do
  local ok, c = pcall(cjson.decode, raw)
  if ok and c.passwordSecretId == ARGV[1] then out[#out + 1] = tostring(c.name) end
end
if #out == 2 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return out`

const RESEAL = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end return 0`

function publicView({ id, name, project, createdAt }: StoredSecret): Secret {
  return { id, name, project, createdAt }
}
