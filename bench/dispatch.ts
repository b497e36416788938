/**
 * Dispatch throughput, latency and idle cost, ours against raw BullMQ on the same Redis, in one run:
 *
 *   raw BullMQ   Queue.add → a worker process completes the job → waitUntilFinished
 *   ours         POST /api/v1/tasks → manager (BullMQ + dispatcher) → WebSocket → delegate process
 *                (trivial task) → result → GET /api/v1/tasks/:id?waitMs; 1 and 4 delegates
 *   replicas     3 manager processes on one Redis, one delegate on each, clients spread over them
 *   backlog      10,000 tasks waiting for a selector nobody has, then runnable tasks beside them
 *   fleet        5,000 simulated delegates on one manager (idle CPU, RSS), placement among 5,000
 *                candidates, and 3 replicas × 2,000 simulated delegates idle (Redis commands/s)
 *   tracing      ours with 1 delegate, tracing off and on (manager and delegates, every trace
 *                sampled, OTLP/protobuf to a local receiver that discards)
 *
 * Each load is a closed loop of N clients (1, 4, 64).
 *
 *   node bench/dispatch.ts [seconds=5] [section…]   (REDIS_URL=… to use a running Redis, else Docker)
 *   sections: raw ours replicas backlog placement fleet idle tracing (default: all)
 *
 * Prints figures; asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue, QueueEvents } from 'bullmq'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { Pool } from 'undici'
import { Dispatcher } from '../manager/src/dispatcher.ts'
import { QUEUE_NAME, type TaskData } from '../manager/src/tasks.ts'
import { freePort, startRedis } from '../test/containers.ts'
import { startOtlpReceiver } from '../test/otlp-receiver.ts'

const seconds = Number(process.argv[2] ?? 5)
const only = new Set(process.argv.slice(3))
const wanted = (section: string) => only.size === 0 || only.has(section)
const children: ChildProcess[] = []

function node(script: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  return child
}

async function lineFrom(child: ChildProcess, pattern: RegExp): Promise<void> {
  let buf = ''
  for await (const chunk of child.stdout!) {
    buf += String(chunk)
    if (pattern.test(buf)) return
  }
  throw new Error(`process ended before ${pattern}`)
}

interface Figures {
  perSecond: number
  p50: number
  p99: number
  n: number
}

/**
 * A fresh process runs cold code for its first few thousand tasks (V8 tiers up): the first
 * figure of each process (a manager, a raw worker) is taken after this much load, later ones
 * after a short one. Without it the first row of a run is up to twice as slow as the same row
 * run later (p50 2.95 ms after 2 s, 1.58 ms after 15 s, one delegate, one client).
 */
const COLD_WARM_MS = Number(process.env.WARM_MS ?? 10_000)
const WARM_MS = 1_000

/** `clients` loops each running `op(client)` until the time is up; latency per op in ms. */
async function closedLoop(clients: number, op: (client: number) => Promise<void>, warmMs = WARM_MS): Promise<Figures> {
  const lat: number[] = []
  const warm = performance.now() + warmMs
  await Promise.all(Array.from({ length: clients }, async (_, c) => { for (let i = 0; i < 20 || performance.now() < warm; i++) await op(c) }))
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < end) {
        const t0 = performance.now()
        await op(c)
        lat.push(performance.now() - t0)
      }
    }),
  )
  const took = (performance.now() - start) / 1000
  lat.sort((a, b) => a - b)
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!
  return { perSecond: lat.length / took, p50: q(0.5), p99: q(0.99), n: lat.length }
}

function row(label: string, f: Figures, extra = ''): string {
  return `${label.padEnd(40)} ${f.perSecond.toFixed(0).padStart(6)} tasks/s   p50 ${f.p50.toFixed(2).padStart(6)} ms   p99 ${f.p99.toFixed(2).padStart(7)} ms   (n=${f.n})${extra}`
}

async function rawBullmq(redisUrl: string, clients: number): Promise<Figures> {
  const prefix = `raw-${randomUUID().slice(0, 6)}`
  const worker = node('bench/raw-worker.ts', [redisUrl, prefix])
  await lineFrom(worker, /ready/)
  const connection = { url: redisUrl, maxRetriesPerRequest: null }
  const queue = new Queue('raw', { connection, prefix, defaultJobOptions: { removeOnComplete: 1000 } })
  const events = new QueueEvents('raw', { connection, prefix })
  queue.setMaxListeners(0)
  await events.waitUntilReady()
  await sleep(500) // let its first blocking read start: events before it would be missed
  try {
    return await closedLoop(
      clients,
      async () => {
        const job = await queue.add('t', { connectorId: 'c', image: 'x' })
        await job.waitUntilFinished(events, 10_000)
      },
      COLD_WARM_MS, // a new worker process for each row
    )
  } finally {
    await Promise.all([queue.close(), events.close()])
    worker.kill('SIGTERM')
  }
}

interface Manager {
  url: string
  key: string
  prefix: string
  pool: Pool
  pid: number
  stop(): void
}

async function startManager(redisUrl: string, shared?: { key: string; prefix: string; secretsKey: string }, env: Record<string, string> = {}): Promise<Manager> {
  const port = await freePort()
  const key = shared?.key ?? randomBytes(12).toString('hex')
  const prefix = shared?.prefix ?? `bench-${randomUUID().slice(0, 6)}`
  const manager = node('manager/src/main.ts', [], {
    MANAGER_HOST: '127.0.0.1',
    MANAGER_PORT: String(port),
    REDIS_URL: redisUrl,
    MANAGER_API_KEY: key,
    MANAGER_SECRETS_KEY: shared?.secretsKey ?? randomBytes(32).toString('base64'),
    MANAGER_QUEUE_PREFIX: prefix,
    MANAGER_WORKER_CONCURRENCY: '2000',
    LOG_LEVEL: 'warn',
    ...env,
  })
  const url = `http://127.0.0.1:${port}`
  const pool = new Pool(url, { connections: 128, pipelining: 1 })
  for (let i = 0; ; i++) {
    try {
      const res = await pool.request({ method: 'GET', path: '/readyz' })
      await res.body.dump()
      if (res.statusCode === 200) break
    } catch {
      if (i > 100) throw new Error('manager did not start')
    }
    await sleep(100)
  }
  return { url, key, prefix, pool, pid: manager.pid!, stop: () => manager.kill('SIGTERM') }
}

/** Replicas of one installation: same Redis, prefix, API key and secrets key. */
async function startReplicas(redisUrl: string, n: number): Promise<Manager[]> {
  const first = await startManager(redisUrl)
  const shared = { key: first.key, prefix: first.prefix, secretsKey: randomBytes(32).toString('base64') }
  // the first one's secrets key differs, but the benchmark's connector has no secret
  return [first, ...(await Promise.all(Array.from({ length: n - 1 }, () => startManager(redisUrl, shared))))]
}

async function call(m: Manager, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const res = await m.pool.request({
    method,
    path,
    headers: { authorization: `Bearer ${m.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : null,
  })
  const json = await res.body.json()
  if (res.statusCode >= 300) throw new Error(`${method} ${path} → ${res.statusCode} ${JSON.stringify(json)}`)
  return json
}

async function metric(m: Manager, pattern: RegExp): Promise<number> {
  const res = await m.pool.request({ method: 'GET', path: '/metrics' })
  const text = await res.body.text()
  return [...text.matchAll(new RegExp(pattern.source, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0)
}

/** `n` trivial delegates (their registry work returns at once) on `m`, named `${name}-i`. */
async function trivialDelegates(m: Manager, name: string, n: number, tags = 'bench', env: Record<string, string> = {}): Promise<ChildProcess> {
  const { token } = await call(m, 'POST', '/api/v1/delegate-tokens', { name })
  const proc = node('bench/trivial-delegates.ts', [m.url, token, String(n), '256', name, tags], env)
  for (;;) {
    const list = (await call(m, 'GET', '/api/v1/delegates')) as { connected: boolean; name: string }[]
    if (list.filter((d) => d.connected && d.name.startsWith(`${name}-`)).length >= n) return proc
    await sleep(100)
  }
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return
  proc.kill('SIGTERM')
  await once(proc, 'exit')
}

/** One task through the REST API, created on `create`, awaited on `wait`. */
async function oneTask(create: Manager, wait: Manager, connectorId: string, selectors?: string[]): Promise<void> {
  const { id } = await call(create, 'POST', '/api/v1/tasks', { type: 'list-tags', connectorId, image: 'x', ...(selectors ? { delegateSelectors: selectors } : {}) })
  const t = await call(wait, 'GET', `/api/v1/tasks/${id}?waitMs=10000`)
  if (t.status !== 'succeeded') throw new Error(`task ${id} ${t.status}`)
}

async function oneManager(redisUrl: string, raw: Figures[]): Promise<Figures> {
  const m = await startManager(redisUrl)
  let noBacklog1: Figures | undefined
  try {
    const connector = await call(m, 'POST', '/api/v1/connectors', { name: 'bench', type: 'docker-registry', url: '127.0.0.1:1' })
    for (const delegates of [1, 4]) {
      const proc = await trivialDelegates(m, `bench${delegates}`, delegates, `bench${delegates}`)
      const figures: Figures[] = []
      for (const clients of [1, 4, 64]) {
        const f = await closedLoop(clients, () => oneTask(m, m, connector.id, [`bench${delegates}`]), delegates === 1 && clients === 1 ? COLD_WARM_MS : WARM_MS)
        figures.push(f)
        console.log(row(`ours, ${delegates} delegate(s), ${clients} client(s)`, f))
      }
      noBacklog1 ??= figures[0]
      console.log(
        `  vs raw BullMQ: p50 ${(figures[0]!.p50 / raw[0]!.p50).toFixed(2)}× at 1 client (goal ≤ 2×), ${(figures[1]!.p50 / raw[1]!.p50).toFixed(2)}× at 4; ` +
          `throughput ${(figures[2]!.perSecond / raw[2]!.perSecond).toFixed(2)}× raw at 64 (goal ≥ 0.6×)`,
      )
      await stopProc(proc)
    }
    return noBacklog1!
  } finally {
    m.stop()
  }
}

async function threeReplicas(redisUrl: string): Promise<void> {
  const managers = await startReplicas(redisUrl, 3)
  const procs = await Promise.all(managers.map((m, i) => trivialDelegates(m, `rep${i}`, 1)))
  try {
    const connector = await call(managers[0]!, 'POST', '/api/v1/connectors', { name: 'bench', type: 'docker-registry', url: '127.0.0.1:1' })
    for (const clients of [1, 64]) {
      const before = await Promise.all(managers.map((m) => Promise.all([metric(m, /^rd_placements_total\{where="local"\} (\d+)/), metric(m, /^rd_placements_total\{where="remote"\} (\d+)/)])))
      // each client creates on one replica and waits on the next: every task meets two replicas
      const f = await closedLoop(clients, (c) => oneTask(managers[c % 3]!, managers[(c + 1) % 3]!, connector.id), clients === 1 ? COLD_WARM_MS : WARM_MS)
      const after = await Promise.all(managers.map((m) => Promise.all([metric(m, /^rd_placements_total\{where="local"\} (\d+)/), metric(m, /^rd_placements_total\{where="remote"\} (\d+)/)])))
      const local = after.reduce((s, [l], i) => s + l - before[i]![0], 0)
      const remote = after.reduce((s, [, r], i) => s + r - before[i]![1], 0)
      console.log(row(`3 replicas, 1 delegate each, ${clients} client(s)`, f, `   crossed replicas: ${((100 * remote) / Math.max(1, local + remote)).toFixed(0)} %`))
    }
  } finally {
    await Promise.all(procs.map(stopProc))
    for (const m of managers) m.stop()
  }
}

async function backlog(redisUrl: string, noBacklog: Figures | null): Promise<void> {
  const m = await startManager(redisUrl)
  const proc = await trivialDelegates(m, 'free', 1, 'free')
  try {
    const connector = await call(m, 'POST', '/api/v1/connectors', { name: 'bench', type: 'docker-registry', url: '127.0.0.1:1' })
    const queue = new Queue<TaskData>(QUEUE_NAME, { connection: { url: redisUrl }, prefix: m.prefix })
    const now = Date.now()
    const t0 = performance.now()
    for (let i = 0; i < 10_000; i += 1_000) {
      await queue.addBulk(
        Array.from({ length: 1_000 }, () => {
          const data: TaskData = { id: randomUUID(), type: 'list-tags', connectorId: connector.id, image: 'x', delegateSelectors: ['nobody-has-this'], timeoutMs: 600_000, createdAt: now }
          return { name: data.type, data, opts: { jobId: data.id } }
        }),
      )
    }
    while ((await metric(m, /^rd_tasks_waiting_for_delegate\{selectors="nobody-has-this"\} (\d+)/)) < 10_000) await sleep(200)
    const parkSeconds = (performance.now() - t0) / 1000
    await queue.close()
    const f = await closedLoop(1, () => oneTask(m, m, connector.id, ['free']), COLD_WARM_MS)
    const ratio = noBacklog ? `p50 ${(f.p50 / noBacklog.p50).toFixed(2)}× the row without backlog (goal ≤ 1.2×); ` : ''
    console.log(row('10,000 waiting beside, 1 delegate, 1 client', f, `   ${ratio}parking 10,000 took ${parkSeconds.toFixed(1)} s`))
  } finally {
    await stopProc(proc)
    m.stop()
  }
}

/** The same closed loops with tracing off, then on in the manager and the delegates (sampling 100 %). */
async function tracing(redisUrl: string): Promise<void> {
  const receiver = await startOtlpReceiver({ discard: true })
  try {
    for (const on of [false, true]) {
      const env: Record<string, string> = on ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER: 'always_on' } : {}
      const m = await startManager(redisUrl, undefined, env)
      const proc = await trivialDelegates(m, `traced${on ? 1 : 0}`, 1, `traced${on ? 1 : 0}`, env)
      try {
        const connector = await call(m, 'POST', '/api/v1/connectors', { name: 'bench', type: 'docker-registry', url: '127.0.0.1:1' })
        for (const clients of [1, 4, 64]) {
          const f = await closedLoop(clients, () => oneTask(m, m, connector.id, [`traced${on ? 1 : 0}`]), clients === 1 ? COLD_WARM_MS : WARM_MS)
          console.log(row(`tracing ${on ? 'on (100 %)' : 'off'}, ${clients} client(s)`, f))
        }
      } finally {
        await stopProc(proc)
        m.stop()
      }
    }
    console.log(`  the receiver answered ${receiver.exports} OTLP export requests`)
  } finally {
    await receiver.close()
  }
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime + stime (clock ticks, 100/s)
}
function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!
  return Number(line.split(/\s+/)[1]) / 1024
}

async function simulated(m: Manager, n: number, name: string): Promise<ChildProcess> {
  const { token } = await call(m, 'POST', '/api/v1/delegate-tokens', { name })
  const sim = node('bench/sim-delegates.ts', [m.url, token, String(n), name])
  await lineFrom(sim, /all welcomed/)
  return sim
}

async function fleet(redisUrl: string): Promise<void> {
  const m = await startManager(redisUrl)
  const idleRss = rssMiB(m.pid)
  const sim = await simulated(m, 5_000, 'sim')
  await sleep(10_000) // the connection storm's tail (writes, GC) is not idle
  const t0 = cpuTicks(m.pid)
  await sleep(10_000)
  const cpu = (cpuTicks(m.pid) - t0) / 100 / 10
  const listed = ((await call(m, 'GET', '/api/v1/delegates')) as { connected: boolean }[]).filter((d) => d.connected).length
  console.log(
    `5,000 simulated delegates on one manager (${listed} listed connected): CPU at idle ${(cpu * 100).toFixed(1)} % of one core (goal < 5 %), ` +
      `RSS ${rssMiB(m.pid).toFixed(0)} MiB (${idleRss.toFixed(0)} MiB with none)`,
  )
  await stopProc(sim)
  m.stop()
}

/** The dispatcher alone: placing a task among 5,000 delegates that all match, 2,000 tasks running meanwhile. */
async function placement(): Promise<void> {
  const sent: unknown[] = []
  const transport = { assign: (m: unknown) => void sent.push(m), cancel: () => undefined, probe: () => undefined }
  const d = new Dispatcher({
    replicaId: 'bench',
    log: pino({ level: 'silent' }),
    history: { get: async () => null, set: () => undefined },
    heartbeatTimeoutMs: 60_000,
    unreachableMarkMs: 60_000,
    events: { localUp() {}, localDown() {}, slotsFreed() {}, load() {}, placed() {}, mark() {}, relayResult() {}, relayLost() {} },
  })
  for (let i = 0; i < 5_000; i++) d.addLocal({ id: `d${i}`, name: `d${i}`, tags: ['sim', `t${i % 10}`], capacity: 8, version: 'v', tokenId: 't' }, transport)
  const task = (i: number) => ({
    taskId: `t${i}`,
    connectorId: `c${i}`,
    connectorRev: 'r',
    registryHost: 'h',
    selectors: ['sim'],
    createdAt: Date.now(),
    deadline: Date.now() + 600_000,
    attempts: 0,
    retries: 0,
    waitReason: null,
    spec: { type: 'list-tags' as const, registry: { url: 'h' }, image: 'x' },
  })
  const hooks = { log: () => undefined, onState: () => undefined }
  for (let i = 0; i < 2_000; i++) void d.run(task(i), hooks) // running, holding slots
  await sleep(10)
  const runs = 2_000
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) void d.run(task(10_000 + i), hooks)
  await new Promise((r) => setImmediate(r))
  const us = ((performance.now() - t0) / runs) * 1000
  d.close()
  console.log(`placement among 5,000 matching candidates, 2,000 tasks running: ${us.toFixed(0)} µs per task (goal < 1 ms); waiting tasks are in Redis, not here`)
}

async function idleReplicas(redisUrl: string): Promise<void> {
  const managers = await startReplicas(redisUrl, 3)
  const sims = await Promise.all(managers.map((m, i) => simulated(m, 2_000, `idle${i}`)))
  const redis = new Redis(redisUrl)
  const commands = async () => Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1])
  await sleep(5_000)
  const c0 = await commands()
  await sleep(10_000)
  const perSecond = ((await commands()) - c0 - 2) / 10
  const cpus = managers.map((m) => cpuTicks(m.pid))
  await sleep(5_000)
  const cpu = managers.map((m, i) => ((cpuTicks(m.pid) - cpus[i]!) / 100 / 5) * 100)
  console.log(
    `3 replicas × 2,000 simulated delegates, idle: Redis ${perSecond.toFixed(1)} commands/s in all (liveness only), ` +
      `CPU per replica ${cpu.map((c) => c.toFixed(1)).join(' / ')} %`,
  )
  redis.disconnect()
  await Promise.all(sims.map(stopProc))
  for (const m of managers) m.stop()
}

async function main(): Promise<void> {
  let redisUrl = process.env.REDIS_URL
  let stopRedis = async () => {}
  if (!redisUrl) {
    const r = await startRedis()
    redisUrl = r.url
    stopRedis = async () => void (await r.container.stop())
  }
  try {
    console.log(`dispatch benchmark: ${seconds} s per figure, closed loop; Redis ${redisUrl}; node ${process.version}`)
    const raw: Figures[] = []
    if (wanted('raw') || wanted('ours')) {
      for (const clients of [1, 4, 64]) {
        raw.push(await rawBullmq(redisUrl, clients))
        console.log(row(`raw BullMQ, ${clients} client(s)`, raw.at(-1)!))
      }
    }
    const noBacklog = wanted('ours') ? await oneManager(redisUrl, raw) : null
    if (wanted('replicas')) await threeReplicas(redisUrl)
    if (wanted('backlog')) await backlog(redisUrl, noBacklog)
    if (wanted('placement')) await placement()
    if (wanted('fleet')) await fleet(redisUrl)
    if (wanted('idle')) await idleReplicas(redisUrl)
    if (wanted('tracing')) await tracing(redisUrl)
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await stopRedis()
  }
}

await main()
