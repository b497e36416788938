/** REDIS_URL=redis+sentinel://…: the manager finds its Redis through a real Sentinel. */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Redis } from 'ioredis'
import type { Delegate } from '../../delegate/src/delegate.ts'
import { hostNetwork, startSentinel, type Started } from '../../test/containers.ts'
import { startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'
import { scriptedRegistry } from '../../test/scripted-runner.ts'

describe.runIf(hostNetwork)('Redis through Sentinel', () => {
  let sentinel: Started
  let manager: TestManager
  let delegate: Delegate
  afterAll(async () => {
    await delegate?.close()
    await manager?.close()
    await sentinel?.container.stop()
  })

  it('runs tasks with REDIS_URL naming sentinels and a master', async () => {
    const masterPort = Number(new URL(inject('redisUrl')).port)
    sentinel = await startSentinel(masterPort)
    manager = await startTestManager(`redis+sentinel://${sentinel.hostPort},127.0.0.1:1/mymaster`)
    delegate = await startTestDelegate(manager.url, await manager.api.token(), { runner: scriptedRegistry() })
    const connector = await manager.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com' })
    const task = await manager.api.ok('POST', `/api/v1/connectors/${connector.id}/validate`)
    expect(task.status).toBe('succeeded')
    // the state is in the master the sentinel named
    const direct = new Redis(inject('redisUrl'))
    expect(await direct.hexists(`${manager.config.queuePrefix}:connectors`, connector.id)).toBe(1)
    await direct.quit()
  })
})
