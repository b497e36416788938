import { describe, expect, it } from 'vitest'
import { createMetrics } from '../src/metrics.ts'
import type { TaskData } from '../src/tasks.ts'

const base = { waitingBySelectors: async () => new Map<string, number>(), replica: 'r1', version: '9.9.9' }

const task = (type: TaskData['type'], createdAt: number): TaskData => ({
  id: 't',
  type,
  connectorId: 'c',
  image: null,
  delegateSelectors: [],
  timeoutMs: 60_000,
  createdAt,
})

describe('metrics', () => {
  it('counts tasks by type and outcome and observes their duration from creation', async () => {
    const m = createMetrics({ ...base, depth: async () => ({ waiting: 0, active: 0 }), connectedDelegates: () => 0 }, { defaultMetrics: false })
    const delegate = { id: 'd', name: 'd' }
    m.onOutcome(task('list-tags', 1_000), { status: 'succeeded', result: { type: 'list-tags', image: 'x', tags: [], truncated: false }, delegate, attempts: 1 }, 3_000)
    m.onOutcome(task('list-tags', 1_000), { status: 'failed', error: { code: 'NAME_UNKNOWN', message: 'm' }, delegate, attempts: 1 }, 1_200)
    m.onOutcome(task('validate-connector', 0), { status: 'expired', error: { code: 'EXPIRED', message: 'm' }, delegate: null, attempts: 0 }, 60_000)
    const text = await m.registry.metrics()
    expect(text).toContain('rd_tasks_total{type="list-tags",outcome="succeeded"} 1')
    expect(text).toContain('rd_tasks_total{type="list-tags",outcome="failed"} 1')
    expect(text).toContain('rd_tasks_total{type="validate-connector",outcome="expired"} 1')
    expect(text).toContain('rd_task_duration_seconds_sum{type="list-tags",outcome="succeeded"} 2')
    expect(text).toContain('rd_task_duration_seconds_bucket{le="2.5",type="list-tags",outcome="succeeded"} 1')
    expect(text).toContain('rd_task_duration_seconds_bucket{le="1",type="list-tags",outcome="succeeded"} 0')
    // failures also by their code, for "registry errors by code"
    expect(text).toContain('rd_task_errors_total{type="list-tags",code="NAME_UNKNOWN"} 1')
    expect(text).toContain('rd_task_errors_total{type="validate-connector",code="EXPIRED"} 1')
    expect(text).not.toMatch(/rd_task_errors_total\{[^}]*\} [^1]/)
  })

  it('reads queue depth and connected delegates on scrape', async () => {
    let depth = { waiting: 3, active: 2 }
    let connected = 4
    const m = createMetrics({ ...base, depth: async () => depth, connectedDelegates: () => connected }, { defaultMetrics: false })
    let text = await m.registry.metrics()
    expect(text).toContain('rd_queue_depth{state="waiting"} 3')
    expect(text).toContain('rd_queue_depth{state="active"} 2')
    expect(text).toContain('rd_connected_delegates{replica="r1"} 4')
    depth = { waiting: 0, active: 1 }
    connected = 0
    text = await m.registry.metrics()
    expect(text).toContain('rd_queue_depth{state="waiting"} 0')
    expect(text).toContain('rd_connected_delegates{replica="r1"} 0')
  })

  it('reports tasks waiting for a delegate by selector set, and build info', async () => {
    let waiting = new Map([['eu,gpu', 3], ['', 1]])
    const m = createMetrics({ ...base, depth: async () => ({ waiting: 0, active: 0 }), connectedDelegates: () => 0, waitingBySelectors: async () => waiting }, { defaultMetrics: false })
    let text = await m.registry.metrics()
    expect(text).toContain('rd_tasks_waiting_for_delegate{selectors="eu,gpu"} 3')
    expect(text).toContain('rd_tasks_waiting_for_delegate{selectors=""} 1')
    expect(text).toMatch(/^rd_build_info\{version="9\.9\.9",node="v\d+[^"]*",replica="r1"\} 1$/m)
    waiting = new Map()
    text = await m.registry.metrics()
    expect(text).not.toContain('selectors="eu,gpu"')
  })

  it('leaves queue depth out rather than report zero when Redis does not answer', async () => {
    const m = createMetrics({ ...base, depth: async () => Promise.reject(new Error('down')), connectedDelegates: () => 1 }, { defaultMetrics: false })
    const text = await m.registry.metrics()
    expect(text).not.toMatch(/^rd_queue_depth\{/m)
    expect(text).toContain('rd_connected_delegates{replica="r1"} 1')
  })

  it('counts decode failures without a label per reason', async () => {
    const m = createMetrics({ ...base, depth: async () => ({ waiting: 0, active: 0 }), connectedDelegates: () => 0 }, { defaultMetrics: false })
    m.onDecodeFailure('frame is not JSON')
    m.onDecodeFailure('anything else')
    expect(await m.registry.metrics()).toMatch(/^rd_websocket_decode_failures_total 2$/m)
  })

  it('keeps each manager its own registry', async () => {
    const a = createMetrics({ ...base, depth: async () => ({ waiting: 0, active: 0 }), connectedDelegates: () => 0 })
    const b = createMetrics({ ...base, depth: async () => ({ waiting: 0, active: 0 }), connectedDelegates: () => 0 })
    a.onDecodeFailure('x')
    expect(await b.registry.metrics()).toMatch(/^rd_websocket_decode_failures_total 0$/m)
  })
})
