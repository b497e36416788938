/**
 * "Cannot reach" marks are shared by the replicas on one Redis: a delegate that failed to reach a
 * registry is not tried again for it by another replica while the mark lasts.
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, inject, it } from 'vitest'
import type { TaskResult } from '../../protocol/src/index.ts'
import type { Delegate, TaskRunner } from '../../delegate/src/delegate.ts'
import { RegistryError } from '../../delegate/src/registry/errors.ts'
import { startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'
import { waitFor } from '../../test/wait-for.ts'
import { redisKeys } from '../src/redis-keys.ts'

describe('cannot-reach marks across replicas', () => {
  const managers: TestManager[] = []
  const delegates: Delegate[] = []
  afterAll(async () => {
    await Promise.all(delegates.map((d) => d.close()))
    await Promise.all(managers.map((m) => m.close()))
  })

  it('a delegate marked on one replica is skipped by another', async () => {
    const queuePrefix = `marks-${randomUUID().slice(0, 6)}`
    const a = await startTestManager(inject('redisUrl'), { queuePrefix })
    managers.push(a)
    const token = await a.api.token()
    const ran: string[] = []
    const answer: TaskResult = { type: 'list-tags', image: 'x', tags: ['1'], truncated: false }
    const far: TaskRunner = { run: async () => (ran.push('far'), Promise.reject(new RegistryError('CONNECTION_REFUSED', 'refused'))), close: async () => {} }
    const near: TaskRunner = { run: async () => (ran.push('near'), answer), close: async () => {} }
    const b = await startTestManager(inject('redisUrl'), { queuePrefix, apiKey: a.config.apiKey, secretsKey: a.config.secretsKey })
    managers.push(b)
    // both delegates on A first; B is their fail-over
    delegates.push(
      await startTestDelegate(`${a.url},${b.url}`, token, { name: 'far', runner: far }),
      await startTestDelegate(`${a.url},${b.url}`, token, { name: 'near', runner: near }),
    )
    const run = async (m: TestManager) => {
      const connector = await m.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'far-away.invalid' })
      const { id } = await m.api.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: connector.id, image: 'x' })
      return m.api.ok('GET', `/api/v1/tasks/${id}?waitMs=10000`)
    }

    // On A, round robin tries "far" first (never assigned, first by name); it fails and is marked.
    await b.close()
    managers.pop()
    const first = await run(a)
    expect(first.delegate.name).toBe('near')
    expect(ran).toEqual(['far', 'near'])
    // the mark is shared through Redis (written beside the task's end); a replica reads it as it starts
    const redis = new Redis(inject('redisUrl'))
    try {
      const marks = redisKeys(queuePrefix).unreachable
      await waitFor(async () => (await redis.hkeys(marks)).some((f) => f.startsWith('far-away.invalid ')), { timeoutMs: 5_000, what: "A's mark on far in Redis" })
    } finally {
      await redis.quit()
    }

    // A new replica B, then A goes away: the delegates fail over to B, which never saw "far" fail.
    const b2 = await startTestManager(inject('redisUrl'), { queuePrefix, apiKey: a.config.apiKey, secretsKey: a.config.secretsKey, port: Number(new URL(b.url).port) })
    managers.push(b2)
    await a.close()
    managers.shift()
    await waitFor(() => b2.dispatcher.localDelegates().length === 2, { timeoutMs: 10_000, what: 'both delegates on B', describe: () => b2.dispatcher.localDelegates().map((l) => l.name) })

    // Fresh connectors (no history), same registry host: B must not try "far" again.
    for (let i = 0; i < 4; i++) {
      const t = await run(b2)
      expect(t.status).toBe('succeeded')
      expect(t.delegate.name).toBe('near')
      expect(t.selectionLog.map((l: { message: string }) => l.message).join('\n')).toMatch(/excluded, cannot reach this registry: far \(CONNECTION_REFUSED\)/)
    }
    expect(ran.filter((n) => n === 'far')).toHaveLength(1)
  })
})
