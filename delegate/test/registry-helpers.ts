/** Shared bits of the registry client tests: a client whose log lines are kept, and task shorthands. */
import { Writable } from 'node:stream'
import pino from 'pino'
import type { TaskResult, TaskSpec } from '../../protocol/src/messages.ts'
import { RegistryClient, type RegistryClientOptions } from '../src/registry/client.ts'
import { RegistryError } from '../src/registry/errors.ts'

export interface TestClient {
  client: RegistryClient
  /** Every log line written so far (JSON text). */
  logs: string[]
}

export function makeClient(opts: Partial<RegistryClientOptions> = {}): TestClient {
  const logs: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'))
      cb()
    },
  })
  const log = pino({ level: 'debug' }, sink)
  return { client: new RegistryClient({ log, ...opts }), logs }
}

export function tags(url: string, image: string, creds: { username?: string; password?: string } = {}): TaskSpec {
  return { type: 'list-tags', registry: { url, ...creds }, image }
}
export function images(url: string, creds: { username?: string; password?: string } = {}): TaskSpec {
  return { type: 'list-images', registry: { url, ...creds } }
}
export function validate(url: string, creds: { username?: string; password?: string } = {}): TaskSpec {
  return { type: 'validate-connector', registry: { url, ...creds } }
}

export async function run(c: RegistryClient, task: TaskSpec, timeoutMs = 20_000): Promise<TaskResult> {
  return c.run(task, AbortSignal.timeout(timeoutMs))
}

/** The RegistryError a task fails with (fails the test if it succeeds). */
export async function failure(c: RegistryClient, task: TaskSpec, timeoutMs = 20_000): Promise<RegistryError> {
  try {
    const r = await c.run(task, AbortSignal.timeout(timeoutMs))
    throw new Error(`expected a failure, got ${JSON.stringify(r).slice(0, 300)}`)
  } catch (err) {
    if (err instanceof RegistryError) return err
    throw err
  }
}

export function range(n: number, prefix = 'v'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`)
}
