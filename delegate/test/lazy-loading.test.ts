/**
 * The registry client (and undici under it) loads with the first task, not at start: an idle
 * delegate holds only the manager connection. Observed on a real process through Node's module
 * hooks, which report every module it resolves.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import type { TaskResult, TaskSpec } from '../../protocol/src/index.ts'
import type { TaskRunner } from '../src/delegate.ts'
import { LazyRunner } from '../src/lazy-runner.ts'
import { freePort } from '../../test/containers.ts'
import { root } from '../../test/harness.ts'

const REPORT_RESOLVED = `data:text/javascript,${encodeURIComponent(
  `import { registerHooks } from 'node:module'
   registerHooks({ resolve(s, c, next) { const r = next(s, c); process.stderr.write('resolved ' + r.url + '\\n'); return r } })`,
)}`

/** The modules an idle delegate resolved by the time it first backs off from a closed manager port. */
async function resolvedWhileIdle(env: Record<string, string> = {}): Promise<string[]> {
  const closed = await freePort()
  const child = spawn(process.execPath, ['--import', REPORT_RESOLVED, 'delegate/src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', MANAGER_URL: `http://127.0.0.1:${closed}`, DELEGATE_TOKEN: 'rdt_test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = once(child, 'exit')
  try {
    const until = Date.now() + 20_000
    for await (const chunk of child.stdout) {
      stdout += String(chunk)
      if (stdout.includes('reconnecting') || Date.now() > until) break
    }
    expect(stdout).toContain('reconnecting')
    return stderr.split('\n').filter((l) => l.startsWith('resolved '))
  } finally {
    child.kill('SIGKILL')
    await exited
  }
}

const TELEMETRY = /\/node_modules\/(@opentelemetry\/|prom-client\/)/

describe('an idle delegate process', () => {
  it('loads nothing of OpenTelemetry nor prom-client without an OTLP endpoint and a health port', { timeout: 30_000 }, async () => {
    const resolved = await resolvedWhileIdle()
    expect(resolved.filter((l) => TELEMETRY.test(l))).toEqual([])
  })

  it('loads them when asked to trace and to serve /metrics', { timeout: 30_000 }, async () => {
    const resolved = await resolvedWhileIdle({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`, DELEGATE_HEALTH_PORT: String(await freePort()), DELEGATE_HEALTH_HOST: '127.0.0.1' })
    for (const pkg of ['@opentelemetry/sdk-trace/', '@opentelemetry/exporter-trace-otlp-proto/', 'prom-client/']) expect(resolved.some((l) => l.includes(`/node_modules/${pkg}`)), pkg).toBe(true)
  })

  it('has not loaded the registry client nor undici while it waits for a manager', { timeout: 30_000 }, async () => {
    const resolved = await resolvedWhileIdle()
    expect(resolved.some((l) => l.includes('/delegate/src/manager-connection.ts'))).toBe(true)
    expect(resolved.filter((l) => /\/node_modules\/undici\/|\/delegate\/src\/registry\/(client|http|session|paginate)\.ts/.test(l))).toEqual([])
  })
})

describe('LazyRunner', () => {
  const task: TaskSpec = { type: 'list-tags', registry: { url: 'http://127.0.0.1:1' }, image: 'a/b' }
  const result: TaskResult = { type: 'list-tags', image: 'a/b', tags: ['1'], truncated: false }
  const counting = (fail = 0) => {
    const calls = { loads: 0, runs: 0, closes: 0 }
    const runner: TaskRunner = {
      run: async () => (calls.runs++, result),
      close: async () => void calls.closes++,
    }
    const load = async () => {
      calls.loads++
      if (calls.loads <= fail) throw new Error('load failed')
      return runner
    }
    return { calls, load }
  }

  it('builds the runner once, on the first task, for every task that arrives meanwhile', async () => {
    const { calls, load } = counting()
    const lazy = new LazyRunner(load)
    expect(calls.loads).toBe(0)
    const signal = new AbortController().signal
    expect(await Promise.all([lazy.run(task, signal), lazy.run(task, signal), lazy.run(task, signal)])).toEqual([result, result, result])
    expect(calls).toEqual({ loads: 1, runs: 3, closes: 0 })
    await lazy.close()
    expect(calls.closes).toBe(1)
  })

  it('closes without building a runner that was never needed', async () => {
    const { calls, load } = counting()
    await new LazyRunner(load).close()
    expect(calls).toEqual({ loads: 0, runs: 0, closes: 0 })
  })

  it('probes through the runner it builds, and answers INTERNAL (never throws) when it cannot build one', async () => {
    const signal = new AbortController().signal
    const probing: TaskRunner = { run: async () => result, close: async () => {}, probe: async () => ({ reachable: true, status: 200, latencyMs: 3 }) }
    expect(await new LazyRunner(async () => probing).probe('http://127.0.0.1:1', signal)).toEqual({ reachable: true, status: 200, latencyMs: 3 })
    const { load } = counting(1)
    expect(await new LazyRunner(load).probe('http://127.0.0.1:1', signal)).toMatchObject({ reachable: false, code: 'INTERNAL' })
    const { load: cannotProbe } = counting()
    expect(await new LazyRunner(cannotProbe).probe('http://127.0.0.1:1', signal)).toMatchObject({ reachable: false, code: 'INTERNAL' })
  })

  it('a failed build fails that task and is tried again by the next', async () => {
    const { calls, load } = counting(1)
    const lazy = new LazyRunner(load)
    const signal = new AbortController().signal
    await expect(lazy.run(task, signal)).rejects.toThrow('load failed')
    expect(await lazy.run(task, signal)).toEqual(result)
    expect(calls.loads).toBe(2)
  })
})
