/**
 * `npm run chaos -- --minutes N [--seed S]`: the chaos suite of test/chaos.ts for N minutes,
 * printing its figures. Redis: REDIS_URL, else a local redis-server on a free port.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { runChaos } from '../test/chaos.ts'
import { freePort } from '../test/containers.ts'

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  const value = at === -1 ? fallback : Number(process.argv[at + 1])
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} needs a number`)
  return value
}

const minutes = arg('minutes', 1)
const seed = arg('seed', Math.floor(Math.random() * 2 ** 31))
let redisUrl = process.env.REDIS_URL
let stopRedis = async () => {}
if (!redisUrl) {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  redisUrl = `redis://127.0.0.1:${port}`
  stopRedis = async () => {
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
  for (let i = 0; ; i++) {
    const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => undefined)
    const up = await probe.connect().then(() => true, () => false)
    probe.disconnect()
    if (up) break
    if (i > 50) throw new Error('redis-server did not start (apt-get install redis-server, or set REDIS_URL)')
    await sleep(100)
  }
}

const ms = minutes * 60_000
const report = await runChaos({ redisUrl, seed, minMs: ms, minRegistryAnswers: 2_000, maxMs: ms, progress: (line) => console.log(line) })
await stopRedis()
const { problems, ...figures } = report
console.log(JSON.stringify(figures, null, 2))
console.log(
  `chaos: ${(report.ms / 60_000).toFixed(1)} min, seed ${seed}: ${report.connections} hostile connections, ${report.frames} hostile frames, ` +
    `${report.proxyResets} mid-stream resets, ${report.registryAnswers} random registry answers, ${report.tasks} tasks, ` +
    `${report.apiRequests} API requests, process exits: ${report.processExits}, problems: ${problems.length}`,
)
for (const p of problems) console.log(`problem: ${p}`)
process.exitCode = problems.length === 0 ? 0 : 1
