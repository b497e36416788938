/**
 * Results of any size (SPEC §7): a million tags travel the real path — a registry stand-in that
 * pages them with Link headers, a delegate process, the WebSocket, a manager process, Redis —
 * and come back whole from the API, without the delegate losing its connection or the task an
 * attempt. Distribution itself is too slow to seed with a million tags; the stand-in serves
 * `/v2/<name>/tags/list` as distribution does (`n`, `last`, a relative next link).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { json, isPing, startFaultServer, type FaultServer } from '../delegate/test/fault-server.ts'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'

const COUNT = 1_000_000
/** Zero-padded, so that code-point order is index order and `last` gives the next index at once. */
const tagAt = (i: number) => `${String(i).padStart(7, '0')}-linux-amd64`

let registry: FaultServer
let manager: Proc & { url: string }
let delegate: Proc
let api: Api

beforeAll(async () => {
  registry = await startFaultServer((_req, res, url) => {
    if (isPing(url)) return json(res, 200, {})
    if (url.pathname !== '/v2/big/app/tags/list') return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'unknown' }] })
    const n = Math.min(Number(url.searchParams.get('n') ?? 100), 10_000)
    const last = url.searchParams.get('last')
    const start = last === null ? 0 : Number(last.slice(0, 7)) + 1
    const end = Math.min(COUNT, start + n)
    const tags = Array.from({ length: end - start }, (_, k) => tagAt(start + k))
    const headers: Record<string, string> = {}
    if (end < COUNT) headers.link = `</v2/big/app/tags/list?n=${n}&last=${tagAt(end - 1)}>; rel="next"`
    return json(res, 200, { name: 'big/app', tags }, headers)
  })
  const config = managerConfig(inject('redisUrl'))
  manager = await spawnManager(config)
  api = new Api(manager.url, config.apiKey)
  delegate = await spawnDelegate(manager.url, await api.token(), { name: 'big-results', tags: ['big'] })
})
afterAll(async () => {
  await delegate?.stop('SIGTERM', 10_000)
  await manager?.stop()
  await registry?.close()
})

describe('results larger than one frame', () => {
  it('a million tags reach GET /tags and GET /tasks/:id whole, truncated: false, in one attempt on one connection', async () => {
    const connector = await api.ok('POST', '/api/v1/connectors', { name: 'big', type: 'docker-registry', url: registry.url, delegateSelectors: ['big'] })
    const listed = await api.call('GET', `/api/v1/connectors/${connector.id}/tags?image=big/app&timeoutMs=120000`)
    expect(listed.status, JSON.stringify(listed.body).slice(0, 500)).toBe(200)
    const { tags, truncated, task } = listed.body as { tags: string[]; truncated: boolean; task: { id: string; attempts: number } }
    expect(truncated).toBe(false)
    expect(tags.length).toBe(COUNT)
    expect(tags[0]).toBe(tagAt(0))
    expect(tags[COUNT - 1]).toBe(tagAt(COUNT - 1))
    expect(tags.every((t, i) => t === tagAt(i))).toBe(true)
    expect(task.attempts).toBe(1)

    const stored = await api.ok('GET', `/api/v1/tasks/${task.id}`)
    expect(stored.status).toBe('succeeded')
    expect(stored.result.tags.length).toBe(COUNT)
    expect(stored.result.truncated).toBe(false)

    // one connection throughout: the delegate never lost the manager, nor the manager the delegate
    const losses = [
      ...delegate.lines.filter((l) => l.includes('manager connection closed')),
      ...manager.lines.filter((l) => /delegate disconnected|frame refused|silent/.test(l)),
    ]
    expect(losses.join('\n')).toBe('')
    expect(delegate.child.exitCode).toBe(null)
  }, 180_000)
})
