/**
 * Tag listing, side by side with `skopeo list-tags` (Debian package `skopeo`), both run as whole
 * processes, alternately, several times:
 *
 *   (a) 10,000 tags on real CNCF distribution 2.8 (`registry:2`, started here)
 *   (b) 10,000 tags on a fault server with 25 ms per request that serves 100 tags per page
 *       unless asked for more (`n`, up to 1000), like most hosted registries
 *   (c) the same, but refusing any `n` above 100 (PAGINATION_NUMBER_INVALID), so that our client
 *       pays one refused request and then pages like skopeo
 *   (d) case (a) through the whole system: `GET /api/v1/connectors/:id/tags` on a manager process
 *       with the built delegate (dist/, built here) and Redis, against skopeo in the same run;
 *       then where the time of one REST call goes (bench/tags-end-to-end.ts)
 *
 * Run (Docker and skopeo needed):
 *   TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 TEST_HOST_NETWORK=1 \
 *     node bench/tags.ts [runs=5] [--only=abcd]
 *
 * Prints figures; asserts nothing. `node bench/tags.ts --once URL IMAGE` is the process measured
 * for our side: one list-tags task through RegistryClient, printing the tag count.
 */
import { execFile, spawn } from 'node:child_process'
import { enableCompileCache } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import type { EndToEnd } from './tags-end-to-end.ts'

const TAGS = 10_000
const REPO = 'bench/app'

/**
 * The measured process. Node's compile cache (as a deployment would enable with
 * NODE_COMPILE_CACHE) spares re-parsing undici and re-stripping our TypeScript on every start;
 * the benchmark's own modules (testcontainers, the fault server) are not loaded here.
 */
async function once(url: string, image: string): Promise<void> {
  enableCompileCache(join(tmpdir(), 'registry-delegates-bench-cache'))
  const [{ default: pino }, { RegistryClient }] = await Promise.all([import('pino'), import('../delegate/src/registry/client.ts')])
  const client = new RegistryClient({ log: pino({ level: 'warn' }) })
  try {
    const r = await client.run({ type: 'list-tags', registry: { url }, image }, AbortSignal.timeout(120_000))
    if (r.type !== 'list-tags') throw new Error('unexpected result')
    process.stdout.write(`${r.tags.length}\n`)
  } finally {
    await client.close()
  }
}

/** Wall time of one process, and its stdout. */
async function timed(cmd: string, args: string[]): Promise<{ ms: number; out: string }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (err += d.toString()))
    p.on('error', reject)
    p.on('close', (code) => {
      const ms = performance.now() - started
      if (code !== 0) reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`))
      else resolve({ ms, out })
    })
  })
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

interface Row {
  name: string
  /** In this process, a fresh RegistryClient per run: no process start, no module loading. */
  inProcess: number[]
  ours: number[]
  skopeo: number[]
  oursCount: number
  skopeoCount: number
  requests?: { ours: number; skopeo: number }
}

async function compare(name: string, hostPort: string, runs: number, countRequests?: () => number): Promise<Row> {
  const row: Row = { name, inProcess: [], ours: [], skopeo: [], oursCount: 0, skopeoCount: 0 }
  const [{ default: pino }, { RegistryClient }] = await Promise.all([import('pino'), import('../delegate/src/registry/client.ts')])
  const inProcess = async (): Promise<number> => {
    const client = new RegistryClient({ log: pino({ level: 'warn' }) })
    const started = performance.now()
    await client.run({ type: 'list-tags', registry: { url: `http://${hostPort}` }, image: REPO }, AbortSignal.timeout(120_000))
    const ms = performance.now() - started
    await client.close()
    return ms
  }
  await inProcess()
  const ourArgs = [process.argv[1]!, '--once', `http://${hostPort}`, REPO]
  const skopeoArgs = ['list-tags', '--tls-verify=false', `docker://${hostPort}/${REPO}`]
  // one warm-up each (page cache, registry caches), not counted
  await timed(process.execPath, ourArgs)
  await timed('skopeo', skopeoArgs)
  let oursReq = 0
  let skopeoReq = 0
  for (let i = 0; i < runs; i++) {
    let before = countRequests?.() ?? 0
    const a = await timed(process.execPath, ourArgs)
    oursReq = (countRequests?.() ?? 0) - before
    row.ours.push(a.ms)
    row.oursCount = Number(a.out.trim())
    before = countRequests?.() ?? 0
    const b = await timed('skopeo', skopeoArgs)
    skopeoReq = (countRequests?.() ?? 0) - before
    row.skopeo.push(b.ms)
    row.skopeoCount = (JSON.parse(b.out) as { Tags: string[] }).Tags.length
    row.inProcess.push(await inProcess())
  }
  if (countRequests) row.requests = { ours: oursReq, skopeo: skopeoReq }
  return row
}

function print(rows: Row[]): void {
  const f = (ms: number): string => `${(ms / 1000).toFixed(3)} s`
  console.log('')
  console.log('whole processes, wall time; "in-process" = one list-tags task on a fresh client inside a running process (the delegate\'s case); for (d), the built delegate\'s own listing time')
  console.log('case                                     ours (median / min)      skopeo (median / min)    ratio   in-process (median)  tags (ours/skopeo)  requests (ours/skopeo)')
  for (const r of rows) {
    const ratio = median(r.ours) / median(r.skopeo)
    console.log(
      `${r.name.padEnd(40)} ${`${f(median(r.ours))} / ${f(Math.min(...r.ours))}`.padEnd(24)} ${`${f(median(r.skopeo))} / ${f(Math.min(...r.skopeo))}`.padEnd(24)} ${`${ratio.toFixed(2)}×`.padEnd(7)} ${f(median(r.inProcess)).padEnd(20)} ${`${r.oursCount}/${r.skopeoCount}`.padEnd(19)} ${r.requests ? `${r.requests.ours}/${r.requests.skopeo}` : '-'}`,
    )
  }
}

async function main(): Promise<void> {
  const { startRegistry } = await import('../test/containers.ts')
  const { seedRepository } = await import('../test/seed-registry.ts')
  const { pagedRegistry, startFaultServer } = await import('../delegate/test/fault-server.ts')
  const runs = Number(process.argv[2] ?? 5)
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? 'abcd'
  const skopeoVersion = await promisify(execFile)('skopeo', ['--version']).then((r) => r.stdout.trim())
  console.log(`node ${process.version}, ${skopeoVersion}, ${runs} runs per side, alternating`)
  const tags = Array.from({ length: TAGS }, (_, i) => `1.${Math.floor(i / 100)}.${i % 100}`)
  const rows: Row[] = []
  let breakdown: EndToEnd | undefined

  if (only.includes('a') || only.includes('d')) {
    const reg = await startRegistry()
    try {
      const t0 = performance.now()
      await seedRepository(`http://${reg.hostPort}`, REPO, tags, { concurrency: 64 })
      console.log(`(a) seeded ${TAGS} tags into distribution 2.8 in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      if (only.includes('a')) rows.push(await compare('(a) distribution 2.8, 10,000 tags', reg.hostPort, runs))
      if (only.includes('d')) {
        // loaded here, not at the top: the measured process (`--once`) must not load the harness
        const { endToEnd } = await import('./tags-end-to-end.ts')
        const e2e = await endToEnd(reg.hostPort, REPO, runs, timed)
        rows.push({ name: '(d) (a) through REST, built delegate', ours: e2e.rest, skopeo: e2e.skopeo, inProcess: e2e.listing, oursCount: e2e.restCount, skopeoCount: e2e.skopeoCount })
        breakdown = e2e
      }
    } finally {
      await reg.container.stop()
    }
  }

  if (!only.includes('b') && !only.includes('c')) return finish(rows, runs, breakdown)
  const hosted = await startFaultServer(pagedRegistry(tags, { defaultPage: 100, maxPage: 1000, delayMs: 25, repository: REPO }))
  try {
    if (only.includes('b')) rows.push(await compare('(b) 100/page unless n≤1000, 25 ms/req', hosted.host, runs, () => hosted.requests.length))
  } finally {
    await hosted.close()
  }

  const strict = await startFaultServer(pagedRegistry(tags, { defaultPage: 100, maxPage: 100, delayMs: 25, repository: REPO }))
  try {
    if (only.includes('c')) rows.push(await compare('(c) 100/page at most, 25 ms/req', strict.host, runs, () => strict.requests.length))
  } finally {
    await strict.close()
  }
  finish(rows, runs, breakdown)
}

function finish(rows: Row[], runs: number, breakdown: EndToEnd | undefined): void {
  print(rows)
  if (breakdown) {
    const f = breakdown.frame
    console.log('')
    console.log(`(d) one REST call of 10,000 tags, medians of ${Math.max(3, runs)} runs under Redis MONITOR (ms):`)
    for (const [phase, ms] of breakdown.phases) console.log(`  ${phase.padEnd(56)} ${ms.toFixed(1).padStart(7)}`)
    console.log(`  result frame: ${(f.bytes / 1024).toFixed(0)} KiB; JSON.stringify ${f.stringifyMs.toFixed(2)} ms, decodeDelegateMessage ${f.decodeMs.toFixed(2)} ms (in this process)`)
  }
}

if (process.argv[2] === '--once') await once(process.argv[3]!, process.argv[4]!)
else await main()
