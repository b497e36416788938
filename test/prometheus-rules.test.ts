/**
 * deploy/prometheus/alerts.yml: valid for Prometheus (`promtool check rules`), each alert fires on
 * the series it is about (`promtool test rules alerts.test.yml`), and it names only metrics the
 * manager exports.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { root } from './harness.ts'
import { createMetrics } from '../manager/src/metrics.ts'
import { registerHealthMetrics } from '../manager/src/health-metrics.ts'

const run = promisify(execFile)
const dir = join(root, 'deploy', 'prometheus')
const PROMTOOL = process.env.PROMTOOL_PATH ?? 'promtool'

async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(PROMTOOL, args, { cwd: dir })
    return stdout + stderr
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string }
    if (e.code === 'ENOENT') throw new Error(`promtool is missing: install Debian's "prometheus" package (apt-get install -y prometheus), or set PROMTOOL_PATH.`, { cause: err })
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err })
  }
}

describe('Prometheus alert rules', () => {
  it('pass promtool check rules', async () => {
    expect(await promtool('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: 5 rules found/)
  })

  it('fire on the series they are about, and only then (promtool test rules)', async () => {
    expect(await promtool('test', 'rules', 'alerts.test.yml')).toMatch(/SUCCESS/)
  })

  it('name only metrics the manager exports', async () => {
    const metrics = createMetrics(
      { depth: async () => ({ waiting: 0, active: 0 }), connectedDelegates: () => 0, waitingBySelectors: async () => new Map(), replica: 'r', version: 'v' },
      { defaultMetrics: false },
    )
    const empty = { list: async () => [], states: async () => new Map(), current: async () => [] }
    registerHealthMetrics(metrics.registry, { connectors: empty as never, health: empty as never, selectors: empty as never })
    const exported = new Set(metrics.registry.getMetricsAsArray().map((m) => m.name))
    const rules = parse(readFileSync(join(dir, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }
    const used = rules.groups.flatMap((g) => g.rules.flatMap((r) => [...r.expr.matchAll(/\brd_[a-z_]+/g)].map((m) => m[0])))
    expect(used.length).toBeGreaterThan(0)
    for (const name of used) expect(exported, name).toContain(name)
  })
})
