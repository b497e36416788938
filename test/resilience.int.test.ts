/**
 * Death and restarts, on real processes: a delegate killed with SIGKILL while it holds a task, and
 * a manager killed while tasks are queued and running. Nothing is lost; every task ends once.
 */
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { freePort } from './containers.ts'
import { closeSlowRegistries, gatedRegistry, slowRegistry } from './slow-registry.ts'
import { waitFor } from './wait-for.ts'

const procs: Proc[] = []
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')))
})
afterAll(closeSlowRegistries)

describe('resilience', () => {
  it('a task held by a delegate killed with SIGKILL succeeds on another delegate and ends once', async () => {
    const registry = await gatedRegistry()
    const config = managerConfig(inject('redisUrl'), { heartbeatTimeoutMs: 5_000, heartbeatIntervalMs: 500 })
    const manager = await spawnManager(config)
    procs.push(manager)
    const api = new Api(manager.url, config.apiKey)
    const token = await api.token()
    const first = await spawnDelegate(manager.url, token, { name: 'doomed' })
    procs.push(first)
    const connector = await api.ok('POST', '/api/v1/connectors', { name: 'slow', type: 'docker-registry', url: registry.host })
    const { id } = await api.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: connector.id, image: 'slow/repo', timeoutMs: 30_000 })
    const running = await api.waitForStatus(id, 'running')
    expect(running.delegate.name).toBe('doomed')

    const second = await spawnDelegate(manager.url, token, { name: 'survivor' })
    procs.push(second)
    await first.stop('SIGKILL')
    expect((await api.waitForDelegate(id, 'survivor')).status).toBe('running')
    registry.open()

    const done = await api.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    expect(done.status).toBe('succeeded')
    expect(done.delegate.name).toBe('survivor')
    expect(done.result.tags).toEqual(['a', 'b', 'c'])
    expect(done.attempts).toBe(2)
    const log = done.selectionLog.map((l: { message: string }) => l.message)
    expect(log.filter((m: string) => m.startsWith('succeeded on'))).toHaveLength(1)
    expect(log.join('\n')).toMatch(/doomed lost while holding the task/)
    // ended once: the manager logged one "task finished" for it
    expect(manager.lines.filter((l) => l.includes(id) && l.includes('task finished'))).toHaveLength(1)
  })

  it('a delegate that goes silent (SIGSTOP) while holding a task loses it to another; waking up ends nothing twice', async () => {
    const registry = await gatedRegistry()
    const config = managerConfig(inject('redisUrl'), { heartbeatTimeoutMs: 2_500, heartbeatIntervalMs: 500 })
    const manager = await spawnManager(config)
    procs.push(manager)
    const api = new Api(manager.url, config.apiKey)
    const token = await api.token()
    const sleeper = await spawnDelegate(manager.url, token, { name: 'sleeper' })
    procs.push(sleeper)
    const connector = await api.ok('POST', '/api/v1/connectors', { name: 'slow', type: 'docker-registry', url: registry.host })
    const { id } = await api.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: connector.id, image: 'slow/repo', timeoutMs: 30_000 })
    expect((await api.waitForStatus(id, 'running')).delegate.name).toBe('sleeper')
    procs.push(await spawnDelegate(manager.url, token, { name: 'awake' }))
    sleeper.child.kill('SIGSTOP')
    expect((await api.waitForDelegate(id, 'awake')).status).toBe('running')
    registry.open()

    const done = await api.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    sleeper.child.kill('SIGCONT')
    expect(done.status).toBe('succeeded')
    expect(done.delegate.name).toBe('awake')
    expect(done.selectionLog.map((l: { message: string }) => l.message).join('\n')).toMatch(/sleeper lost while holding the task \(heartbeat timeout\)/)
    await sleeper.waitForLine(/manager connection closed/, 10_000) // awake again, it finds its socket gone
    // whatever the sleeper's late work comes to has happened once it is done with the task and back
    await waitFor(
      () =>
        sleeper.lines.some((l) => l.includes(id) && /task (succeeded|failed|aborted)/.test(l)) &&
        sleeper.lines.filter((l) => l.includes('welcomed by manager')).length >= 2,
      { timeoutMs: 15_000, what: 'the sleeper to be done with the task and connected again', describe: () => sleeper.lines.slice(-5) },
    )
    const after = await api.ok('GET', `/api/v1/tasks/${id}`)
    expect(after.status).toBe('succeeded')
    expect(after.delegate.name).toBe('awake')
    expect(manager.lines.filter((l) => l.includes(id) && l.includes('task finished'))).toHaveLength(1)
  })

  it('a manager killed with queued and running tasks loses none: a restarted manager ends them all', async () => {
    const registry = await slowRegistry(700)
    const port = await freePort()
    const config = managerConfig(inject('redisUrl'), { port, heartbeatTimeoutMs: 5_000, heartbeatIntervalMs: 500 })
    const first = await spawnManager(config)
    procs.push(first)
    const api = new Api(first.url, config.apiKey)
    const token = await api.token()
    const delegate = await spawnDelegate(first.url, token, { name: 'steady', capacity: 2 })
    procs.push(delegate)
    const connector = await api.ok('POST', '/api/v1/connectors', { name: 'slow', type: 'docker-registry', url: registry.host })
    const ids: string[] = []
    for (let i = 0; i < 6; i++) {
      const { id } = await api.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: connector.id, image: 'slow/repo', timeoutMs: 60_000 })
      ids.push(id)
    }
    await api.waitForStatus(ids[0]!, 'running')
    const before = await Promise.all(ids.map((id) => api.ok('GET', `/api/v1/tasks/${id}`)))
    expect(before.some((t) => t.status === 'queued')).toBe(true)

    await first.stop('SIGKILL')
    const second = await spawnManager(config)
    procs.push(second)

    const after = await Promise.all(ids.map((id) => api.ok('GET', `/api/v1/tasks/${id}?waitMs=45000`)))
    expect(after.map((t) => t.status)).toEqual(ids.map(() => 'succeeded'))
    for (const t of after) expect(t.result.tags).toEqual(['a', 'b', 'c'])
  }, 90_000)
})
