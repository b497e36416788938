/**
 * `npm run build`: each process as one plain JavaScript file, bundled by esbuild with its
 * dependencies, so that it runs with `node` alone (no node_modules, no type stripping):
 *
 *   dist/registry-delegate.mjs   the delegate; a user copies this one file to a host with Node 24
 *   dist/manager.mjs             the manager, beside dist/console/ (the web console it serves)
 *   dist/compose-bootstrap.mjs   docker-compose's one-shot bootstrap (deploy/compose/bootstrap.ts)
 *
 * Each bundle has a linked source map beside it (`node --enable-source-maps` reads it).
 * Two things make the delegate small at idle (README, Performance):
 *  - Node's built-in modules are reached through `process.getBuiltinModule()`, never through an
 *    ESM `import`: Node builds an ESM facade for an imported built-in by reading every export,
 *    and the getters it runs load whole subsystems (`node:http` loads Node's own undici for its
 *    WebSocket export, `node:tls` copies the bundled root certificates).
 *  - A few built-ins an idle delegate never touches (TLS for a `wss://` manager or an https
 *    registry, zlib, fs/promises, assert) are loaded on first use of one of their exports.
 * The registry client and undici stay in the bundle but are evaluated on the first task
 * (delegate/src/lazy-runner.ts), and of undici only what the client uses
 * (scripts/undici-for-delegate.js): the first task loads half as much code.
 */
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build as esbuild, type BuildOptions, type Metafile, type Plugin } from 'esbuild'

export const root = fileURLToPath(new URL('..', import.meta.url))
export const dist = join(root, 'dist')

/** What each bundle is built from. */
export const BUNDLES = {
  delegate: { entry: 'delegate/src/main.ts', out: 'registry-delegate.mjs' },
  manager: { entry: 'manager/src/main.ts', out: 'manager.mjs' },
  bootstrap: { entry: 'deploy/compose/bootstrap.ts', out: 'compose-bootstrap.mjs' },
} as const

/** Built-ins the delegate defers to their first use (see the header). */
const DELEGATE_DEFERRED = ['https', 'tls', 'zlib', 'fs/promises', 'assert']

const BUILTINS = new Set(builtinModules.flatMap((m) => (m.startsWith('node:') ? [m] : [m, `node:${m}`])))

/**
 * Every built-in module, `import`ed or `require`d, becomes a small CommonJS module of the bundle
 * that returns `process.getBuiltinModule(id)`; the deferred ones return an object (or, for a
 * callable module such as assert, a function) whose exports load the module when first read.
 * Their export names are those of the Node building the bundle (the same major as the runtime).
 */
function builtinsWithoutFacades(deferred: readonly string[]): Plugin {
  const lazy = new Set(deferred.map((m) => `node:${m}`))
  return {
    name: 'builtins-without-facades',
    setup(b) {
      b.onResolve({ filter: /^[a-z0-9_:/]+$/ }, (args) => {
        if (!BUILTINS.has(args.path)) return undefined
        const id = args.path.startsWith('node:') ? args.path : `node:${args.path}`
        return { path: id, namespace: 'builtin' }
      })
      b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => {
        const id = JSON.stringify(args.path)
        if (!lazy.has(args.path)) return { contents: `module.exports = process.getBuiltinModule(${id})`, loader: 'js' }
        const real = process.getBuiltinModule(args.path) as object
        const names = Object.keys(real).filter((k) => k !== 'default')
        const head =
          typeof real === 'function'
            ? `const load = () => process.getBuiltinModule(${id})\nmodule.exports = function (...args) { return new.target ? Reflect.construct(load(), args) : load().apply(this, args) }\n`
            : `const load = () => process.getBuiltinModule(${id})\n`
        const getters = names.map((k) => `Object.defineProperty(module.exports, ${JSON.stringify(k)}, { enumerable: true, get: () => load()[${JSON.stringify(k)}] })`)
        return { contents: `${head}${getters.join('\n')}\n`, loader: 'js' }
      })
    },
  }
}

// for CommonJS dependencies that require() something that is not a built-in
const BANNER = `const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);`

function options(entry: string, out: string, extra: Partial<BuildOptions> = {}, deferred: readonly string[] = []): BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: join(dist, out),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22.18',
    charset: 'ascii',
    // licences go to dist/THIRD-PARTY-LICENSES.txt: one non-ASCII name in a comment would make
    // V8 hold the whole source as two-byte text, twice the memory
    legalComments: 'none',
    sourcemap: 'linked',
    metafile: true,
    // optional native add-ons (ws, msgpackr under BullMQ): both fall back to JavaScript without them
    external: ['bufferutil', 'utf-8-validate', 'msgpackr-extract'],
    banner: { js: BANNER },
    logLevel: 'warning',
    ...extra,
    plugins: [builtinsWithoutFacades(deferred), ...(extra.plugins ?? [])],
  }
}

/** The delegate's own 'undici' imports resolve to scripts/undici-for-delegate.js. */
const undiciForDelegate: Plugin = {
  name: 'undici-for-delegate',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, (args) => (args.importer.includes('/node_modules/') ? undefined : { path: join(root, 'scripts/undici-for-delegate.js') }))
  },
}

/**
 * The tracing SDK goes into the delegate as text, compiled only when tracing is turned on:
 * common/src/load-tracing-sdk.ts becomes a module holding common/src/tracing-sdk.ts bundled on its
 * own (CommonJS, with its own copy of the OpenTelemetry API, which shares the global
 * registrations). Bundled as code, its functions would be created at start and an idle delegate
 * would hold ~1 MB more; as a string it holds its ~0.1 MB of text. `new Function` rather than a
 * data: URL import, which the single executable cannot do.
 */
/** The nested builds' metafiles, for THIRD-PARTY-LICENSES.txt (the SDK's packages are in the delegate as text). */
const nested: Metafile[] = []

const tracingSdkAsText: Plugin = {
  name: 'tracing-sdk-as-text',
  setup(b) {
    b.onLoad({ filter: /[\\/]common[\\/]src[\\/]load-tracing-sdk\.ts$/ }, async () => {
      // written nowhere: its text goes into the module below
      const sdk = await esbuild(
        options('common/src/tracing-sdk.ts', 'tracing-sdk.cjs', { format: 'cjs', write: false, sourcemap: false, banner: {}, minifyWhitespace: true, minifySyntax: true, keepNames: true }, DELEGATE_DEFERRED),
      )
      nested.push(sdk.metafile!)
      const text = sdk.outputFiles![0]!.text
      return {
        loader: 'js',
        contents: `const SOURCE = ${JSON.stringify(`${text}\n//# sourceURL=registry-delegate-tracing-sdk.cjs`)}
export async function loadTracingSdk() {
  const module = { exports: {} }
  new Function('module', 'exports', SOURCE)(module, module.exports)
  return module.exports
}
`,
      }
    })
  },
}

export type BundleName = keyof typeof BUNDLES

/** How each bundle is built; the delegate's is the one users copy around, so it is the lean one. */
function bundleOptions(name: BundleName): BuildOptions {
  const { entry, out } = BUNDLES[name]
  if (name !== 'delegate') return options(entry, out)
  return options(
    entry,
    out,
    {
      // minified but for names (stack traces stay readable): less source text held in memory
      minifyWhitespace: true,
      minifySyntax: true,
      keepNames: true,
      // `chmod +x registry-delegate.mjs && ./registry-delegate.mjs` works too
      banner: { js: `#!/usr/bin/env node\n${BANNER}` },
      plugins: [undiciForDelegate, tracingSdkAsText],
    },
    DELEGATE_DEFERRED,
  )
}

/**
 * Builds the named bundles (all by default) into dist/, emptied first, with the manager's
 * console/ when the manager is built and THIRD-PARTY-LICENSES.txt for what they hold.
 */
export async function build(names: readonly BundleName[] = Object.keys(BUNDLES) as BundleName[]): Promise<Partial<Record<BundleName, Metafile>>> {
  await rm(dist, { recursive: true, force: true })
  await mkdir(dist, { recursive: true })
  nested.length = 0
  const [results] = await Promise.all([
    Promise.all(names.map(async (name) => [name, (await esbuild(bundleOptions(name))).metafile!] as const)),
    names.includes('manager') ? cp(join(root, 'manager/console'), join(dist, 'console'), { recursive: true }) : undefined,
  ])
  await writeFile(join(dist, 'THIRD-PARTY-LICENSES.txt'), await licenses([...results.map(([, m]) => m), ...nested]))
  return Object.fromEntries(results)
}

/**
 * The delegate as CommonJS, for a single executable (scripts/release.ts): Node 24 runs only a
 * CommonJS main script there, whose `require` reaches built-ins only, which is all it needs.
 */
export async function buildDelegateCommonJs(outfile: string): Promise<void> {
  const { banner: _, ...rest } = bundleOptions('delegate')
  await esbuild({ ...rest, format: 'cjs', outfile, sourcemap: false, metafile: false })
}

/** The licence text of every package inside a bundle, from its LICENSE file (or package.json). */
async function licenses(metafiles: Metafile[]): Promise<string> {
  const dirs = new Set<string>()
  for (const m of metafiles) {
    for (const input of Object.keys(m.inputs)) {
      const at = input.lastIndexOf('node_modules/')
      if (at === -1) continue
      const rest = input.slice(at + 'node_modules/'.length).split('/')
      dirs.add(input.slice(0, at) + 'node_modules/' + rest.slice(0, rest[0]!.startsWith('@') ? 2 : 1).join('/'))
    }
  }
  const parts: string[] = []
  for (const dir of [...dirs].sort()) {
    const pkg = JSON.parse(await readFile(join(root, dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string }
    const file = (await readdir(join(root, dir))).find((f) => /^licen[cs]e/i.test(f))
    const text = file ? await readFile(join(root, dir, file), 'utf8') : `License: ${pkg.license ?? 'see the package'}`
    parts.push(`${pkg.name} ${pkg.version}\n${'-'.repeat(40)}\n${text.trim()}\n`)
  }
  return parts.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2) as BundleName[]
  const unknown = names.filter((n) => !(n in BUNDLES))
  if (unknown.length > 0) throw new Error(`unknown bundle ${unknown.join(', ')}: name some of ${Object.keys(BUNDLES).join(', ')}`)
  const started = performance.now()
  const built = await build(names.length > 0 ? names : undefined)
  const files = Object.keys(built).map((n) => `dist/${BUNDLES[n as BundleName].out}`)
  process.stdout.write(`built ${files.join(', ')} in ${Math.round(performance.now() - started)} ms\n`)
}
