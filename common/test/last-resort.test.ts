import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const module = fileURLToPath(new URL('../src/last-resort.ts', import.meta.url))

function run(body: string) {
  const script = `
    import { pino } from 'pino'
    import { installLastResort } from ${JSON.stringify(module)}
    installLastResort(pino())
    ${body}
  `
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) })
}

describe('the last resort', () => {
  it('logs an uncaught exception and exits 1', () => {
    const r = run(`setTimeout(() => { throw new Error('boom in a timer') }, 1)`)
    expect(r.status).toBe(1)
    const line = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { level: number; msg: string; err: { message: string } }
    expect(line).toMatchObject({ level: 60, err: { message: 'boom in a timer' } })
    expect(line.msg).toMatch(/uncaught exception/)
  })

  it('treats an unhandled rejection the same way', () => {
    const r = run(`Promise.reject(new Error('nobody awaited me'))`)
    expect(r.status).toBe(1)
    expect(r.stdout).toContain('nobody awaited me')
  })

  it('leaves a process that throws nothing alone', () => {
    const r = run(`console.log('fine')`)
    expect(r.status).toBe(0)
  })
})
