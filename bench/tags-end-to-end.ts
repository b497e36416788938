/**
 * bench/tags.ts case (d): 10,000 tags through the whole system, `GET /api/v1/connectors/:id/tags`
 * on a real manager process with the built delegate (both from dist/), against
 * `skopeo list-tags` on the same registry, alternating, in the same run.
 *
 * Then where the time of one REST call goes, from timestamps on one clock: the bench's own
 * (request sent, answer read), the delegate's log ("task succeeded": when the listing ended and
 * how long it took) and Redis MONITOR (when the job was added, when its result was written, and
 * the manager's last read of it before answering). MONITOR slows Redis a little, so these runs
 * are separate from the timed ones. Serialising and decoding the result frame are timed here too.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import { decodeDelegateMessage } from '../protocol/src/index.ts'
import { build, BUNDLES, dist } from '../scripts/build.ts'
import { startRedis } from '../test/containers.ts'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from '../test/harness.ts'

export interface EndToEnd {
  rest: number[]
  skopeo: number[]
  /** the delegate's own listing time (its "task succeeded" durationMs) */
  listing: number[]
  restCount: number
  skopeoCount: number
  /** median ms of each phase of one REST call */
  phases: [string, number][]
  frame: { bytes: number; stringifyMs: number; decodeMs: number }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const now = (): number => performance.timeOrigin + performance.now()

interface Succeeded {
  taskId: string
  durationMs: number
  time: number
}

function succeededLines(delegate: Proc): Map<string, Succeeded> {
  const out = new Map<string, Succeeded>()
  for (const line of delegate.lines) {
    if (!line.includes('"task succeeded"')) continue
    const l = JSON.parse(line) as Succeeded
    out.set(l.taskId, l)
  }
  return out
}

export async function endToEnd(
  registryHostPort: string,
  repo: string,
  runs: number,
  timed: (cmd: string, args: string[]) => Promise<{ ms: number; out: string }>,
): Promise<EndToEnd> {
  await build(['manager', 'delegate'])
  const alone = await mkdtemp(join(tmpdir(), 'rd-bench-delegate-'))
  await copyFile(join(dist, BUNDLES.delegate.out), join(alone, BUNDLES.delegate.out))
  const redis = await startRedis()
  let manager: (Proc & { url: string }) | undefined
  let delegate: Proc | undefined
  try {
    const config = managerConfig(redis.url, { heartbeatIntervalMs: 2_000, heartbeatTimeoutMs: 10_000 })
    manager = await spawnManager(config, { script: BUNDLES.manager.out, cwd: dist })
    const api = new Api(manager.url, config.apiKey)
    delegate = await spawnDelegate(manager.url, await api.token(), { name: 'bench', script: BUNDLES.delegate.out, cwd: alone })
    const connector = await api.ok('POST', '/api/v1/connectors', { name: 'bench', type: 'docker-registry', url: registryHostPort })
    const path = `/api/v1/connectors/${connector.id}/tags?image=${encodeURIComponent(repo)}`
    const rest = async (): Promise<{ ms: number; count: number; taskId: string; sent: number; answered: number }> => {
      const sent = now()
      const res = await api.ok('GET', path)
      const answered = now()
      return { ms: answered - sent, count: res.tags.length, taskId: res.task.id, sent, answered }
    }
    const skopeoArgs = ['list-tags', '--tls-verify=false', `docker://${registryHostPort}/${repo}`]
    // warm-up: the delegate loads its registry client on the first task
    await rest()
    await rest()
    await timed('skopeo', skopeoArgs)

    const out: EndToEnd = { rest: [], skopeo: [], listing: [], restCount: 0, skopeoCount: 0, phases: [], frame: { bytes: 0, stringifyMs: 0, decodeMs: 0 } }
    const taskIds: string[] = []
    for (let i = 0; i < runs; i++) {
      const r = await rest()
      out.rest.push(r.ms)
      out.restCount = r.count
      taskIds.push(r.taskId)
      const s = await timed('skopeo', skopeoArgs)
      out.skopeo.push(s.ms)
      out.skopeoCount = (JSON.parse(s.out) as { Tags: string[] }).Tags.length
    }
    const succeeded = succeededLines(delegate)
    out.listing = taskIds.map((id) => succeeded.get(id)?.durationMs ?? Number.NaN)

    out.phases = await phases(redis.url, rest, delegate, Math.max(3, runs))
    out.frame = await frameCost(api, connector.id as string, repo)
    return out
  } finally {
    await delegate?.stop()
    await manager?.stop()
    await redis.container.stop()
    await rm(alone, { recursive: true, force: true })
  }
}

/** REST calls under Redis MONITOR: the time between the steps of each, medians. */
async function phases(
  redisUrl: string,
  rest: () => Promise<{ taskId: string; sent: number; answered: number }>,
  delegate: Proc,
  runs: number,
): Promise<[string, number][]> {
  const client = new Redis(redisUrl)
  const monitor = await client.monitor()
  const seen: { at: number; args: string[] }[] = []
  monitor.on('monitor', (time: string, args: string[]) => seen.push({ at: Number(time) * 1000, args }))
  const rows: Record<string, number[]> = {}
  const add = (k: string, v: number) => (rows[k] ??= []).push(v)
  try {
    for (let i = 0; i < runs; i++) {
      seen.length = 0
      const r = await rest()
      const done = succeededLines(delegate).get(r.taskId)
      const mine = seen.filter((c) => c.args.some((a) => a.includes(r.taskId)))
      const added = mine[0]?.at
      // the job's result is written by the worker's moveToFinished script, with the result in it
      const stored = mine.find((c) => c.args.some((a) => a.includes('"tags"')))?.at
      const lastRead = mine.filter((c) => stored !== undefined && c.at > stored).at(-1)?.at
      if (!done || added === undefined || stored === undefined || lastRead === undefined) continue
      const started = done.time - done.durationMs
      add('REST request → job added', added - r.sent)
      add('job added → delegate starts (dispatch, assign frame)', started - added)
      add('delegate lists 10,000 tags', done.durationMs)
      add('listing done → result stored (send, receive, write)', stored - done.time)
      add('result stored → REST answer read (wake, read, reply)', r.answered - stored)
      add('(last Redis read of the task before the answer)', lastRead - stored)
      add('total', r.answered - r.sent)
    }
  } finally {
    monitor.disconnect()
    client.disconnect()
  }
  return Object.entries(rows).map(([k, v]) => [k, median(v)])
}

/** The result frame of one listing: its size, JSON.stringify on the delegate, decode on the manager. */
async function frameCost(api: Api, connectorId: string, repo: string): Promise<EndToEnd['frame']> {
  const res = await api.ok('GET', `/api/v1/connectors/${connectorId}/tags?image=${encodeURIComponent(repo)}`)
  const message = {
    type: 'task.result',
    taskId: res.task.id,
    attemptId: res.task.id,
    outcome: { ok: true, result: { type: 'list-tags', image: res.image, tags: res.tags, truncated: res.truncated } },
  }
  const reps = 50
  let text = ''
  let t = performance.now()
  for (let i = 0; i < reps; i++) text = JSON.stringify(message)
  const stringifyMs = (performance.now() - t) / reps
  const bytes = Buffer.byteLength(text)
  const frame = Buffer.from(text)
  t = performance.now()
  for (let i = 0; i < reps; i++) decodeDelegateMessage(frame)
  const decodeMs = (performance.now() - t) / reps
  return { bytes, stringifyMs, decodeMs }
}
