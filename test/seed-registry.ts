/**
 * Fills a registry repository with many tags, cheaply: one tiny config blob, one tiny layer and
 * one image manifest, PUT under every tag with bounded concurrency. Used by the end-to-end tests,
 * the demo and the benchmark.
 *
 * Auth: anonymous, Basic (`username`/`password`), or Bearer. A given `token` is sent as is;
 * otherwise a Bearer challenge is answered from its realm with the Basic credentials (if any)
 * and scope `repository:REPO:pull,push`, as `docker push` does.
 */
import { createHash } from 'node:crypto'
import { Agent, request, type Dispatcher } from 'undici'

export interface SeedOptions {
  username?: string | undefined
  password?: string | undefined
  /** A Bearer token to send as is (skips the token flow). */
  token?: string | undefined
  /** Parallel manifest PUTs; default 32. */
  concurrency?: number | undefined
  /** Extra CA for https registries (PEM). */
  ca?: string | Buffer | undefined
}

const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json'

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

interface Seeder {
  base: URL
  dispatcher: Dispatcher
  auth: string | undefined
  opts: SeedOptions
  repo: string
}

async function send(
  s: Seeder,
  method: Dispatcher.HttpMethod,
  url: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Promise<Dispatcher.ResponseData> {
  for (let attempt = 0; ; attempt++) {
    const h: Record<string, string> = { ...headers }
    if (s.auth) h.authorization = s.auth
    const res = await request(new URL(url, s.base), {
      method,
      headers: h,
      ...(body === undefined ? {} : { body }),
      dispatcher: s.dispatcher,
    })
    if (res.statusCode === 401 && attempt === 0) {
      const challenge = res.headers['www-authenticate']
      await res.body.dump()
      s.auth = await authorize(s, Array.isArray(challenge) ? challenge.join(', ') : (challenge ?? ''))
      continue
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text()
      throw new Error(`seed: ${method} ${new URL(url, s.base).pathname} answered ${res.statusCode}: ${text.slice(0, 300)}`)
    }
    return res
  }
}

async function authorize(s: Seeder, challenge: string): Promise<string> {
  const { username, password, token } = s.opts
  const basic = username !== undefined ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` : undefined
  if (token) return `Bearer ${token}`
  if (/^\s*basic/i.test(challenge)) {
    if (!basic) throw new Error('seed: the registry wants Basic credentials; pass username and password')
    return basic
  }
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]))
  if (!/^\s*bearer/i.test(challenge) || !params.realm) throw new Error(`seed: unexpected challenge: ${challenge}`)
  const realm = new URL(params.realm, s.base)
  if (params.service) realm.searchParams.set('service', params.service)
  realm.searchParams.append('scope', `repository:${s.repo}:pull,push`)
  const res = await request(realm, { headers: basic ? { authorization: basic } : {}, dispatcher: s.dispatcher })
  if (res.statusCode !== 200) {
    await res.body.dump()
    throw new Error(`seed: the token server answered ${res.statusCode}`)
  }
  const json = (await res.body.json()) as { token?: string; access_token?: string }
  const t = json.token ?? json.access_token
  if (!t) throw new Error('seed: the token server answered no token')
  return `Bearer ${t}`
}

async function pushBlob(s: Seeder, data: Buffer): Promise<string> {
  const digest = sha256(data)
  const head = await request(new URL(`/v2/${s.repo}/blobs/${digest}`, s.base), {
    method: 'HEAD',
    headers: s.auth ? { authorization: s.auth } : {},
    dispatcher: s.dispatcher,
  })
  await head.body.dump()
  if (head.statusCode === 200) return digest
  const start = await send(s, 'POST', `/v2/${s.repo}/blobs/uploads/`)
  await start.body.dump()
  const location = start.headers.location
  if (typeof location !== 'string') throw new Error('seed: the upload answered no Location')
  const put = new URL(location, s.base)
  put.searchParams.set('digest', digest)
  const done = await send(s, 'PUT', put.href, data, {
    'content-type': 'application/octet-stream',
    'content-length': String(data.length),
  })
  await done.body.dump()
  return digest
}

/** Pushes one small image to `repo` under every one of `tags`. `baseUrl`: e.g. `http://127.0.0.1:5000`. */
export async function seedRepository(baseUrl: string, repo: string, tags: string[], opts: SeedOptions = {}): Promise<void> {
  const dispatcher = new Agent({ connections: 64, ...(opts.ca ? { connect: { ca: opts.ca } } : {}) })
  const s: Seeder = { base: new URL(baseUrl), dispatcher, auth: opts.token ? `Bearer ${opts.token}` : undefined, opts, repo }
  try {
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } }),
    )
    const configDigest = await pushBlob(s, config)
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest },
      layers: [],
    })
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < tags.length) {
        const tag = tags[next++]!
        const res = await send(s, 'PUT', `/v2/${repo}/manifests/${encodeURIComponent(tag)}`, manifest, {
          'content-type': MANIFEST_TYPE,
        })
        await res.body.dump()
      }
    }
    // The first PUT alone settles auth; the rest run in parallel.
    if (tags.length > 0) {
      next = 1
      const res = await send(s, 'PUT', `/v2/${repo}/manifests/${encodeURIComponent(tags[0]!)}`, manifest, {
        'content-type': MANIFEST_TYPE,
      })
      await res.body.dump()
    }
    const n = Math.max(1, Math.min(opts.concurrency ?? 32, tags.length))
    await Promise.all(Array.from({ length: n }, worker))
  } finally {
    await dispatcher.close()
  }
}
