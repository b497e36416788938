/**
 * What a release attaches (scripts/release.ts): the delegate file with its checksums, and the
 * single executable, which runs the delegate with no Node installation on the PATH.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { dist } from '../scripts/build.ts'
import { buildSingleExecutable, release, SEA_NAME } from '../scripts/release.ts'
import { seedRepository } from './seed-registry.ts'
import { spawnProcess, startTestManager, type Proc, type TestManager } from './harness.ts'

describe('npm run release', () => {
  it('writes the delegate file, its source map and licences, and SHA256SUMS that match them', { timeout: 60_000 }, async () => {
    const files = await release()
    expect(files).toEqual(['registry-delegate.mjs', 'registry-delegate.mjs.map', 'THIRD-PARTY-LICENSES.txt', 'SHA256SUMS'])
    const sums = (await readFile(join(dist, 'SHA256SUMS'), 'utf8')).trim().split('\n')
    expect(sums).toHaveLength(3)
    for (const line of sums) {
      const [sum, name] = line.split('  ')
      expect(createHash('sha256').update(await readFile(join(dist, name!))).digest('hex'), name).toBe(sum)
    }
    const licences = await readFile(join(dist, 'THIRD-PARTY-LICENSES.txt'), 'utf8')
    // the tracing SDK is in the file as text (scripts/build.ts): its packages are listed too
    for (const bundled of ['ws ', 'pino ', 'undici ', 'convict ', 'prom-client ', '@opentelemetry/sdk-trace ', '@opentelemetry/exporter-trace-otlp-proto ']) expect(licences).toContain(`\n${bundled}`)
  })
})

describe('the single executable (Node SEA)', () => {
  let m: TestManager
  let exe: string
  let delegate: Proc | undefined
  const repo = `sea/${Math.random().toString(36).slice(2, 8)}`

  beforeAll(async () => {
    ;[exe, m] = await Promise.all([buildSingleExecutable(), startTestManager(inject('redisUrl'))])
    await seedRepository(`http://${inject('registryHostPort')}`, repo, ['1.0', '2.0'])
  }, 120_000)
  afterAll(async () => {
    await delegate?.stop()
    await m?.close()
  })

  it('runs the delegate with no node on the PATH: it connects and lists tags', { timeout: 60_000 }, async () => {
    expect(exe).toBe(join(dist, SEA_NAME))
    delegate = spawnProcess(exe, [], { PATH: '', MANAGER_URL: m.url, DELEGATE_TOKEN: await m.api.token(), DELEGATE_NAME: 'sea', DELEGATE_TAGS: 'sea', LOG_LEVEL: 'info' }, { cwd: dist })
    await delegate.waitForLine(/welcomed by manager/)
    const connector = await m.api.ok('POST', '/api/v1/connectors', { name: 'sea', type: 'docker-registry', url: inject('registryHostPort'), delegateSelectors: ['sea'] })
    const listed = await m.api.ok('GET', `/api/v1/connectors/${connector.id}/tags?image=${encodeURIComponent(repo)}`)
    expect(listed.tags).toEqual(['1.0', '2.0'])
    expect(listed.task.delegate.name).toBe('sea')
    expect(await delegate.stop('SIGTERM')).toBe(0)
  })
})
