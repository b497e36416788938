import { setTimeout as sleep } from 'node:timers/promises'

/**
 * `work`'s answer if it comes within `ms`, else the error `late()` makes. For probes that must
 * answer whatever Redis does: ioredis queues commands while it reconnects, and a paused Redis
 * never answers at all. `work` keeps running; its late answer or failure is dropped.
 */
export async function within<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  const stop = new AbortController()
  const timer = sleep(ms, undefined, { signal: stop.signal }).then(
    () => Promise.reject(late()),
    () => new Promise<never>(() => {}), // aborted: the work won the race
  )
  try {
    return await Promise.race([work, timer])
  } finally {
    stop.abort()
  }
}
