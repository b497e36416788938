/**
 * A Redis of a test's own, Debian's `redis-server` on a loopback port, for tests that stop and
 * start Redis under a running manager (the shared container must stay up for the others).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { freePort } from './containers.ts'

export interface OwnRedis {
  url: string
  port: number
  /** SIGTERM and wait for the exit: the port is closed when this resolves. */
  stop(): Promise<void>
  /** Starts it again on the same port (empty: no persistence). */
  start(): Promise<void>
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort()
  let child: ChildProcess | null = null
  const start = async () => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    let out = ''
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        out += chunk.toString()
        if (/Ready to accept connections/.test(out)) resolve()
      }
      c.stdout.on('data', onData)
      c.stderr.on('data', onData)
      c.once('exit', (code) => reject(new Error(`redis-server on ${port} exited with ${code} before it was ready:\n${out}`)))
      c.once('error', reject)
    })
  }
  const stop = async () => {
    const c = child
    child = null
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const exited = once(c, 'exit')
    c.kill('SIGTERM')
    await exited
  }
  await start()
  return { url: `redis://127.0.0.1:${port}`, port, stop, start }
}
