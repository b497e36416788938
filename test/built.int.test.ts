/**
 * The built files as a user runs them: `npm run build`, then dist/manager.mjs (beside its
 * console/) and dist/registry-delegate.mjs, each copied alone into an empty directory where no
 * node_modules can be found, run as real processes against the real Redis and registry.
 */
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { copyFile, cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { build, BUNDLES, dist } from '../scripts/build.ts'
import { makePki } from '../delegate/test/registry-pki.ts'
import { freePort, startRegistry } from './containers.ts'
import { startOtlpReceiver } from './otlp-receiver.ts'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { seedRepository } from './seed-registry.ts'

describe('the built manager and delegate, each one file run by node alone', () => {
  const repo = `built/${randomUUID().slice(0, 8)}`
  const seeded = Array.from({ length: 1_200 }, (_, i) => `1.${i}`)
  const dirs: string[] = []
  let manager: Proc & { url: string }
  let delegate: Proc
  let api: Api
  let delegateDir: string

  beforeAll(async () => {
    const seeding = seedRepository(`http://${inject('registryHostPort')}`, repo, seeded)
    await build()
    const managerDir = await mkdtemp(join(tmpdir(), 'rd-built-manager-'))
    delegateDir = await mkdtemp(join(tmpdir(), 'rd-built-delegate-'))
    dirs.push(managerDir, delegateDir)
    await copyFile(join(dist, BUNDLES.manager.out), join(managerDir, BUNDLES.manager.out))
    await cp(join(dist, 'console'), join(managerDir, 'console'), { recursive: true })
    await copyFile(join(dist, BUNDLES.delegate.out), join(delegateDir, BUNDLES.delegate.out))
    const config = managerConfig(inject('redisUrl'))
    manager = await spawnManager(config, { script: BUNDLES.manager.out, cwd: managerDir })
    api = new Api(manager.url, config.apiKey)
    await seeding
  }, 180_000)
  afterAll(async () => {
    await delegate?.stop()
    await manager?.stop()
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  })

  it('the delegate directory has no dependency to find: not even ws resolves there', async () => {
    const resolveWs = promisify(execFile)(process.execPath, ['--input-type=module', '-e', "import.meta.resolve('ws')"], { cwd: delegateDir })
    await expect(resolveWs).rejects.toThrow(/Cannot find package 'ws'/)
  })

  it('the built manager serves the console from the console/ beside it', async () => {
    const res = await fetch(`${manager.url}/`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe(await readFile(join(dist, 'console/index.html'), 'utf8'))
  })

  it('the built delegate connects, validates a connector and lists every tag of a paged repository', async () => {
    delegate = await spawnDelegate(manager.url, await api.token(), { name: 'built-delegate', tags: ['built'], script: BUNDLES.delegate.out, cwd: delegateDir })
    const connector = await api.ok('POST', '/api/v1/connectors', {
      name: 'built',
      type: 'docker-registry',
      url: inject('registryHostPort'),
      delegateSelectors: ['built'],
    })
    const validation = await api.ok('POST', `/api/v1/connectors/${connector.id}/validate`)
    expect(validation.status).toBe('succeeded')
    expect(validation.delegate.name).toBe('built-delegate')
    expect(validation.result).toMatchObject({ type: 'validate-connector', apiVersion: 'registry/2.0', authScheme: 'none' })

    const listed = await api.ok('GET', `/api/v1/connectors/${connector.id}/tags?image=${encodeURIComponent(repo)}`)
    expect(listed.tags).toEqual([...seeded].sort())
    expect(listed.truncated).toBe(false)
    expect(listed.task.delegate.name).toBe('built-delegate')
  })

  it('an idle built delegate has loaded neither Node\'s undici nor TLS, zlib or assert: they load on first use', async () => {
    // a preload that reports Node's loaded built-ins on SIGUSR2
    const report = `process.on('SIGUSR2', () => process.stderr.write('LOADED ' + JSON.stringify(process.moduleLoadList) + '\\n'))`
    const idle = await spawnDelegate(manager.url, await api.token(), {
      name: 'built-idle',
      script: BUNDLES.delegate.out,
      cwd: delegateDir,
      env: { NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(report)}` },
    })
    try {
      idle.child.kill('SIGUSR2')
      const loaded = JSON.parse((await idle.waitForLine(/^LOADED /)).slice('LOADED '.length)) as string[]
      expect(loaded).toContain('NativeModule http')
      const heavy = loaded.filter((m) => /^NativeModule (internal\/deps\/undici\/undici|tls|https|zlib|http2|assert)$/.test(m))
      expect(heavy).toEqual([])
    } finally {
      await idle.stop()
    }
  })

  it('the built delegate answers a reachability probe', async () => {
    const res = await api.ok('POST', '/api/v1/delegates/eligible', { url: inject('registryHostPort'), delegateSelectors: ['built'], probe: true })
    const me = res.delegates.find((d: { name: string }) => d.name === 'built-delegate')
    expect(me).toMatchObject({ eligible: true, probe: { reachable: true, status: 200 } })
  })

  it('the built delegate, given REGISTRY_CA_FILE, lists the tags of an https registry', { timeout: 60_000 }, async () => {
    const pki = makePki()
    const reg = await startRegistry({
      env: { REGISTRY_HTTP_TLS_CERTIFICATE: '/etc/docker/registry/server.pem', REGISTRY_HTTP_TLS_KEY: '/etc/docker/registry/server.key' },
      files: { '/etc/docker/registry/server.pem': pki.serverCertPem, '/etc/docker/registry/server.key': pki.serverKeyPem },
    })
    let tlsDelegate: Proc | undefined
    try {
      await seedRepository(`https://${reg.hostPort}`, 'secure/app', ['a', 'b'], { ca: pki.caPem })
      tlsDelegate = await spawnDelegate(manager.url, await api.token(), {
        name: 'built-tls',
        tags: ['built-tls'],
        env: { REGISTRY_CA_FILE: pki.caFile },
        script: BUNDLES.delegate.out,
        cwd: delegateDir,
      })
      const connector = await api.ok('POST', '/api/v1/connectors', { name: 'tls', type: 'docker-registry', url: `https://${reg.hostPort}`, delegateSelectors: ['built-tls'] })
      const listed = await api.ok('GET', `/api/v1/connectors/${connector.id}/tags?image=secure/app`)
      expect(listed.tags).toEqual(['a', 'b'])
      expect(listed.task.delegate.name).toBe('built-tls')
    } finally {
      await tlsDelegate?.stop()
      await reg.container.stop()
      pki.cleanup()
    }
  })

  it('traced, the built manager and delegate put a task in one trace (the delegate compiles its SDK text only now), and the delegate serves /metrics', { timeout: 90_000 }, async () => {
    const receiver = await startOtlpReceiver()
    const otel = (service: string) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: service })
    const config = managerConfig(inject('redisUrl'))
    const dirs2 = [await mkdtemp(join(tmpdir(), 'rd-built-traced-'))]
    const procs: Proc[] = []
    try {
      const dir = dirs2[0]!
      await copyFile(join(dist, BUNDLES.manager.out), join(dir, BUNDLES.manager.out))
      await cp(join(dist, 'console'), join(dir, 'console'), { recursive: true })
      await copyFile(join(dist, BUNDLES.delegate.out), join(dir, BUNDLES.delegate.out))
      const traced = await spawnManager(config, { script: BUNDLES.manager.out, cwd: dir, env: otel('built-manager') })
      procs.push(traced)
      const tracedApi = new Api(traced.url, config.apiKey)
      const healthPort = await freePort()
      procs.push(
        await spawnDelegate(traced.url, await tracedApi.token(), {
          name: 'built-traced',
          script: BUNDLES.delegate.out,
          cwd: dir,
          env: { ...otel('built-delegate'), DELEGATE_HEALTH_PORT: String(healthPort), DELEGATE_HEALTH_HOST: '127.0.0.1' },
        }),
      )
      const connector = await tracedApi.ok('POST', '/api/v1/connectors', { name: 'traced', type: 'docker-registry', url: inject('registryHostPort') })
      const { task } = await tracedApi.ok('GET', `/api/v1/connectors/${connector.id}/tags?image=${encodeURIComponent(repo)}`)
      expect(task.traceId).toMatch(/^[0-9a-f]{32}$/)
      const until = Date.now() + 20_000
      let spans = receiver.spans.filter((x) => x.traceId === task.traceId)
      while (!(spans.some((x) => x.name === 'task.run') && spans.some((x) => x.name === 'task.stint' && x.attributes['rd.task.outcome'] === 'succeeded') && spans.some((x) => x.parentSpanId === ''))) {
        if (Date.now() > until) expect.fail(`trace incomplete: ${spans.map((x) => `${x.service}:${x.name}`).join(', ')}`)
        await new Promise((r) => setTimeout(r, 100))
        spans = receiver.spans.filter((x) => x.traceId === task.traceId)
      }
      const ids = new Set(spans.map((x) => x.spanId))
      expect(spans.filter((x) => x.parentSpanId === '').map((x) => x.name)).toEqual(['GET /api/v1/connectors/:id/tags'])
      for (const x of spans) if (x.parentSpanId) expect(ids).toContain(x.parentSpanId)
      const run = spans.find((x) => x.name === 'task.run')!
      expect(run.service).toBe('built-delegate')
      const pages = spans.filter((x) => x.parentSpanId === run.spanId && x.attributes['rd.registry.page'] !== undefined).map((x) => Number(x.attributes['rd.registry.page']))
      expect(pages.sort()).toEqual(Array.from({ length: Math.max(1, pages.length) }, (_, i) => i + 1))
      const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text()
      expect(metrics).toMatch(/^rd_delegate_tasks_total\{type="list-tags",outcome="succeeded"\} 1$/m)
      expect(metrics).toContain(`rd_delegate_registry_request_duration_seconds_count{host="${inject('registryHostPort')}",status="200"} ${pages.length}`)
    } finally {
      await Promise.all(procs.map((p) => p.stop()))
      await receiver.close()
      await Promise.all(dirs2.map((d) => rm(d, { recursive: true, force: true })))
    }
  })

  it('the built delegate drains and exits 0 on SIGTERM', async () => {
    expect(await delegate.stop('SIGTERM')).toBe(0)
    expect(delegate.lines.some((l) => l.includes('delegate stopped'))).toBe(true)
  })
})
