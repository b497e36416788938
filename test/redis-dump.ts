/** Everything Redis holds under a key prefix, as one string to search (for "no plaintext at rest" tests). */
import type { Redis } from 'ioredis'

export async function dumpRedis(redis: Redis, prefix: string): Promise<{ keys: string[]; text: string }> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  const parts: string[] = []
  for (const key of keys) {
    const type = await redis.type(key)
    let value: unknown
    if (type === 'string') value = await redis.get(key)
    else if (type === 'hash') value = await redis.hgetall(key)
    else if (type === 'list') value = await redis.lrange(key, 0, -1)
    else if (type === 'set') value = await redis.smembers(key)
    else if (type === 'zset') value = await redis.zrange(key, 0, -1, 'WITHSCORES')
    else if (type === 'stream') value = await redis.xrange(key, '-', '+')
    else value = `<${type}>`
    parts.push(`${key} ${JSON.stringify(value)}`)
  }
  return { keys, text: parts.join('\n') }
}
