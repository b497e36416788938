/**
 * Starting the real Redis and registry containers the tests use, with the upstream image names.
 *
 * On a laptop Docker maps a random host port. On machines without bridge networking (our CI),
 * set TEST_HOST_NETWORK=1: containers then share the host's network and bind 127.0.0.1 on a
 * port picked here.
 */
import { createServer } from 'node:net'
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers'

export const hostNetwork = process.env.TEST_HOST_NETWORK === '1'

/** A free loopback TCP port (the kernel picks it; we release it just before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export interface Started {
  container: StartedTestContainer
  /** host:port reachable from the tests */
  hostPort: string
  port: number
}

export async function startRedis(): Promise<Started & { url: string }> {
  const inner = hostNetwork ? await freePort() : 6379
  let c = new GenericContainer('redis:7-alpine')
    .withCommand(['redis-server', '--port', String(inner), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', ''])
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .withLabels({ 'registry-delegates.test': 'true' })
  c = hostNetwork ? c.withNetworkMode('host') : c.withExposedPorts(inner)
  const container = await c.start()
  const port = hostNetwork ? inner : container.getMappedPort(inner)
  const hostPort = `127.0.0.1:${port}`
  return { container, hostPort, port, url: `redis://${hostPort}` }
}

export interface RegistryOptions {
  /** Extra REGISTRY_* environment (auth, TLS …). */
  env?: Record<string, string>
  /** Files copied into the container: container path → content. */
  files?: Record<string, string | Buffer>
}

/** CNCF distribution (`registry:2`), anonymous unless options configure auth or TLS. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Started> {
  const inner = hostNetwork ? await freePort() : 5000
  let c = new GenericContainer('registry:2')
    .withEnvironment({ REGISTRY_HTTP_ADDR: `${hostNetwork ? '127.0.0.1' : '0.0.0.0'}:${inner}`, ...opts.env })
    .withWaitStrategy(Wait.forLogMessage(/listening on/))
    .withLabels({ 'registry-delegates.test': 'true' })
  const files = Object.entries(opts.files ?? {})
  if (files.length > 0) c = c.withCopyContentToContainer(files.map(([target, content]) => ({ content, target })))
  c = hostNetwork ? c.withNetworkMode('host') : c.withExposedPorts(inner)
  const container = await c.start()
  const port = hostNetwork ? inner : container.getMappedPort(inner)
  return { container, hostPort: `127.0.0.1:${port}`, port }
}

/**
 * A Redis Sentinel watching the Redis at `masterPort` as "mymaster". Host networking only: the
 * sentinel hands clients the master's address as it sees it, 127.0.0.1, which in a bridge
 * network would be the sentinel's own container.
 */
export async function startSentinel(masterPort: number): Promise<Started> {
  if (!hostNetwork) throw new Error('startSentinel needs TEST_HOST_NETWORK=1 (see its comment)')
  const port = await freePort()
  const conf = [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode no',
    `sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`,
    'sentinel down-after-milliseconds mymaster 2000',
    '',
  ].join('\n')
  const container = await new GenericContainer('redis:7-alpine')
    .withCopyContentToContainer([{ content: conf, target: '/data/sentinel.conf', mode: 0o666 }])
    .withCommand(['redis-server', '/data/sentinel.conf', '--sentinel'])
    .withNetworkMode('host')
    .withWaitStrategy(Wait.forLogMessage(/Sentinel ID is|monitor master mymaster/))
    .withLabels({ 'registry-delegates.test': 'true' })
    .start()
  return { container, hostPort: `127.0.0.1:${port}`, port }
}
