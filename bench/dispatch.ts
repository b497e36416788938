/**
 * Dispatch throughput and latency, ours against raw BullMQ on the same Redis, in one run:
 *
 *   (a) raw BullMQ: Queue.add → a worker process completes the job → waitUntilFinished
 *   (b) ours: POST /api/v1/tasks → manager (BullMQ + dispatcher) → WebSocket → delegate process
 *       (trivial task) → result → GET /api/v1/tasks/:id?waitMs, with 1 and 4 delegates
 *
 * each closed-loop with 1 client, at "moderate" load (4 clients) and "sustained" load (64); then a
 * manager with 2,000 simulated delegates (sockets speaking the protocol): RSS and CPU at idle;
 * and the selection itself with 2,000 candidates.
 *
 *   node bench/dispatch.ts [seconds=5]        (REDIS_URL=… to use a running Redis, else Docker)
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
import { Pool } from 'undici'
import { selectDelegate, type Candidate } from '../manager/src/select-delegate.ts'
import { freePort, startRedis } from '../test/containers.ts'

const seconds = Number(process.argv[2] ?? 5)
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

/** `clients` loops each running `op` until the time is up; latency per op in ms. */
async function closedLoop(clients: number, op: () => Promise<void>): Promise<Figures> {
  const lat: number[] = []
  // warm-up
  await Promise.all(Array.from({ length: clients }, async () => { for (let i = 0; i < 20; i++) await op() }))
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        await op()
        lat.push(performance.now() - t0)
      }
    }),
  )
  const took = (performance.now() - start) / 1000
  lat.sort((a, b) => a - b)
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!
  return { perSecond: lat.length / took, p50: q(0.5), p99: q(0.99), n: lat.length }
}

function row(label: string, f: Figures): string {
  return `${label.padEnd(34)} ${f.perSecond.toFixed(0).padStart(7)} tasks/s   p50 ${f.p50.toFixed(2).padStart(6)} ms   p99 ${f.p99.toFixed(2).padStart(7)} ms   (n=${f.n})`
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
    return await closedLoop(clients, async () => {
      const job = await queue.add('t', { connectorId: 'c', image: 'x' })
      await job.waitUntilFinished(events, 10_000)
    })
  } finally {
    await Promise.all([queue.close(), events.close()])
    worker.kill('SIGTERM')
  }
}

interface Ours {
  url: string
  key: string
  pool: Pool
  pid: number
  stop(): void
}

async function startOurs(redisUrl: string): Promise<Ours> {
  const port = await freePort()
  const key = randomBytes(12).toString('hex')
  const manager = node('manager/src/main.ts', [], {
    MANAGER_HOST: '127.0.0.1',
    MANAGER_PORT: String(port),
    REDIS_URL: redisUrl,
    MANAGER_API_KEY: key,
    MANAGER_SECRETS_KEY: randomBytes(32).toString('base64'),
    MANAGER_QUEUE_PREFIX: `bench-${randomUUID().slice(0, 6)}`,
    LOG_LEVEL: 'warn',
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
  return { url, key, pool, pid: manager.pid!, stop: () => manager.kill('SIGTERM') }
}

async function call(o: Ours, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const res = await o.pool.request({
    method,
    path,
    headers: { authorization: `Bearer ${o.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : null,
  })
  const json = await res.body.json()
  if (res.statusCode >= 300) throw new Error(`${method} ${path} → ${res.statusCode} ${JSON.stringify(json)}`)
  return json
}

async function ours(o: Ours, delegates: number, clientsList: number[]): Promise<Figures[]> {
  const { token } = await call(o, 'POST', '/api/v1/delegate-tokens', { name: 'bench' })
  const proc = node('bench/trivial-delegates.ts', [o.url, token, String(delegates), '256'])
  for (;;) {
    const list = (await call(o, 'GET', '/api/v1/delegates')) as { connected: boolean; name: string }[]
    if (list.filter((d) => d.connected && d.name.startsWith('bench-')).length >= delegates) break
    await sleep(100)
  }
  const connector = await call(o, 'POST', '/api/v1/connectors', { name: 'bench', type: 'docker-registry', url: '127.0.0.1:1' })
  const out: Figures[] = []
  try {
    for (const clients of clientsList) {
      out.push(
        await closedLoop(clients, async () => {
          const { id } = await call(o, 'POST', '/api/v1/tasks', { type: 'list-tags', connectorId: connector.id, image: 'x' })
          const t = await call(o, 'GET', `/api/v1/tasks/${id}?waitMs=10000`)
          if (t.status !== 'succeeded') throw new Error(`task ${id} ${t.status}`)
        }),
      )
    }
  } finally {
    proc.kill('SIGTERM')
    await once(proc, 'exit')
  }
  return out
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime + stime (clock ticks, 100/s)
}
function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!
  return Number(line.split(/\s+/)[1]) / 1024
}

async function manyDelegates(redisUrl: string, n: number): Promise<string> {
  const o = await startOurs(redisUrl)
  const idleRss = rssMiB(o.pid)
  const { token } = await call(o, 'POST', '/api/v1/delegate-tokens', { name: 'sim' })
  const sim = node('bench/sim-delegates.ts', [o.url, token, String(n)])
  await lineFrom(sim, /all welcomed/)
  await sleep(3_000)
  const t0 = cpuTicks(o.pid)
  await sleep(10_000)
  const cpu = (cpuTicks(o.pid) - t0) / 100 / 10
  const rss = rssMiB(o.pid)
  const listed = ((await call(o, 'GET', '/api/v1/delegates')) as { connected: boolean }[]).filter((d) => d.connected).length
  sim.kill('SIGTERM')
  o.stop()
  return `${n} simulated delegates (${listed} listed connected): manager RSS ${rss.toFixed(0)} MiB (${idleRss.toFixed(0)} MiB with none), CPU at idle ${(cpu * 100).toFixed(1)} % of one core`
}

function selection(n: number): string {
  const now = Date.now()
  const candidates: Candidate[] = Array.from({ length: n }, (_, i) => ({
    id: `d${i}`,
    name: `d${i}`,
    selectors: new Set([`d${i}`, `t${i % 10}`, 'sim']),
    capacity: 8,
    active: i % 9,
    lastHeartbeatAt: now,
    draining: false,
    lastAssignedAt: i,
    local: true,
    full: false,
    refusedRev: 0,
    rev: 0,
  }))
  const input = { selectors: ['sim', 't3'], candidates, now, heartbeatTimeoutMs: 10_000, unreachable: new Map(), historyDelegateId: null }
  for (let i = 0; i < 200; i++) selectDelegate(input)
  const runs = 2_000
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) selectDelegate(input)
  const us = ((performance.now() - t0) / runs) * 1000
  return `selection among ${n} candidates: ${us.toFixed(0)} µs per task`
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
    const raw1 = await rawBullmq(redisUrl, 1)
    const raw4 = await rawBullmq(redisUrl, 4)
    const raw64 = await rawBullmq(redisUrl, 64)
    console.log(row('raw BullMQ, 1 client', raw1))
    console.log(row('raw BullMQ, 4 clients', raw4))
    console.log(row('raw BullMQ, 64 clients', raw64))
    const o = await startOurs(redisUrl)
    try {
      for (const delegates of [1, 4]) {
        const [f1, f4, f64] = await ours(o, delegates, [1, 4, 64])
        console.log(row(`ours, ${delegates} delegate(s), 1 client`, f1!))
        console.log(row(`ours, ${delegates} delegate(s), 4 clients`, f4!))
        console.log(row(`ours, ${delegates} delegate(s), 64 clients`, f64!))
        console.log(
          `  overhead vs raw BullMQ: ${(f1!.p50 / raw1.p50).toFixed(2)}× p50 at 1 client, ${(f4!.p50 / raw4.p50).toFixed(2)}× at 4, ` +
            `${(raw64.perSecond / f64!.perSecond).toFixed(2)}× throughput at 64`,
        )
      }
    } finally {
      o.stop()
    }
    console.log(await manyDelegates(redisUrl, 2_000))
    console.log(selection(2_000))
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await stopRedis()
  }
}

await main()
