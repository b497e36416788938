/**
 * delegatectl as users run it: the real binary (`node cli/delegatectl.js`) in a child process,
 * against a real manager, delegate and registry. Asserts what scripts rely on: stdout, stderr
 * and the exit code.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ANY_CONTROL } from './controls.ts'
import type { Command } from 'commander'
import type { Delegate } from '../delegate/src/delegate.ts'
import { buildProgram } from '../cli/program.ts'
import { freePort } from './containers.ts'
import { root, startTestDelegate, startTestManager, type TestManager } from './harness.ts'
import { seedRepository } from './seed-registry.ts'
import { isPing, json, startFaultServer } from '../delegate/test/fault-server.ts'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

describe('delegatectl', () => {
  let m: TestManager
  const delegates: Delegate[] = []
  const repo = `cli-${randomUUID().slice(0, 8)}/app`
  const tags = ['1.0', '1.1', '2.0', 'latest']

  beforeAll(async () => {
    m = await startTestManager(inject('redisUrl'))
    delegates.push(await startTestDelegate(m.url, await m.api.token(), { name: 'cli-eu-1', tags: ['eu', 'docker'] }))
    await seedRepository(`http://${inject('registryHostPort')}`, repo, tags)
  })
  afterAll(async () => {
    await Promise.all(delegates.map((d) => d.close()))
    await m?.close()
  })

  /** Runs the binary with the manager in the environment (as a user's shell would have it). */
  function ctl(args: string[], o: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
    const child = spawn(process.execPath, ['cli/delegatectl.js', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', DELEGATECTL_SERVER: m.url, DELEGATECTL_API_KEY: m.config.apiKey, ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.stdin.end(o.input ?? '')
    return new Promise((resolve, reject) => {
      child.on('error', reject)
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })
  }

  it('shows who could run a task for a connector, why the others cannot, and what a probe finds', async () => {
    await ctl(['connectors', 'create', '--name', 'cli eligible', '--url', inject('registryHostPort'), '--selector', 'eu'])
    const table = await ctl(['connectors', 'eligible', 'cli eligible', '--probe'])
    expect(table.code).toBe(0)
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+ELIGIBLE\s+WHY NOT\s+PROBE\s+REPLICA$/)
    expect(table.stdout).toMatch(/cli-eu-1\s+yes\s+-\s+reachable \d+ms \(HTTP 200\)/)
    expect(table.stdout).toMatch(/would pick cli-eu-1 \(round robin among \d+ eligible/)
    const narrowed = await ctl(['connectors', 'eligible', 'cli eligible', '--selector', 'mars', '--json'])
    expect(narrowed.code).toBe(0)
    const answer = JSON.parse(narrowed.stdout) as { pick: unknown; delegates: { name: string; reasons: { code: string }[] }[] }
    expect(answer.pick).toBe(null)
    expect(answer.delegates.find((d) => d.name === 'cli-eu-1')!.reasons).toEqual([{ code: 'MISSING_SELECTORS', selectors: ['mars'] }])
  })

  it('creates, lists, validates and deletes a connector by its name; tables for people, JSON for scripts', async () => {
    const created = await ctl(['connectors', 'create', '--name', 'cli registry', '--url', inject('registryHostPort'), '--selector', 'docker'])
    expect(created).toMatchObject({ code: 0, stdout: expect.stringMatching(/^created connector cli registry \(/) })

    const ls = await ctl(['connectors', 'ls'])
    expect(ls.code).toBe(0)
    expect(ls.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+URL\s+CREDENTIALS\s+SELECTORS\s+PROJECT$/)
    expect(ls.stdout).toMatch(/cli registry\s+127\.0\.0\.1:\d+\s+anonymous\s+docker/)
    const json = await ctl(['connectors', 'ls', '--json'])
    const { connectors } = JSON.parse(json.stdout) as { connectors: { id: string; name: string }[] }
    const id = connectors.find((c) => c.name === 'cli registry')!.id

    const valid = await ctl(['connectors', 'validate', 'cli registry'])
    expect(valid.code).toBe(0)
    expect(valid.stdout).toMatch(/^cli registry: valid: http:\/\/127\.0\.0\.1:\d+ speaks .* auth none \(delegate cli-eu-1/)

    const images = await ctl(['images', id])
    expect(images.code).toBe(0)
    expect(images.stdout.split('\n')).toContain(repo)
    const listed = await ctl(['tags', 'cli registry', repo])
    expect(listed).toMatchObject({ code: 0, stdout: `${[...tags].sort().join('\n')}\n` })
    const asJson = JSON.parse((await ctl(['--json', 'tags', 'cli registry', repo])).stdout)
    expect(asJson).toMatchObject({ image: repo, tags: [...tags].sort(), truncated: false, task: { status: 'succeeded' } })

    expect(await ctl(['connectors', 'rm', 'cli registry'])).toMatchObject({ code: 0, stdout: `deleted connector cli registry (${id})\n` })
    expect((await ctl(['connectors', 'ls'])).stdout).not.toContain('cli registry')
  })

  it('exits 1 when the task fails, printing the code, the message, a hint and the task to look at', async () => {
    await ctl(['connectors', 'create', '--name', 'closed', '--url', '127.0.0.1:1'])
    const refused = await ctl(['connectors', 'validate', 'closed'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^error: DELEGATE_CANNOT_REACH_REGISTRY: no delegate can reach 127\.0\.0\.1:1 \(cli-eu-1: CONNECTION_REFUSED\)/)
    expect(refused.stderr).toMatch(/\nhint: +No eligible delegate can reach the registry/)
    expect(refused.stderr).toMatch(/\ntask: +\S+ \(failed\); see its selection log: delegatectl tasks get \S+/)
    const asJson = await ctl(['connectors', 'validate', 'closed', '--json'])
    expect(asJson.code).toBe(1)
    expect(JSON.parse(asJson.stdout)).toMatchObject({ status: 'failed', error: { code: 'DELEGATE_CANNOT_REACH_REGISTRY' } })

    await ctl(['connectors', 'create', '--name', 'good', '--url', inject('registryHostPort')])
    const unknown = await ctl(['tags', 'good', `${repo}-nope`])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/^error: NAME_UNKNOWN: /)
    expect(unknown.stdout).toBe('')
  })

  it('sets a health check, prints the registry profile with validate -v, and the health with connectors health', async () => {
    const created = await ctl(['connectors', 'create', '--name', 'watched', '--url', inject('registryHostPort'), '--health-check', '60'])
    expect(created.code).toBe(0)
    const verbose = await ctl(['connectors', 'validate', 'watched', '-v'])
    expect(verbose.code).toBe(0)
    const lines = verbose.stdout.split('\n')
    expect(lines[0]).toMatch(/^watched: valid: http:\/\/127\.0\.0\.1:\d+ speaks registry\/2\.0, auth none \(delegate cli-eu-1/)
    expect(lines.slice(1, 9)).toEqual([
      'registry profile:',
      '  api version      registry/2.0',
      '  auth             none',
      '  anonymous pulls  allowed',
      '  catalog          supported',
      expect.stringMatching(/^ {2}pagination {7}(Link|no Link header seen) · n up to 1000$/),
      '  rate limit       no RateLimit headers',
      '  tls              plain http',
    ])
    expect((await ctl(['connectors', 'validate', 'watched'])).stdout).not.toContain('registry profile')

    const health = await ctl(['connectors', 'health', 'watched'])
    expect(health.code).toBe(0)
    expect(health.stdout).toMatch(/^watched: healthy since \S+, checked every 60s, next check \S+\n/)
    expect(health.stdout).toMatch(/^AT\s+OUTCOME\s+CODE\s+DELEGATE\s+DURATION\s+TASK$/m)
    expect(health.stdout).toMatch(/^\S+\s+succeeded\s+-\s+cli-eu-1\s+\d+ms\s+[0-9a-f-]{36}$/m)
    const asJson = JSON.parse((await ctl(['connectors', 'health', 'watched', '--json'])).stdout)
    expect(asJson).toMatchObject({ state: 'healthy', healthCheck: { intervalSeconds: 60 } })
    expect(asJson.checks.length).toBeGreaterThanOrEqual(1)

    const tooOften = await ctl(['connectors', 'create', '--name', 'too often', '--url', inject('registryHostPort'), '--health-check', '10'])
    expect(tooOften.code).toBe(2)
    expect(tooOften.stderr).toMatch(/^error: INVALID_INPUT: body\/healthCheck\/intervalSeconds must be >= 30/)
    await ctl(['connectors', 'rm', 'watched'])
  })

  it('exits 2 on usage errors: bad arguments, unknown names, no key or a wrong one', async () => {
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [['connectors', 'frobnicate'], /unknown command 'frobnicate'/],
      [['tags', 'good'], /missing required argument 'image'/],
      [['connectors', 'create', '--name', 'x'], /required option '--url <url>' not specified/],
      [['tasks', 'ls', '--status', 'lost'], /Allowed choices are queued, running, succeeded, failed, expired/],
      [['connectors', 'validate', 'no such connector'], /^error: NOT_FOUND: no connector has the id or name "no such connector"\nhint: +List them with: delegatectl connectors ls/],
      [['connectors', 'create', '--name', 'x', '--url', 'http://[::1'], /^error: INVALID_INPUT: /],
      [['delegates', 'ls'], /^error: NO_API_KEY: no API key given\nhint: +Pass --api-key/, { DELEGATECTL_API_KEY: '' }],
      [['delegates', 'ls', '--api-key', 'wrong'], /^error: UNAUTHORIZED: .*\nhint: +The API key is missing or wrong/],
    ]
    for (const [args, stderr, env] of cases) {
      const r = await ctl(args, env ? { env } : {})
      expect({ args, code: r.code, stderr: r.stderr }).toMatchObject({ code: 2, stderr: expect.stringMatching(stderr) })
    }
  })

  it('exits 3 when no manager answers at the server address', async () => {
    const r = await ctl(['delegates', 'ls', '--server', `http://127.0.0.1:${await freePort()}`])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/^error: UNREACHABLE: no manager answers at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\nhint: /)
  })

  it('exits 3 when something other than the manager answers, JSON or not', async () => {
    // a gateway in front of a stopped manager: what a real manager never answers
    const answers = [
      { type: 'application/json', body: '{"message":"bad gateway"}' },
      { type: 'text/html', body: '<html>502 Bad Gateway</html>' },
    ]
    const gateway = createServer((_req, res) => {
      const a = answers.shift()!
      res.writeHead(502, { 'content-type': a.type }).end(a.body)
    })
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r))
    try {
      const server = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`
      for (const said of [/answered 502 without the manager's error/, /answered 502 with something other than the manager's JSON/]) {
        const r = await ctl(['delegates', 'ls', '--server', server])
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 3, stderr: expect.stringMatching(new RegExp(`^error: UNREACHABLE: .*${said.source}.*\\nhint: +Check --server`)) })
      }
    } finally {
      gateway.closeAllConnections()
      await new Promise((r) => gateway.close(r))
    }
  })

  it('lists, shows and waits for tasks, with the selection log', async () => {
    const c = await m.api.ok<{ id: string }>('POST', '/api/v1/connectors', { name: 'gpu only', type: 'docker-registry', url: inject('registryHostPort'), delegateSelectors: ['gpu'] })
    const { id } = await m.api.ok<{ id: string }>('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: c.id, image: repo })

    const waiting = await ctl(['tasks', 'wait', id, '--timeout', '300'])
    expect(waiting.code).toBe(1)
    expect(waiting.stdout).toMatch(/status +queued/)
    expect(waiting.stdout).toMatch(/\+\d+\.\d{3}s {2}waiting: /)
    expect(waiting.stderr).toMatch(/^error: WAIT_TIMEOUT: /)

    const [done] = await Promise.all([
      ctl(['tasks', 'wait', id]),
      startTestDelegate(m.url, await m.api.token(), { name: 'cli-gpu-1', tags: ['gpu'] }).then((d) => delegates.push(d)),
    ])
    expect(done.code).toBe(0)
    expect(done.stdout).toMatch(/status +succeeded/)
    expect(done.stdout).toMatch(/outcome +4 tags of /)
    expect(done.stdout).toMatch(/succeeded on cli-gpu-1/)

    const got = JSON.parse((await ctl(['tasks', 'get', id, '--json'])).stdout)
    expect(got).toMatchObject({ id, status: 'succeeded', delegate: { name: 'cli-gpu-1' } })
    const ls = await ctl(['tasks', 'ls', '--connector', 'gpu only', '--status', 'succeeded'])
    expect(ls.code).toBe(0)
    expect(ls.stdout).toMatch(new RegExp(`^${id}\\s+list-tags\\s+gpu only\\s+${repo}\\s+succeeded\\s+-\\s+cli-gpu-1`, 'm'))
    const delegatesLs = await ctl(['delegates', 'ls'])
    expect(delegatesLs.stdout).toMatch(/^cli-eu-1\s+connected\s+docker,eu\s+test\s+0\/8/m)
  })

  it('creates secrets from stdin and tokens printed once; lists, revokes and deletes them', async () => {
    const secret = await ctl(['secrets', 'create', 'cli-password'], { input: 'hunter2-value\n' })
    expect(secret).toMatchObject({ code: 0, stdout: expect.stringMatching(/^created secret cli-password \(/) })
    const secrets = await ctl(['secrets', 'ls'])
    expect(secrets.stdout).toMatch(/cli-password\s+\(account\)/)
    expect(secrets.stdout + (await ctl(['secrets', 'ls', '--json'])).stdout).not.toContain('hunter2')

    await ctl(['connectors', 'create', '--name', 'with secret', '--url', inject('registryHostPort'), '--username', 'u', '--password-secret', 'cli-password'])
    const inUse = await ctl(['secrets', 'rm', 'cli-password'])
    expect(inUse.code).toBe(2)
    expect(inUse.stderr).toMatch(/^error: SECRET_IN_USE: /)
    await ctl(['connectors', 'rm', 'with secret'])
    expect(await ctl(['secrets', 'rm', 'cli-password'])).toMatchObject({ code: 0 })

    const token = await ctl(['tokens', 'create', 'cli-west'])
    expect(token.code).toBe(0)
    expect(token.stdout).toMatch(/^rdt_\S+\n$/)
    expect(token.stderr).toMatch(/shown only this once/)
    delegates.push(await startTestDelegate(m.url, token.stdout.trim(), { name: 'cli-with-new-token' }))
    expect((await ctl(['tokens', 'ls'])).stdout).toMatch(/cli-west\s+any\s/)
    const bound = await ctl(['tokens', 'create', 'cli-bound', '--delegate-name', 'cli-east-1'])
    expect(bound.code).toBe(0)
    expect(bound.stderr).toMatch(/Only a delegate named cli-east-1 may use it/)
    expect(bound.stderr).toMatch(/DELEGATE_NAME=cli-east-1/)
    expect((await ctl(['tokens', 'ls'])).stdout).toMatch(/cli-bound\s+cli-east-1\s/)
    expect(await ctl(['tokens', 'revoke', 'cli-west'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^revoked token cli-west/) })
    expect(JSON.parse((await ctl(['tokens', 'ls', '--json'])).stdout).tokens.map((t: { name: string }) => t.name)).not.toContain('cli-west')
  })

  it('prints no control character a registry or a peer sent, and says how many tags it left out', async () => {
    const registry = await startFaultServer((_req, res, url) => {
      if (isPing(url)) return json(res, 200, {})
      // a registry whose tags and error messages carry escape sequences
      if (url.pathname.includes('broken')) return json(res, 400, { errors: [{ code: 'X\u001b]0;pwned\u0007', message: 'm' }] })
      return json(res, 200, { name: 'x', tags: ['1.0', '\u001b[2J\u001b[Hfake', 'a\u009b31m'] })
    })
    try {
      await ctl(['connectors', 'create', '--name', 'evil\u001b[31mred\u202e', '--url', registry.url, '--selector', 'docker'])
      const outputs = [
        await ctl(['connectors', 'ls']),
        await ctl(['connectors', 'ls', '--json']),
        await ctl(['tags', 'evil\u001b[31mred\u202e', 'team/x']),
        await ctl(['tags', 'evil\u001b[31mred\u202e', 'team/broken']),
        await ctl(['tasks', 'ls']),
      ]
      for (const o of outputs) expect(o.stdout + o.stderr).not.toMatch(ANY_CONTROL)
      expect(outputs[0]!.stdout).toContain('evil\\x1b[31mred\\u202e')
      expect(JSON.parse(outputs[1]!.stdout).connectors.map((c: { name: string }) => c.name)).toContain('evil\u001b[31mred\u202e')
      expect(outputs[2]).toMatchObject({ code: 0, stdout: '1.0\n' })
      expect(outputs[2]!.stderr).toMatch(/2 tags that do not fit the distribution grammar/)
      expect(outputs[3]!.code).toBe(1)
      expect(outputs[3]!.stderr).toContain('\\x1b]0;pwned\\x07')
    } finally {
      await ctl(['connectors', 'rm', 'evil\u001b[31mred\u202e'])
      await registry.close()
    }
  })

  it('answers --help on every command with exit 0', async () => {
    const described: [string, string][] = []
    const walk = (cmd: Command, path: string[]) => {
      for (const sub of cmd.commands) {
        described.push([[...path, sub.name()].join(' '), sub.description()])
        walk(sub, [...path, sub.name()])
      }
    }
    walk(buildProgram(), [])
    expect(described.length).toBeGreaterThan(15)
    expect(described.filter(([, d]) => d === '')).toEqual([])
    // commander answers --help on each of them; a few runs of the real binary stand for all
    for (const path of [[], ['connectors'], ['connectors', 'create'], ['tags'], ['tasks', 'wait'], ['secrets', 'create']]) {
      const r = await ctl([...path, '--help'])
      expect({ path, code: r.code }).toEqual({ path, code: 0 })
      expect(r.stdout).toMatch(new RegExp(`^Usage: delegatectl${path.map((p) => ` ${p}`).join('')} `))
    }
  })
})
