/**
 * The whole path as an operator runs it: manager and delegate as real processes
 * (`node manager/src/main.ts`, `node delegate/src/main.ts`), real Redis, BullMQ, WebSocket and a
 * real CNCF registry seeded with 1,500 tags so that listing must follow `Link` pages.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { seedRepository } from './seed-registry.ts'

describe('end to end: REST → BullMQ → WebSocket → delegate → registry → result', () => {
  const repo = `e2e/${randomUUID().slice(0, 8)}`
  const seeded = Array.from({ length: 1_500 }, (_, i) => `v${i}`)
  let manager: Proc & { url: string }
  let delegate: Proc
  let api: Api

  beforeAll(async () => {
    const registry = inject('registryHostPort')
    const config = managerConfig(inject('redisUrl'))
    await Promise.all([
      seedRepository(`http://${registry}`, repo, seeded),
      (async () => {
        manager = await spawnManager(config)
        api = new Api(manager.url, config.apiKey)
      })(),
    ])
    delegate = await spawnDelegate(manager.url, await api.token(), { name: 'e2e-delegate', tags: ['lab'] })
  })
  afterAll(async () => {
    await delegate?.stop()
    await manager?.stop()
  })

  it('creates a connector, validates it and lists exactly the seeded tags', async () => {
    const connector = await api.ok('POST', '/api/v1/connectors', {
      name: 'Lab registry',
      type: 'docker-registry',
      url: inject('registryHostPort'),
      delegateSelectors: ['LAB'],
    })
    expect(connector.delegateSelectors).toEqual(['lab'])

    const validation = await api.ok('POST', `/api/v1/connectors/${connector.id}/validate`)
    expect(validation.status).toBe('succeeded')
    expect(validation.delegate.name).toBe('e2e-delegate')
    expect(validation.result).toMatchObject({ type: 'validate-connector', authScheme: 'none', apiVersion: 'registry/2.0' })

    const listed = await api.ok('GET', `/api/v1/connectors/${connector.id}/tags?image=${encodeURIComponent(repo)}`)
    expect(listed.image).toBe(repo)
    expect(listed.truncated).toBe(false)
    expect(listed.tags).toEqual([...seeded].sort())
    expect(listed.task.status).toBe('succeeded')

    const images = await api.ok('GET', `/api/v1/connectors/${connector.id}/images`)
    expect(images.images).toContain(repo)
  })

  it('answers 502 with the registry failure when the repository does not exist', async () => {
    const connector = await api.ok('POST', '/api/v1/connectors', { name: 'x', type: 'docker-registry', url: inject('registryHostPort') })
    const res = await api.call('GET', `/api/v1/connectors/${connector.id}/tags?image=no/such-repo-${randomUUID().slice(0, 6)}`)
    expect(res.status).toBe(502)
    expect(res.body.error.code).toBe('NAME_UNKNOWN')
    expect(res.body.task.status).toBe('failed')
  })

  it('stops the delegate cleanly on SIGTERM (exit 0)', async () => {
    const code = await delegate.stop('SIGTERM')
    expect(code).toBe(0)
    expect(delegate.lines.some((l) => l.includes('delegate stopped'))).toBe(true)
  })
})
