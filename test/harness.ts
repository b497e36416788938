/**
 * Starting managers and delegates for integration tests: in-process (real HTTP, WebSocket, BullMQ,
 * Redis) or as real processes (`node manager/src/main.ts`), where death or signals matter.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { pino, type Logger } from 'pino'
import { request } from 'undici'
import type { ManagerConfig } from '../manager/src/config.ts'
import { startManager, type RunningManager } from '../manager/src/manager.ts'
import { Delegate, type TaskRunner } from '../delegate/src/delegate.ts'
import { freePort } from './containers.ts'
import { waitFor } from './wait-for.ts'

export const root = fileURLToPath(new URL('..', import.meta.url))

export function testLog(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
}

export function managerConfig(redisUrl: string, over: Partial<ManagerConfig> = {}): ManagerConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    redisUrl,
    apiKey: `key-${randomUUID()}`,
    secretsKey: randomBytes(32).toString('base64'),
    secretsOldKey: '',
    logLevel: 'silent',
    queuePrefix: `t-${randomUUID().slice(0, 8)}`,
    heartbeatTimeoutMs: 3_000,
    heartbeatIntervalMs: 500,
    unreachableMarkMs: 60_000,
    workerConcurrency: 200,
    alertWebhookUrl: '',
    alertWebhookSecret: '',
    watchIntervalMs: 10_000,
    traceUrlTemplate: '',
    tracing: null,
    ...over,
  }
}

export interface TestManager extends RunningManager {
  config: ManagerConfig
  api: Api
}

export async function startTestManager(redisUrl: string, over: Partial<ManagerConfig> = {}): Promise<TestManager> {
  const config = managerConfig(redisUrl, over)
  const m = await startManager(config, testLog())
  return Object.assign(m, { config, api: new Api(m.url, config.apiKey) })
}

export class Api {
  readonly base: string
  readonly key: string
  constructor(base: string, key: string) {
    this.base = base
    this.key = key
  }

  async call<T = any>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await request(this.base + path, {
      method,
      headers: { authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? null : JSON.stringify(body),
    })
    const text = await res.body.text()
    return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T }
  }

  async ok<T = any>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.call<T>(method, path, body)
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }

  async token(name = `tok-${randomUUID().slice(0, 6)}`): Promise<string> {
    return (await this.ok<{ token: string }>('POST', '/api/v1/delegate-tokens', { name })).token
  }

  /** Polls a task until it reaches `status` (e.g. 'running'); throws after `ms`. */
  async waitForStatus(id: string, status: string, ms = 15_000): Promise<any> {
    let last: any
    return waitFor(
      async () => {
        last = await this.ok('GET', `/api/v1/tasks/${id}`)
        return last.status === status && last
      },
      { timeoutMs: ms, what: `task ${id} to be ${status}`, describe: () => last && { status: last.status, selectionLog: last.selectionLog } },
    )
  }

  /** Polls a task until a delegate of this name holds it; throws after `ms`. */
  async waitForDelegate(id: string, name: string, ms = 15_000): Promise<any> {
    let last: any
    return waitFor(
      async () => {
        last = await this.ok('GET', `/api/v1/tasks/${id}`)
        return last.delegate?.name === name && last
      },
      { timeoutMs: ms, what: `task ${id} on ${name}`, describe: () => last && { status: last.status, delegate: last.delegate?.name ?? null } },
    )
  }

  /** Waits until `count` delegates are connected (as GET /api/v1/delegates or the dispatcher sees them). */
  async waitForDelegates(count: number, timeoutMs = 15_000): Promise<void> {
    let last: { name: string; connected: boolean }[] = []
    await waitFor(
      async () => {
        last = await this.ok<{ name: string; connected: boolean }[]>('GET', '/api/v1/delegates')
        return last.filter((d) => d.connected).length >= count
      },
      { timeoutMs, what: `${count} connected delegate(s)`, intervalMs: 100, describe: () => last.map((d) => `${d.name}: ${d.connected ? 'connected' : 'gone'}`) },
    )
  }
}

export interface InProcessDelegateOptions {
  name?: string
  tags?: string[]
  capacity?: number
  runner?: TaskRunner
  env?: Record<string, string>
  proxy?: { httpProxy?: string; httpsProxy?: string; noProxy?: string }
  /** where its log goes (default: silent, or TEST_LOG_LEVEL) */
  log?: Logger
}

/** A delegate in this process with the real registry client (or a given runner). */
/** `managerUrl` may list several URLs, comma-separated, as MANAGER_URL does. */
export async function startTestDelegate(managerUrl: string, token: string, o: InProcessDelegateOptions = {}): Promise<Delegate> {
  const log = o.log ?? testLog()
  const d = new Delegate({
    managerUrls: managerUrl.split(','),
    token,
    name: o.name ?? `d-${randomUUID().slice(0, 6)}`,
    tags: o.tags ?? [],
    capacity: o.capacity ?? 8,
    version: 'test',
    log,
    runner: o.runner ?? new (await import('../delegate/src/registry/client.ts')).RegistryClient({ log }),
    env: o.env ?? {},
    ...(o.proxy ? { proxy: o.proxy } : {}),
  })
  d.start()
  await waitFor(() => d.id !== null, { timeoutMs: 10_000, what: 'the delegate to be welcomed', describe: () => d.connectionState })
  return d
}

export interface Proc {
  child: ChildProcess
  /** every stdout line so far (pino JSON) */
  lines: string[]
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  /** signals the process and waits for its exit; SIGKILL and an error after `timeoutMs` */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>
}

/** Runs `node <script>` with env (in the repository, or in `cwd`); collects its log lines. */
export function spawnNode(script: string, env: Record<string, string>, o: { cwd?: string } = {}): Proc {
  return spawnProcess(process.execPath, [script], env, o)
}

/** Runs `command args…` with env (in the repository, or in `cwd`); collects its log lines. */
export function spawnProcess(command: string, args: string[], env: Record<string, string>, o: { cwd?: string } = {}): Proc {
  const script = args[0] ?? command
  const child = spawn(command, args, {
    cwd: o.cwd ?? root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const waiters: { pattern: RegExp; resolve(line: string): void }[] = []
  let buf = ''
  const onData = (chunk: Buffer) => {
    buf += chunk.toString()
    let nl
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      lines.push(line)
      if (process.env.TEST_PROC_OUTPUT) process.stderr.write(`[${script}] ${line}\n`)
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    }
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  return {
    child,
    lines,
    waitForLine(pattern, timeoutMs = 15_000) {
      const seen = lines.find((l) => pattern.test(l))
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const fail = (why: string) => reject(new Error(`${script}: no line matching ${pattern} (${why}):\n${lines.slice(-20).join('\n')}`))
        const timer = setTimeout(() => fail(`${timeoutMs} ms`), timeoutMs)
        const onExit = (code: number | null) => (clearTimeout(timer), fail(`exited with ${code}`))
        child.once('exit', onExit)
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), child.off('exit', onExit), resolve(l)) })
      })
    },
    async stop(signal = 'SIGTERM', timeoutMs = 45_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      const exited = once(child, 'exit')
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      const [code, killedBy] = (await exited) as [number | null, NodeJS.Signals | null]
      clearTimeout(timer)
      if (killedBy === 'SIGKILL' && signal !== 'SIGKILL') {
        throw new Error(`${script} did not exit within ${timeoutMs} ms of ${signal}:\n${lines.slice(-20).join('\n')}`)
      }
      return code
    },
  }
}

/** The manager process from its sources, or `script` in `cwd` (the built dist/manager.mjs). */
/** `env`: more variables (OTEL_…), over those the config gives. */
export async function spawnManager(config: ManagerConfig, o: { script?: string; cwd?: string; env?: Record<string, string> } = {}): Promise<Proc & { url: string }> {
  const port = config.port || (await freePort())
  const proc = spawnNode(o.script ?? 'manager/src/main.ts', {
    MANAGER_HOST: config.host,
    MANAGER_PORT: String(port),
    REDIS_URL: config.redisUrl,
    MANAGER_API_KEY: config.apiKey,
    MANAGER_SECRETS_KEY: config.secretsKey,
    MANAGER_QUEUE_PREFIX: config.queuePrefix,
    MANAGER_HEARTBEAT_TIMEOUT_MS: String(config.heartbeatTimeoutMs),
    MANAGER_HEARTBEAT_INTERVAL_MS: String(config.heartbeatIntervalMs),
    MANAGER_UNREACHABLE_MARK_MS: String(config.unreachableMarkMs),
    MANAGER_WATCH_INTERVAL_MS: String(config.watchIntervalMs),
    ...(config.alertWebhookUrl ? { MANAGER_ALERT_WEBHOOK_URL: config.alertWebhookUrl, MANAGER_ALERT_WEBHOOK_SECRET: config.alertWebhookSecret } : {}),
    ...(config.traceUrlTemplate ? { MANAGER_TRACE_URL_TEMPLATE: config.traceUrlTemplate } : {}),
    LOG_LEVEL: 'info',
    ...o.env,
  }, o)
  // loading the TypeScript sources takes seconds on a loaded 2-core machine, several at once more
  await proc.waitForLine(/manager listening/, 30_000)
  return Object.assign(proc, { url: `http://127.0.0.1:${port}` })
}

/** The delegate process from its sources, or `script` in `cwd` (the built registry-delegate.mjs). */
export async function spawnDelegate(
  managerUrl: string,
  token: string,
  o: { name: string; tags?: string[]; capacity?: number; env?: Record<string, string>; script?: string; cwd?: string },
): Promise<Proc> {
  const proc = spawnNode(o.script ?? 'delegate/src/main.ts', {
    MANAGER_URL: managerUrl,
    DELEGATE_TOKEN: token,
    DELEGATE_NAME: o.name,
    DELEGATE_TAGS: (o.tags ?? []).join(','),
    DELEGATE_CAPACITY: String(o.capacity ?? 8),
    LOG_LEVEL: 'info',
    ...o.env,
  }, o.cwd === undefined ? {} : { cwd: o.cwd })
  await proc.waitForLine(/welcomed by manager/)
  return proc
}
