/**
 * The delegate's footprint as a user runs it, from its sources (`node delegate/src/main.ts`) and
 * from the built file (`node registry-delegate.mjs`, copied alone into an empty directory):
 *
 *   - start to connected: from spawn() to the delegate's "welcomed by manager" log line, and the
 *     CPU time the process had used by then (user + system, all threads, from /proc: 10 ms
 *     ticks), which a busy machine stretches less than the wall time
 *   - idle RSS: VmRSS of the connected delegate 15 s after start
 *   - first task: one list-tags task of 10 tags through the REST API on a fresh delegate (it
 *     loads the registry client), against the median of the next 10
 *   - under load: peak VmRSS (sampled every 20 ms) while 8 list-tags tasks of 10,000 tags run at
 *     once, and VmRSS 5 s after they end
 *
 * The built file also runs with DELEGATE_HEALTH_PORT (which loads prom-client for /metrics) and
 * with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT to a receiver that discards, 100 % sampled).
 *
 * Against a real manager process (from its sources), Redis (`redis:7-alpine`) and CNCF
 * distribution 2.8 (`registry:2`) seeded with 10,000 tags, all on loopback; the manager's
 * address is http://, so TLS is not loaded (a wss:// manager adds node:tls, ~3 MB).
 *
 *   TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 TEST_HOST_NETWORK=1 \
 *     node bench/delegate-footprint.ts [runs=3]
 *
 * Builds dist/ first (scripts/build.ts). Prints figures; asserts nothing.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, BUNDLES, dist } from '../scripts/build.ts'
import { freePort, startRedis, startRegistry } from '../test/containers.ts'
import { startOtlpReceiver } from '../test/otlp-receiver.ts'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from '../test/harness.ts'
import { seedRepository } from '../test/seed-registry.ts'

const runs = Number(process.argv[2] ?? 3)
const IDLE_AT_MS = 15_000
const BIG = 'footprint/big'
const SMALL = 'footprint/small'
const TAGS = 10_000

async function rssKb(pid: number, field = 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!m) throw new Error(`no ${field} for ${pid}`)
  return Number(m[1])
}

/** user + system CPU time of a process so far, in ms (/proc/PID/stat fields 14 and 15, in ticks of 10 ms) */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

interface Variant {
  name: string
  script: string
  cwd?: string
  env?: () => Promise<Record<string, string>>
}

interface Run {
  connectedMs: number
  connectedCpuMs: number
  idleKb: number
  firstTaskMs: number
  warmTaskMs: number
  loadPeakKb?: number
  afterLoadKb?: number
}

async function listTags(api: Api, connectorId: string, image: string, expected: number): Promise<number> {
  const started = performance.now()
  const res = await api.ok('GET', `/api/v1/connectors/${connectorId}/tags?image=${encodeURIComponent(image)}`)
  const ms = performance.now() - started
  if (res.tags.length !== expected) throw new Error(`listed ${res.tags.length} tags of ${image}, expected ${expected}`)
  return ms
}

async function measure(api: Api, managerUrl: string, registry: string, v: Variant, i: number, withLoad: boolean): Promise<Run> {
  const name = `fp-${v.name.replace(/\W+/g, '-')}-${i}`
  const started = performance.now()
  const delegate: Proc = await spawnDelegate(managerUrl, await api.token(), {
    name,
    script: v.script,
    ...(v.cwd ? { cwd: v.cwd } : {}),
    env: { LOG_LEVEL: 'info', ...(await v.env?.()) },
  })
  const connectedMs = performance.now() - started
  const pid = delegate.child.pid!
  const connectedCpuMs = await cpuMs(pid)
  try {
    await sleep(Math.max(0, IDLE_AT_MS - (performance.now() - started)))
    const idleKb = await rssKb(pid)
    const connector = await api.ok('POST', '/api/v1/connectors', { name, type: 'docker-registry', url: registry, delegateSelectors: [name] })
    const firstTaskMs = await listTags(api, connector.id, SMALL, 10)
    const warm: number[] = []
    for (let k = 0; k < 10; k++) warm.push(await listTags(api, connector.id, SMALL, 10))
    const run: Run = { connectedMs, connectedCpuMs, idleKb, firstTaskMs, warmTaskMs: median(warm) }
    if (withLoad) {
      let peak = 0
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await rssKb(pid))
          await sleep(20)
        }
      })()
      await Promise.all(Array.from({ length: 8 }, () => listTags(api, connector.id, BIG, TAGS)))
      sampling = false
      await sampler
      await sleep(5_000)
      run.loadPeakKb = peak
      run.afterLoadKb = await rssKb(pid)
    }
    return run
  } finally {
    await delegate.stop('SIGTERM')
  }
}

async function main(): Promise<void> {
  console.log(`delegate footprint: node ${process.version}, ${runs} runs per variant (one delegate at a time), idle RSS at ${IDLE_AT_MS / 1000} s`)
  await build(['delegate'])
  const alone = await mkdtemp(join(tmpdir(), 'rd-footprint-'))
  await copyFile(join(dist, BUNDLES.delegate.out), join(alone, BUNDLES.delegate.out))
  const bytes = (await readFile(join(alone, BUNDLES.delegate.out))).length
  const [redis, reg] = await Promise.all([startRedis(), startRegistry()])
  try {
    const t0 = performance.now()
    await Promise.all([
      seedRepository(`http://${reg.hostPort}`, BIG, Array.from({ length: TAGS }, (_, i) => `1.${Math.floor(i / 100)}.${i % 100}`), { concurrency: 64 }),
      seedRepository(`http://${reg.hostPort}`, SMALL, Array.from({ length: 10 }, (_, i) => `v${i}`)),
    ])
    console.log(`seeded ${TAGS} tags into distribution 2.8 in ${((performance.now() - t0) / 1000).toFixed(1)} s; built ${BUNDLES.delegate.out}: ${(bytes / 1e6).toFixed(2)} MB`)
    const config = managerConfig(redis.url, { heartbeatIntervalMs: 2_000, heartbeatTimeoutMs: 10_000 })
    const manager = await spawnManager(config)
    const api = new Api(manager.url, config.apiKey)
    const receiver = await startOtlpReceiver({ discard: true })
    try {
      const variants: Variant[] = [
        { name: 'sources', script: 'delegate/src/main.ts' },
        { name: 'built file', script: BUNDLES.delegate.out, cwd: alone },
        { name: '+ /metrics', script: BUNDLES.delegate.out, cwd: alone, env: async () => ({ DELEGATE_HEALTH_PORT: String(await freePort()), DELEGATE_HEALTH_HOST: '127.0.0.1' }) },
        { name: '+ traces', script: BUNDLES.delegate.out, cwd: alone, env: async () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }) },
      ]
      const results = new Map<string, Run[]>()
      for (let i = 0; i < runs; i++) {
        for (const v of variants) {
          const r = await measure(api, manager.url, reg.hostPort, v, i, i === runs - 1)
          results.set(v.name, [...(results.get(v.name) ?? []), r])
          console.log(
            `  ${v.name.padEnd(10)} run ${i + 1}: connected ${r.connectedMs.toFixed(0)} ms (CPU ${r.connectedCpuMs} ms), idle ${mb(r.idleKb)}, first task ${r.firstTaskMs.toFixed(1)} ms, warm ${r.warmTaskMs.toFixed(1)} ms` +
              (r.loadPeakKb ? `, 8×${TAGS} tags peak ${mb(r.loadPeakKb)}, 5 s later ${mb(r.afterLoadKb!)}` : ''),
          )
        }
      }
      console.log('')
      console.log('medians (min) of the runs; load figures from the last run')
      console.log('variant      start→connected     CPU to connect  idle RSS (15 s)  first task (10 tags)  warm task        8×10,000 tags: peak RSS  after')
      const both = (xs: number[], unit: string, digits = 0) => `${median(xs).toFixed(digits)} ${unit} (${Math.min(...xs).toFixed(digits)})`
      for (const [name, rs] of results) {
        const last = rs.at(-1)!
        console.log(
          `${name.padEnd(12)} ${both(rs.map((r) => r.connectedMs), 'ms').padEnd(19)} ${both(rs.map((r) => r.connectedCpuMs), 'ms').padEnd(15)} ${mb(median(rs.map((r) => r.idleKb))).padEnd(16)} ${both(rs.map((r) => r.firstTaskMs), 'ms', 1).padEnd(21)} ${both(rs.map((r) => r.warmTaskMs), 'ms', 1).padEnd(16)} ${mb(last.loadPeakKb!).padEnd(24)} ${mb(last.afterLoadKb!)}`,
        )
      }
    } finally {
      await manager.stop()
      await receiver.close()
    }
  } finally {
    await Promise.all([redis.container.stop(), reg.container.stop()])
    await rm(alone, { recursive: true, force: true })
  }
}

await main()
