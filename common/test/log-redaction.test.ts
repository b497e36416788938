import { Writable } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { logRedaction } from '../src/log-redaction.ts'

function capture() {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  return { log: pino({ level: 'trace', redact: logRedaction }, stream), lines }
}

describe('log redaction', () => {
  it.each([
    ['a request header', { req: { headers: { authorization: 'Bearer S3CRET', cookie: 'sid=S3CRET' } } }],
    ['a proxy header', { headers: { 'proxy-authorization': 'Basic S3CRET' } }],
    ['a nested header', { res: { headers: { authorization: 'S3CRET' } } }],
    ['a task spec', { task: { registry: { url: 'u', username: 'bob', password: 'S3CRET' } } }],
    ['an assignment', { message: { task: { registry: { password: 'S3CRET' } } } }],
    ['a delegate token', { token: 'rdt_S3CRET' }],
    ['a token in a body', { body: { token: 'rdt_S3CRET' } }],
    ['a secret body', { body: { name: 'n', value: 'S3CRET' } }],
    ['a config', { config: { apiKey: 'S3CRET', secretsKey: 'S3CRET', secretsOldKey: 'S3CRET' } }],
    ['a top-level secret', { secret: 'S3CRET', password: 'S3CRET' }],
  ])('censors credentials in %s', (_name, fields) => {
    const { log, lines } = capture()
    log.info(fields, 'message')
    expect(lines).toHaveLength(1)
    expect(lines[0]).not.toContain('S3CRET')
    expect(lines[0]).toContain('[redacted]')
  })

  it('keeps the fields around them', () => {
    const { log, lines } = capture()
    log.info({ task: { registry: { url: 'https://r.example.com', username: 'bob', password: 'S3CRET' } }, taskId: 't1' }, 'assigned')
    const line = JSON.parse(lines[0]!) as { task: { registry: Record<string, string> }; taskId: string }
    expect(line.task.registry).toEqual({ url: 'https://r.example.com', username: 'bob', password: '[redacted]' })
    expect(line.taskId).toBe('t1')
  })
})
