/**
 * Integration tests share one Redis and one anonymous registry (CNCF distribution), started once.
 * Tests isolate themselves with a fresh key prefix / repository name each.
 */
import type { TestProject } from 'vitest/node'
import { startRedis, startRegistry } from './containers.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
    registryHostPort: string
  }
}

export default async function setup(project: TestProject) {
  const [redis, registry] = await Promise.all([startRedis(), startRegistry()])
  project.provide('redisUrl', redis.url)
  project.provide('registryHostPort', registry.hostPort)
  return async () => {
    await Promise.all([redis.container.stop(), registry.container.stop()])
  }
}
