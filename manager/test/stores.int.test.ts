/**
 * The stores and prepare-task on a real Redis: each failure is its own class with a stable code
 * and no HTTP in it (app.ts alone maps them), and a Redis failure is never taken for a missing
 * record.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ConnectorStore } from '../src/connector-store.ts'
import { InvalidInputError, ManagerError, NotFoundError, SecretInUseError, SecretOutOfScopeError, SecretUnreadableError } from '../src/errors.ts'
import { TaskPreparer } from '../src/prepare-task.ts'
import { redisKeys } from '../src/redis-keys.ts'
import { SecretBox } from '../src/secret-crypto.ts'
import { SecretStore } from '../src/secret-store.ts'
import type { TaskData } from '../src/tasks.ts'
import { TokenStore } from '../src/token-store.ts'

let redis: Redis
const key = () => randomBytes(32).toString('base64')

beforeAll(() => {
  redis = new Redis(inject('redisUrl'))
})
afterAll(async () => {
  await redis.quit()
})

function stores(r: Redis = redis, box = new SecretBox(key())) {
  const keys = redisKeys(`t-${randomUUID().slice(0, 8)}`)
  return { keys, connectors: new ConnectorStore(r, keys), secrets: new SecretStore(r, keys, box), tokens: new TokenStore(r, keys) }
}

/** What a store threw, with the fields an HTTP error would carry if a store ever made one. */
async function thrown(p: Promise<unknown>): Promise<ManagerError & { statusCode?: unknown }> {
  const err = await p.then(
    () => expect.fail('expected a failure'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ManagerError)
  expect(err).not.toHaveProperty('statusCode')
  return err as ManagerError
}

const connector = { name: 'c', type: 'docker-registry' as const, url: 'r.example.com' }
const task = (connectorId: string): TaskData => ({ id: randomUUID(), type: 'validate-connector', connectorId, image: null, delegateSelectors: [], timeoutMs: 1_000, createdAt: Date.now() })
const progress = { status: 'queued' as const, delegate: null, attempts: 0, retries: 0, waitReason: null }
const prepare = (s: ReturnType<typeof stores>, data: TaskData) => new TaskPreparer(s.connectors, s.secrets).prepare(data, progress)

describe('store failures', () => {
  it('a missing connector, secret or token is NotFoundError naming what and which', async () => {
    const { connectors, secrets, tokens } = stores()
    const id = randomUUID()
    for (const [p, what] of [
      [connectors.get(id), 'connector'],
      [connectors.delete(id), 'connector'],
      [connectors.replace(id, connector), 'connector'],
      [secrets.get(id), 'secret'],
      [secrets.delete(id), 'secret'],
      [tokens.revoke(id), 'delegate token'],
    ] as const) {
      const err = await thrown(p)
      expect(err).toBeInstanceOf(NotFoundError)
      expect(err).toMatchObject({ code: 'NOT_FOUND', what, id })
    }
  })

  it('a connector naming a secret that does not exist is InvalidInputError on that field', async () => {
    const { connectors, secrets } = stores()
    const missing = randomUUID()
    for (const p of [connectors.create({ ...connector, username: 'u', passwordSecretId: missing }), secrets.assertUsableBy(missing, null)]) {
      const err = await thrown(p)
      expect(err).toBeInstanceOf(InvalidInputError)
      expect(err).toMatchObject({ code: 'INVALID_INPUT', field: 'passwordSecretId', message: expect.stringContaining(missing) })
    }
  })

  it('a secret in use is not deleted: SecretInUseError names its connectors', async () => {
    const { connectors, secrets } = stores()
    const secret = await secrets.create({ name: 'pw', value: 'v' })
    await connectors.create({ ...connector, name: 'first', username: 'u', passwordSecretId: secret.id })
    await connectors.create({ ...connector, name: 'second', username: 'u', passwordSecretId: secret.id })
    const err = await thrown(secrets.delete(secret.id))
    expect(err).toBeInstanceOf(SecretInUseError)
    expect(err).toMatchObject({ code: 'SECRET_IN_USE', usedBy: expect.arrayContaining(['first', 'second']), message: expect.stringContaining('"pw"') })
    expect(await secrets.get(secret.id)).toMatchObject({ id: secret.id })
  })

  it("another project's secret is SecretOutOfScopeError", async () => {
    const { secrets } = stores()
    const secret = await secrets.create({ name: 'pw', value: 'v', project: 'payments' })
    const err = await thrown(secrets.assertUsableBy(secret.id, 'search'))
    expect(err).toBeInstanceOf(SecretOutOfScopeError)
    expect(err).toMatchObject({ code: 'SECRET_OUT_OF_SCOPE', message: expect.stringContaining('"payments"') })
    await expect(secrets.assertUsableBy(secret.id, 'payments')).resolves.toBeUndefined()
  })

  it('a secret sealed under a key the manager no longer has is SecretUnreadableError, a task code', async () => {
    const s = stores()
    const secret = await s.secrets.create({ name: 'pw', value: 'v' })
    const other = new SecretStore(redis, s.keys, new SecretBox(key()))
    const err = await thrown(other.reveal(secret.id))
    expect(err).toBeInstanceOf(SecretUnreadableError)
    expect(err.code).toBe('SECRET_UNREADABLE')
  })
})

describe('preparing a task', () => {
  it('a connector deleted before the task ran ends the task INVALID_INPUT', async () => {
    const s = stores()
    const err = await thrown(prepare(s, task(randomUUID())))
    expect(err).toBeInstanceOf(InvalidInputError)
    expect(err.message).toMatch(/was deleted before the task .*ran/)
  })

  it('a Redis failure is passed on as it is, never taken for a deleted connector', async () => {
    const dead = new Redis(inject('redisUrl'), { lazyConnect: true, enableOfflineQueue: false })
    const err = await prepare(stores(dead), task(randomUUID())).then(
      () => expect.fail('expected a failure'),
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(Error)
    expect(err).not.toBeInstanceOf(ManagerError) // so the task ends INTERNAL, logged with its stack
    expect(err).not.toHaveProperty('code', 'INVALID_INPUT')
    expect((err as Error).message).not.toMatch(/deleted/)
  })
})
