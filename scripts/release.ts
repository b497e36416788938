/**
 * `npm run release`: what a release build attaches, in dist/:
 *
 *   registry-delegate.mjs       the delegate, one file: `node registry-delegate.mjs` on any host
 *                               with Node 24 (no node_modules, no npm)
 *   registry-delegate.mjs.map   its source map, for `node --enable-source-maps` when debugging
 *   THIRD-PARTY-LICENSES.txt    the licences of the packages bundled into it
 *   SHA256SUMS                  `sha256sum -c SHA256SUMS` checks the files above
 *
 * `npm run release -- --sea` adds registry-delegate-linux-x64 (or the host's platform and
 * architecture): a single executable, this Node binary with the delegate injected (Node SEA, with
 * postject), for hosts without Node. It costs the size of Node (~128 MB) and more memory than
 * the file under `node` (README, Performance). The manager is not released as a file: it ships
 * as its image.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmod, copyFile, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build, buildDelegateCommonJs, BUNDLES, dist, root } from './build.ts'

const run = promisify(execFile)
/** the fuse Node looks for to know that a blob was injected (Node's SEA documentation) */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

export const SEA_NAME = `registry-delegate-${process.platform}-${process.arch}`

/** Builds a single executable of the delegate at dist/SEA_NAME; returns its path. */
export async function buildSingleExecutable(): Promise<string> {
  const main = join(dist, 'sea-main.cjs')
  const blob = join(dist, 'sea-prep.blob')
  const config = join(dist, 'sea-config.json')
  const exe = join(dist, SEA_NAME)
  await buildDelegateCommonJs(main)
  await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true }))
  await run(process.execPath, ['--experimental-sea-config', config], { cwd: dist })
  await copyFile(process.execPath, exe)
  await chmod(exe, 0o755)
  await run(process.execPath, [join(root, 'node_modules/postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { cwd: dist })
  await Promise.all([main, blob, config].map((f) => rm(f)))
  return exe
}

/** Builds dist/ and writes SHA256SUMS over the release files; returns their names. */
export async function release(opts: { sea?: boolean } = {}): Promise<string[]> {
  await build(['delegate'])
  const files = [BUNDLES.delegate.out, `${BUNDLES.delegate.out}.map`, 'THIRD-PARTY-LICENSES.txt']
  if (opts.sea) files.push((await buildSingleExecutable()).slice(dist.length + 1))
  const sums = await Promise.all(files.map(async (f) => `${createHash('sha256').update(await readFile(join(dist, f))).digest('hex')}  ${f}\n`))
  await writeFile(join(dist, 'SHA256SUMS'), sums.join(''))
  return [...files, 'SHA256SUMS']
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await release({ sea: process.argv.includes('--sea') })
  process.stdout.write(`release files in dist/: ${files.join(', ')}\n`)
}
