/**
 * The peer of bench/dispatch.ts: a plain BullMQ worker in its own process that completes each job
 * at once.   node bench/raw-worker.ts REDIS_URL PREFIX
 */
import { Worker } from 'bullmq'

const [redisUrl, prefix] = process.argv.slice(2)
if (!redisUrl || !prefix) throw new Error('usage: raw-worker.ts REDIS_URL PREFIX')
const worker = new Worker('raw', async (job) => ({ tags: ['1'], id: job.id }), {
  connection: { url: redisUrl, maxRetriesPerRequest: null },
  prefix,
  concurrency: 256,
})
await worker.waitUntilReady()
process.stdout.write('ready\n')
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)))
