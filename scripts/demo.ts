/**
 * `npm run demo`: the whole product on one machine. Starts Redis and a demo registry (Docker
 * containers when an engine is there, else the local redis-server / docker-registry binaries),
 * seeds the registry, starts a manager and a delegate, then creates a connector, validates it
 * and lists its tags. Runs until Ctrl-C, then stops everything it started.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { seedRepository } from '../test/seed-registry.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const children: ChildProcess[] = []
const containers: string[] = []
const say = (line: string) => process.stdout.write(`${line}\n`)

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** Where the engine has no bridge network (our CI), containers share the host's loopback. */
function dockerHasBridge(): boolean {
  return execFileSync('docker', ['network', 'ls', '--format', '{{.Name}}']).toString().split('\n').includes('bridge')
}

/** Runs a container published on 127.0.0.1:port (innerPort inside), or on the host network. */
function dockerRun(image: string, bridge: boolean, port: number, innerPort: number, env: Record<string, string>, cmd: string[]): void {
  const name = `registry-delegates-demo-${image.replace(/[^a-z0-9]/g, '-')}-${port}`
  const net = bridge ? ['-p', `127.0.0.1:${port}:${innerPort}`] : ['--network', 'host']
  const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`])
  execFileSync('docker', ['run', '-d', '--rm', '--name', name, ...net, ...envArgs, image, ...cmd], { stdio: 'ignore' })
  containers.push(name)
}

function start(cmd: string, args: string[], env: Record<string, string>, label: string): ChildProcess {
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const logFile = join(root, '.demo', `${label}.log`)
  mkdirSync(join(root, '.demo'), { recursive: true })
  writeFileSync(logFile, '')
  child.stdout?.on('data', (d: Buffer) => writeFileSync(logFile, d, { flag: 'a' }))
  child.stderr?.on('data', (d: Buffer) => writeFileSync(logFile, d, { flag: 'a' }))
  children.push(child)
  return child
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check().catch(() => false)) return
    await sleep(200)
  }
  throw new Error(`${what} did not come up within ${ms / 1000} s (logs in .demo/)`)
}

async function http(method: 'GET' | 'POST', url: string, key: string, body?: unknown): Promise<any> {
  const res = await request(url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : null,
  })
  const json = await res.body.json()
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode} ${JSON.stringify(json)}`)
  return json
}

async function stopAll(): Promise<void> {
  for (const c of children.reverse()) c.kill('SIGTERM')
  await sleep(500)
  for (const name of containers) if (!has('docker', ['rm', '-f', name])) say(`could not remove container ${name}`)
}

async function main(): Promise<void> {
  const docker = has('docker', ['info'])
  const [redisPort, registryPort, managerPort] = await Promise.all([freePort(), freePort(), freePort()])

  // Redis
  const bridge = docker && dockerHasBridge()
  if (docker) {
    const inner = bridge ? 6379 : redisPort
    dockerRun('redis:7', bridge, redisPort, inner, {}, ['redis-server', '--port', String(inner), '--bind', bridge ? '0.0.0.0' : '127.0.0.1', '--protected-mode', 'no'])
  } else if (has('redis-server', ['--version'])) {
    start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', ''], {}, 'redis')
  } else {
    throw new Error('need Docker or redis-server (apt-get install redis-server)')
  }

  // Demo registry
  if (docker) {
    dockerRun('registry:2', bridge, registryPort, 5000, { REGISTRY_HTTP_ADDR: bridge ? '0.0.0.0:5000' : `127.0.0.1:${registryPort}` }, [])
  } else if (has('docker-registry', ['--version'])) {
    const dir = join(tmpdir(), `demo-registry-${registryPort}`)
    mkdirSync(dir, { recursive: true })
    const cfg = join(dir, 'config.yml')
    writeFileSync(cfg, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}\nhttp:\n  addr: 127.0.0.1:${registryPort}\n`)
    start('docker-registry', ['serve', cfg], {}, 'registry')
  } else {
    throw new Error('need Docker or docker-registry (apt-get install docker-registry)')
  }
  const registry = `127.0.0.1:${registryPort}`
  await waitFor('registry', async () => (await request(`http://${registry}/v2/`)).statusCode === 200)
  say(`registry   http://${registry}  (seeding…)`)
  await seedRepository(`http://${registry}`, 'demo/web', ['1.0.0', '1.1.0', '1.2.0', '2.0.0-rc.1', 'latest'])
  await seedRepository(`http://${registry}`, 'demo/worker', ['0.9.0', '1.0.0', 'latest'])
  await seedRepository(`http://${registry}`, 'library/alpine', ['3.19', '3.20', '3.21', 'latest'])

  // Manager
  const apiKey = randomBytes(18).toString('base64url')
  start(
    process.execPath,
    ['manager/src/main.ts'],
    {
      MANAGER_HOST: '127.0.0.1',
      MANAGER_PORT: String(managerPort),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      MANAGER_API_KEY: apiKey,
      MANAGER_SECRETS_KEY: randomBytes(32).toString('base64'),
    },
    'manager',
  )
  const api = `http://127.0.0.1:${managerPort}`
  await waitFor('manager', async () => (await request(`${api}/readyz`)).statusCode === 200)

  // Delegate
  const { token } = await http('POST', `${api}/api/v1/delegate-tokens`, apiKey, { name: 'demo' })
  start(process.execPath, ['delegate/src/main.ts'], { MANAGER_URL: api, DELEGATE_TOKEN: token, DELEGATE_NAME: 'demo-delegate', DELEGATE_TAGS: 'demo,local' }, 'delegate')
  await waitFor('delegate', async () => (await http('GET', `${api}/api/v1/delegates`, apiKey)).some((d: { connected: boolean }) => d.connected))

  // The product at work
  const connector = await http('POST', `${api}/api/v1/connectors`, apiKey, {
    name: 'Demo registry',
    type: 'docker-registry',
    url: registry,
    delegateSelectors: ['demo'],
  })
  const validation = await http('POST', `${api}/api/v1/connectors/${connector.id}/validate`, apiKey)
  say(`connector  ${connector.name} (${connector.id}): validation ${validation.status} on ${validation.delegate?.name}`)
  const { images } = await http('GET', `${api}/api/v1/connectors/${connector.id}/images`, apiKey)
  for (const image of images as string[]) {
    const { tags } = await http('GET', `${api}/api/v1/connectors/${connector.id}/tags?image=${encodeURIComponent(image)}`, apiKey)
    say(`  ${image.padEnd(16)} ${(tags as string[]).join('  ')}`)
  }
  say('')
  say(`API        ${api}/api/v1   (Authorization: Bearer ${apiKey})`)
  say(`console    ${api}/`)
  say(`try        curl -s -H 'authorization: Bearer ${apiKey}' ${api}/api/v1/delegates`)
  say('logs       .demo/*.log        Ctrl-C stops everything')
}

let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  say('\nstopping…')
  stopAll().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

main().then(
  () => setInterval(() => {}, 1 << 30),
  async (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`)
    await stopAll()
    process.exit(1)
  },
)
