/**
 * Secrets at rest, read back from Redis itself: no plaintext anywhere under the manager's prefix
 * (secret records, BullMQ jobs, logs of tasks), key rotation, and delegate-side password
 * references that never reach the manager at all.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Delegate } from '../../delegate/src/delegate.ts'
import { startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'
import { dumpRedis } from '../../test/redis-dump.ts'
import { scriptedRegistry } from '../../test/scripted-runner.ts'

let redis: Redis
const cleanup: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'))
})
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})
afterAll(async () => {
  await redis.quit()
})

async function manager(over: Parameters<typeof startTestManager>[1] = {}): Promise<TestManager> {
  const m = await startTestManager(inject('redisUrl'), over)
  cleanup.push(() => m.close())
  return m
}

async function delegate(m: TestManager, env: Record<string, string> = {}) {
  const runner = scriptedRegistry()
  const d: Delegate = await startTestDelegate(m.url, await m.api.token(), { runner, env })
  cleanup.push(() => d.close())
  return runner
}

describe('secrets at rest', () => {
  it('stores no secret value in Redis, before or after a task used it', async () => {
    const m = await manager()
    const runner = await delegate(m)
    const value = `plain-${randomUUID()}`
    const secret = await m.api.ok('POST', '/api/v1/secrets', { name: 'registry password', value })
    const before = await dumpRedis(redis, m.config.queuePrefix)
    expect(before.text).toContain(secret.id)
    expect(before.text).not.toContain(value)
    expect(before.text).not.toContain(Buffer.from(value).toString('base64'))

    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com', username: 'u', passwordSecretId: secret.id })
    const task = await m.api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    expect(task.status).toBe('succeeded')
    // the authenticated delegate got the value; Redis still holds none of it
    expect(runner.ran.at(-1)?.registry.password).toBe(value)
    const after = await dumpRedis(redis, m.config.queuePrefix)
    expect(after.keys.some((k) => k.includes(':tasks:'))).toBe(true)
    expect(after.text).not.toContain(value)
    expect(after.text).not.toContain(Buffer.from(value).toString('base64'))
  })

  it('stores each value as AES-256-GCM with its key id', async () => {
    const m = await manager()
    const secret = await m.api.ok('POST', '/api/v1/secrets', { name: 's', value: 'v1' })
    const stored = JSON.parse((await redis.hget(`${m.config.queuePrefix}:secrets`, secret.id))!)
    expect(Object.keys(stored).sort()).toEqual(['createdAt', 'id', 'name', 'project', 'sealed'])
    expect(stored.sealed.kid).toMatch(/^[0-9a-f]{8}$/)
    // nonce(12) + ciphertext(2) + tag(16)
    expect(Buffer.from(stored.sealed.box, 'base64')).toHaveLength(30)
  })

  it('keeps secrets usable across a key rotation and re-seals them under the new key', async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`
    const oldKey = randomBytes(32).toString('base64')
    const newKey = randomBytes(32).toString('base64')
    const m1 = await manager({ queuePrefix: prefix, secretsKey: oldKey })
    const secret = await m1.api.ok('POST', '/api/v1/secrets', { name: 's', value: 'rotate-me' })
    const c = await m1.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com', username: 'u', passwordSecretId: secret.id })
    const kidBefore = JSON.parse((await redis.hget(`${prefix}:secrets`, secret.id))!).sealed.kid
    await cleanup.pop()!()

    // a manager that only knows the new key cannot open it, and says why
    const lost = await manager({ queuePrefix: prefix, secretsKey: newKey, apiKey: m1.config.apiKey })
    await delegate(lost)
    const failed = await lost.api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'SECRET_UNREADABLE', message: expect.stringContaining('MANAGER_SECRETS_OLD_KEY') } })
    expect(JSON.stringify(failed)).not.toContain('rotate-me')
    for (const f of cleanup.splice(0).reverse()) await f()

    const m2 = await manager({ queuePrefix: prefix, secretsKey: newKey, secretsOldKey: oldKey, apiKey: m1.config.apiKey })
    const runner = await delegate(m2)
    expect(await m2.api.ok('POST', `/api/v1/connectors/${c.id}/validate`)).toMatchObject({ status: 'succeeded' })
    expect(runner.ran.at(-1)?.registry.password).toBe('rotate-me')
    const kidAfter = JSON.parse((await redis.hget(`${prefix}:secrets`, secret.id))!).sealed.kid
    expect(kidAfter).not.toBe(kidBefore)
  })
})

describe('delegate-side password references', () => {
  it('resolve on the delegate: the password reaches neither the manager nor Redis', async () => {
    const m = await manager()
    const password = `ref-${randomUUID()}`
    const runner = await delegate(m, { REGISTRY_PASSWORD_TEAM: password })
    const body = { name: 'c', type: 'docker-registry', url: 'r.example.com', username: 'u', passwordRef: 'env:REGISTRY_PASSWORD_TEAM' }
    const c = await m.api.call('POST', '/api/v1/connectors', body)
    expect(c.status).toBe(201)
    expect(c.body).toMatchObject({ passwordRef: 'env:REGISTRY_PASSWORD_TEAM', passwordSecretId: null })
    const task = await m.api.call('POST', `/api/v1/connectors/${c.body.id}/validate`)
    expect(task.body).toMatchObject({ status: 'succeeded', result: { authScheme: 'basic' } })
    expect(runner.ran.at(-1)?.registry).toEqual({ url: 'r.example.com', username: 'u', password })
    expect(JSON.stringify(task.body)).not.toContain(password)
    expect((await dumpRedis(redis, m.config.queuePrefix)).text).not.toContain(password)
  })

  it('fail the task with INVALID_INPUT naming the variable when the delegate lacks it', async () => {
    const m = await manager()
    await delegate(m)
    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com', username: 'u', passwordRef: 'env:REGISTRY_PASSWORD_MISSING' })
    const task = await m.api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    expect(task).toMatchObject({ status: 'failed', error: { code: 'INVALID_INPUT', message: expect.stringContaining('REGISTRY_PASSWORD_MISSING') } })
  })

  it('fail INVALID_INPUT naming DELEGATE_PASSWORD_REFS, without reading, when the operator did not allow the reference', async () => {
    const m = await manager()
    const runner = await delegate(m, { OTHER_PW: 'x' })
    const c = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com', username: 'u', passwordRef: 'env:OTHER_PW' })
    const task = await m.api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    expect(task).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'INVALID_INPUT', message: expect.stringContaining('DELEGATE_PASSWORD_REFS') } })
    expect(runner.ran).toEqual([])
  })
})
