/**
 * Redis restarts under a running manager (with persistence, as SPEC §6 asks of production): once
 * it is back, /readyz says so and the manager takes and runs tasks again, its state intact.
 */
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers'
import { afterAll, describe, expect, it } from 'vitest'
import type { Delegate } from '../delegate/src/delegate.ts'
import { freePort, hostNetwork } from './containers.ts'
import { startTestDelegate, startTestManager, type TestManager } from './harness.ts'
import { scriptedRegistry } from './scripted-runner.ts'
import { waitFor } from './wait-for.ts'

async function redisWithAof(port: number): Promise<StartedTestContainer> {
  const inner = hostNetwork ? port : 6379
  let c = new GenericContainer('redis:7-alpine')
    .withCommand(['redis-server', '--port', String(inner), '--bind', hostNetwork ? '127.0.0.1' : '0.0.0.0', '--protected-mode', 'no', '--appendonly', 'yes'])
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .withLabels({ 'registry-delegates.test': 'true' })
  c = hostNetwork ? c.withNetworkMode('host') : c.withExposedPorts({ container: inner, host: port })
  return c.start()
}

describe('Redis restarts', () => {
  let redis: StartedTestContainer
  let manager: TestManager
  let delegate: Delegate
  afterAll(async () => {
    await delegate?.close()
    await manager?.close()
    await redis?.stop()
  })

  it('after a Redis restart the manager is ready again and runs tasks, connectors and delegates intact', async () => {
    const port = await freePort()
    redis = await redisWithAof(port)
    manager = await startTestManager(`redis://127.0.0.1:${port}`)
    delegate = await startTestDelegate(manager.url, await manager.api.token(), { runner: scriptedRegistry() })
    const connector = await manager.api.ok('POST', '/api/v1/connectors', { name: 'c', type: 'docker-registry', url: 'r.example.com' })
    expect((await manager.api.ok('POST', `/api/v1/connectors/${connector.id}/validate`)).status).toBe('succeeded')

    await redis.restart()
    // right after a restart Redis may still be loading its AOF; readyz follows it
    await waitFor(async () => (await manager.api.call('GET', '/readyz')).status === 200, { timeoutMs: 10_000, what: 'readyz once Redis is back', intervalMs: 100 })

    expect((await manager.api.ok('GET', `/api/v1/connectors/${connector.id}`)).name).toBe('c')
    const again = await manager.api.ok('POST', `/api/v1/connectors/${connector.id}/validate`)
    expect(again.status).toBe('succeeded')
  }, 60_000)
})
