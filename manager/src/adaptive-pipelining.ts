/**
 * ioredis auto-pipelining, on only while this replica is busy. With it, the commands issued
 * while one batch of socket events is handled leave in one write; on this kind of machine a
 * write to Redis costs more CPU than the command itself (writes were over a third of the manager's busy
 * CPU under load). Counted with `strace -c` on a manager under 64 concurrent REST clients: 8.1
 * writes per task with it, 10.0 without. But it defers every command to the end of the loop's
 * turn, which a lone request pays in latency for nothing (with one client, commands never meet:
 * 14 writes per task either way). So the event loop's utilisation decides, sampled every
 * 100 ms: above `busy` the client pipelines, below it every command leaves at once.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import type { Redis } from 'ioredis'

export function adaptivePipelining(redis: Redis, { everyMs = 100, busy = 0.5 } = {}): () => void {
  let last: EventLoopUtilization = performance.eventLoopUtilization()
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization()
    const { utilization } = performance.eventLoopUtilization(now, last)
    last = now
    redis.options.enableAutoPipelining = utilization > busy
  }, everyMs).unref()
  return () => clearInterval(timer)
}
