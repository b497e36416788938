/**
 * REDIS_URL → ioredis options, for the manager's own client and BullMQ's connections alike.
 *
 *   redis://[user:password@]host:port[/db]       one server (rediss:// for TLS)
 *   redis+sentinel://[user:password@]host:port[,host:port…]/masterName[/db]
 *                                                Redis Sentinel: the clients ask the sentinels
 *                                                for the current master and follow fail-overs
 */
import { Redis, type RedisOptions } from 'ioredis'

/** ioredis options, or a `url` beside them: the shape BullMQ's `connection` takes. */
export type RedisConnection = RedisOptions & { url?: string }

export function redisConnection(url: string): RedisConnection {
  const base: RedisOptions = { maxRetriesPerRequest: null }
  if (!url.startsWith('redis+sentinel://')) return { ...base, url }
  const rest = url.slice('redis+sentinel://'.length)
  const at = rest.lastIndexOf('@', rest.indexOf('/') === -1 ? rest.length : rest.indexOf('/'))
  const auth = at === -1 ? '' : rest.slice(0, at)
  const [hosts = '', name = '', db] = rest.slice(at + 1).split('/')
  if (!name) throw new Error('REDIS_URL: a sentinel URL names its master: redis+sentinel://host:26379,host2:26379/mymaster')
  const sentinels = hosts.split(',').map((hp) => {
    const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(hp.trim())
    if (!m) throw new Error(`REDIS_URL: ${JSON.stringify(hp)} is not host:port`)
    return { host: m[1]!, port: Number(m[2] ?? 26379) }
  })
  const options: RedisOptions = { ...base, sentinels, name }
  if (auth) {
    const colon = auth.indexOf(':')
    const username = decodeURIComponent(colon === -1 ? '' : auth.slice(0, colon))
    const password = decodeURIComponent(colon === -1 ? auth : auth.slice(colon + 1))
    if (username) options.username = username
    if (password) options.password = password
  }
  if (db !== undefined && db !== '') options.db = Number(db)
  return options
}

/** A client for `connection`, with `extra` options on top. */
export function createRedis(connection: RedisConnection, extra: RedisOptions = {}): Redis {
  const { url, ...options } = connection
  return url === undefined ? new Redis({ ...options, ...extra }) : new Redis(url, { ...options, ...extra })
}
