/**
 * The web console (SPEC §3: "the web console at `/`"): the static files of `manager/console/`,
 * read once at start-up. Only files found there are served, so no request path reaches the file
 * system. The files hold no secret; the API key stays in the browser and guards `/api/v1`.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { NotFoundError } from '../errors.ts'

/**
 * manager/console/ seen from this file in the sources, or console/ beside the built
 * dist/manager.mjs, which is this module after bundling (scripts/build.ts copies it there).
 */
const DIR = [new URL('./console/', import.meta.url), new URL('../../console/', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((dir) => existsSync(join(dir, 'index.html')))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

// Everything comes from this origin; no inline script or style, so an injected string cannot run.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

interface Asset {
  body: Buffer
  type: string
  etag: string
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const type = TYPES[extname(entry.name)]
    if (!entry.isFile() || type === undefined) continue
    const file = join(entry.parentPath, entry.name)
    const body = readFileSync(file)
    const path = file.slice(dir.length).split('\\').join('/')
    assets.set(path, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
  }
  return assets
}

const consoleRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const dir = opts.dir ?? DIR
  if (dir === undefined) throw new Error('the console files are missing: the manager expects console/ beside manager.mjs (npm run build copies it)')
  const assets = loadAssets(dir)

  function send(path: string, ifNoneMatch: string | undefined, reply: FastifyReply) {
    const asset = assets.get(path)
    if (!asset) return undefined
    void reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      // revalidate every time: a new manager version must never run old console code
      .header('cache-control', 'no-cache')
      .header('etag', asset.etag)
    if (ifNoneMatch === asset.etag) return reply.status(304).send()
    return reply.type(asset.type).send(asset.body)
  }

  app.get('/', { schema: { hide: true } }, async (req, reply) => send('index.html', req.headers['if-none-match'], reply))
  app.get<{ Params: { '*': string } }>('/console/*', { schema: { hide: true } }, async (req, reply) => {
    const sent = send(req.params['*'], req.headers['if-none-match'], reply)
    if (sent === undefined) throw new NotFoundError('console file', req.params['*'], `no console file ${JSON.stringify(req.params['*'])}`)
    return sent
  })
}

export default consoleRoutes
