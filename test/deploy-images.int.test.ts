/**
 * The deployment artefacts, for real: both images built offline (the base image comes from
 * ../shared/ci-env/docker.sh base), inspected, then the whole docker-compose stack brought up
 * through the host-network override, used through the manager's REST API, and taken down.
 * Needs a Docker engine and docker-compose; without them it fails, saying so.
 */
import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { freePort } from './containers.ts'
import { Api, root } from './harness.ts'

const BASE = 'node:24-bookworm-slim'
/** a tag of this run's own: other test runs on the same Docker engine build these images too */
const TAG = `test-${randomUUID().slice(0, 8)}`
const MANAGER = `registry-delegates/manager:${TAG}`
const DELEGATE = `registry-delegates/delegate:${TAG}`
/**
 * what each image may add to the base image: the bundles and the console (before the build
 * step, with node_modules and the TypeScript sources, they added 25.8 and 3.4 MB)
 */
const MAX_ADDED_MB: Record<string, number> = { [MANAGER]: 8, [DELEGATE]: 2 }

const childEnv = { ...process.env, DOCKER_BUILDKIT: '0' }

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = childEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: root, env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed (${err.code ?? err.signal}):\n${stderr || stdout}`))
      else resolve(stdout)
    })
  })
}

interface ImageInfo {
  Size: number
  Config: { User: string; Cmd: string[]; Healthcheck?: { Test?: string[] } }
}
const inspect = async (image: string): Promise<ImageInfo> => {
  const [info] = JSON.parse(await run('docker', ['image', 'inspect', image])) as ImageInfo[]
  if (!info) throw new Error(`no image ${image}`)
  return info
}

/** Runs a node script inside the image, without network, as the image's user. */
const nodeIn = (image: string, script: string, ...args: string[]) =>
  run('docker', ['run', '--rm', '--network', 'none', image, 'node', '--input-type=module', '-e', script, ...args])

describe('deployment: images and docker-compose', () => {
  beforeAll(async () => {
    await run('docker', ['info', '--format', '{{.ServerVersion}}']).catch((e: Error) => {
      throw new Error(`these tests need a Docker engine (../shared/ci-env/docker.sh engine): ${e.message}`)
    })
    await run('docker-compose', ['version', '--short']).catch((e: Error) => {
      throw new Error(`these tests need docker-compose (../shared/ci-env/docker.sh engine): ${e.message}`)
    })
    await run('docker', ['image', 'inspect', BASE]).catch(() => {
      throw new Error(`the base image ${BASE} is missing: run ../shared/ci-env/docker.sh base`)
    })
  })

  afterAll(async () => {
    await run('docker', ['image', 'rm', MANAGER, DELEGATE]).catch(() => undefined)
  }, 60_000)

  it('docker-compose.yml runs Redis with AOF on a volume and two delegates with different tags that wait for a healthy manager', () => {
    interface Service {
      image?: string
      command?: string[]
      volumes?: string[]
      environment?: Record<string, string>
      healthcheck?: { test?: string[] }
      depends_on?: Record<string, { condition: string }>
      stop_grace_period?: string
    }
    const { services: s } = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> }
    const service = (name: string): Service => s[name] ?? expect.unreachable(`no service ${name}`)
    expect(service('redis').command?.join(' ')).toMatch(/--appendonly yes/)
    expect(service('redis').volumes).toContain('redis-data:/data')
    expect(service('redis').healthcheck?.test).toBeTruthy()
    expect(service('manager').depends_on?.redis?.condition).toBe('service_healthy')
    expect(service('registry').image).toBe('registry:2')
    const delegates = Object.keys(s).filter((n) => n.startsWith('delegate-')).map(service)
    expect(delegates).toHaveLength(2)
    expect(new Set(delegates.map((d) => d.environment?.DELEGATE_TAGS)).size).toBe(2)
    for (const d of delegates) {
      expect(d.depends_on?.manager?.condition).toBe('service_healthy')
      expect(d.depends_on?.bootstrap?.condition).toBe('service_completed_successfully')
      expect(d.environment?.DELEGATE_TOKEN_FILE).toBeTruthy()
      // more than DELEGATE_DRAIN_GRACE_MS (30 s), so that `docker stop` lets a drain finish
      expect(Number.parseInt(d.stop_grace_period ?? '10', 10) * 1000).toBeGreaterThan(30_000)
    }
  })

  it('both images build offline from node:24-bookworm-slim', { timeout: 900_000 }, async () => {
    for (const [file, tag] of [['deploy/manager.Dockerfile', MANAGER], ['deploy/delegate.Dockerfile', DELEGATE]] as const) {
      await run('docker', ['build', '--network', 'host', '-q', '-f', file, '-t', tag, '.'])
      expect((await inspect(tag)).Config.Cmd[0]).toBe('node')
    }
  })

  it('the images run as node, declare a HEALTHCHECK, hold the built files and no node_modules, sources or tests, and stay small', { timeout: 120_000 }, async () => {
    const base = await inspect(BASE)
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
    const devOnly = Object.entries(lock.packages)
      .filter(([path, p]) => path.startsWith('node_modules/') && p.dev === true)
      .map(([path]) => path)
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/vitest', 'node_modules/typescript', 'node_modules/testcontainers']))
    const leftovers = `const fs = await import('node:fs'); const paths = JSON.parse(process.argv[1]);
      console.log(JSON.stringify(paths.filter((p) => fs.existsSync('/app/' + p))))`
    for (const image of [MANAGER, DELEGATE]) {
      const info = await inspect(image)
      expect(info.Config.User, image).toBe('node')
      expect(info.Config.Healthcheck?.Test?.[0], image).toBe('CMD')
      const addedMb = (info.Size - base.Size) / 1e6
      expect(addedMb, `${image} adds ${addedMb.toFixed(1)} MB to ${BASE}`).toBeLessThan(MAX_ADDED_MB[image]!)
      const present = JSON.parse(await nodeIn(image, leftovers, JSON.stringify([...devOnly, 'node_modules', 'test', 'manager', 'delegate', 'protocol', 'common', '.git', '.env'])))
      expect(present, `${image} should not hold these`).toEqual([])
    }
    // each image runs its bundle, which carries its dependencies (test/built.int.test.ts runs them outside Docker)
    const listing = `const fs = await import('node:fs'); console.log(JSON.stringify(fs.readdirSync('/app').sort()))`
    expect(JSON.parse(await nodeIn(DELEGATE, listing))).toEqual(['THIRD-PARTY-LICENSES.txt', 'registry-delegate.mjs'])
    expect(JSON.parse(await nodeIn(MANAGER, listing))).toEqual(['THIRD-PARTY-LICENSES.txt', 'compose-bootstrap.mjs', 'console', 'manager.mjs'])
    // and without settings each process stops with a line naming what is missing
    await expect(run('docker', ['run', '--rm', '--network', 'none', DELEGATE])).rejects.toThrow(/MANAGER_URL/)
    await expect(run('docker', ['run', '--rm', '--network', 'none', MANAGER])).rejects.toThrow(/MANAGER_API_KEY/)
  })

  describe('docker-compose with the host-network override', () => {
    const project = `rdtest${randomUUID().slice(0, 8)}`
    const apiKey = randomBytes(18).toString('base64url')
    const ports = { redis: 0, registry: 0, manager: 0, eu: 0, us: 0 }
    let env: NodeJS.ProcessEnv = childEnv
    const compose = (...args: string[]) => run('docker-compose', ['-f', 'docker-compose.yml', '-f', 'docker-compose.host.yml', '-p', project, ...args], env)
    let started = false

    afterAll(async () => {
      if (started) await compose('down', '-v', '--remove-orphans')
    }, 120_000)

    it('brings up a system where a connector on the demo registry validates and lists its tags', { timeout: 300_000 }, async () => {
      for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort()
      env = {
        ...childEnv,
        MANAGER_API_KEY: apiKey,
        MANAGER_SECRETS_KEY: randomBytes(32).toString('base64'),
        RD_IMAGE_TAG: TAG,
        RD_REDIS_PORT: String(ports.redis),
        RD_REGISTRY_PORT: String(ports.registry),
        RD_MANAGER_PORT: String(ports.manager),
        RD_DELEGATE_EU_HEALTH_PORT: String(ports.eu),
        RD_DELEGATE_US_HEALTH_PORT: String(ports.us),
      }
      started = true
      try {
        // depends_on makes `up` wait for a healthy manager and a finished bootstrap
        await compose('up', '-d', '--no-build')
        await waitForHealthy(compose)
        const api = new Api(`http://127.0.0.1:${ports.manager}`, apiKey)
        await api.waitForDelegates(2, 30_000)
        const delegates = await api.ok<{ name: string; tags: string[]; connected: boolean }[]>('GET', '/api/v1/delegates')
        expect(delegates.filter((d) => d.connected).map((d) => [d.name, d.tags.filter((t) => t !== 'docker')]).sort()).toEqual([
          ['delegate-eu', ['eu']],
          ['delegate-us', ['us']],
        ])

        // the bootstrap seeded the demo registry and made a connector for it
        const { connectors } = await api.ok<{ connectors: { name: string }[] }>('GET', '/api/v1/connectors')
        expect(connectors.map((c) => c.name)).toContain('Demo registry')

        const registry = `127.0.0.1:${ports.registry}`
        for (const [tag, image, expected] of [
          ['eu', 'demo/web', ['1.0.0', '1.1.0', '1.2.0', '2.0.0-rc.1', 'latest']],
          ['us', 'library/alpine', ['3.19', '3.20', '3.21', 'latest']],
        ] as const) {
          const connector = await api.ok<{ id: string }>('POST', '/api/v1/connectors', {
            name: `compose ${tag}`,
            type: 'docker-registry',
            url: registry,
            delegateSelectors: [tag],
          })
          const validation = await api.ok<{ status: string; delegate: { name: string } }>('POST', `/api/v1/connectors/${connector.id}/validate`)
          expect(validation.status, JSON.stringify(validation)).toBe('succeeded')
          expect(validation.delegate.name).toBe(`delegate-${tag}`)
          const listed = await api.ok<{ tags: string[]; task: { delegate: { name: string } } }>('GET', `/api/v1/connectors/${connector.id}/tags?image=${encodeURIComponent(image)}`)
          expect(listed.tags).toEqual(expected)
          expect(listed.task.delegate.name).toBe(`delegate-${tag}`)
        }

        const redisId = (await compose('ps', '-q', 'redis')).trim()
        expect(await run('docker', ['exec', redisId, 'redis-cli', '-p', String(ports.redis), 'config', 'get', 'appendonly'])).toMatch(/appendonly\s+yes/)
      } catch (e) {
        const logs = await compose('logs', '--no-color', '--tail', '30').catch((err: Error) => err.message)
        throw new Error(`${(e as Error).message}\n--- docker-compose logs ---\n${logs}`, { cause: e })
      }
    })
  })
})

/** Waits until every long-running container of the project is healthy (or has no healthcheck). */
async function waitForHealthy(compose: (...args: string[]) => Promise<string>, ms = 90_000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    const ids = (await compose('ps', '-q')).split('\n').filter(Boolean)
    const containers = JSON.parse(await run('docker', ['inspect', ...ids])) as { Name: string; State: { Status: string; ExitCode: number; Health?: { Status: string } } }[]
    const states = containers.map((c) => ({ name: c.Name, status: c.State.Status, exitCode: c.State.ExitCode, health: c.State.Health?.Status }))
    const bad = states.find((s) => s.status === 'exited' && s.exitCode !== 0)
    if (bad) throw new Error(`${bad.name} exited with ${bad.exitCode}`)
    const waiting = states.filter((s) => s.status !== 'exited' && s.health !== undefined && s.health !== 'healthy')
    if (waiting.length === 0) return
    if (Date.now() > until) throw new Error(`not healthy after ${ms / 1000} s: ${waiting.map((s) => `${s.name} ${s.health}`).join(', ')}`)
    await sleep(1_000)
  }
}
