/**
 * Waiting in tests: on a condition, with a bound, never a fixed sleep. The condition is polled
 * until it returns something other than `false`, `undefined` or `null`, which is returned;
 * past the bound it throws naming what was awaited and what the condition last saw.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'

export interface WaitOptions {
  /** how long to wait at most */
  timeoutMs: number
  /** what is awaited, for the error: "the delegate to reconnect" */
  what: string
  /** pause between polls (default 20 ms) */
  intervalMs?: number
  /** what the condition last saw, for the error message (default: its last return value) */
  describe?: () => unknown
}

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError'
}

export async function waitFor<T>(condition: () => T | false | null | undefined | Promise<T | false | null | undefined>, opts: WaitOptions): Promise<T> {
  const until = Date.now() + opts.timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await condition()
      if (value !== false && value !== undefined && value !== null) return value
      last = value
    } catch (err) {
      // a condition that throws (a server not up yet) is polled again; the last error is reported
      last = err
    }
    if (Date.now() >= until) {
      const seen = opts.describe ? opts.describe() : last
      throw new WaitTimeoutError(`waited ${opts.timeoutMs} ms for ${opts.what}; last saw ${inspect(seen, { depth: 3, breakLength: Infinity })}`)
    }
    await sleep(Math.min(opts.intervalMs ?? 20, Math.max(1, until - Date.now())))
  }
}
