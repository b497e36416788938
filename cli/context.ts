/** What every subcommand gets: the API client built from the global options, and the output mode. */
import type { Command } from 'commander'
import { Client } from './http.ts'
import { usage } from './errors.ts'
import { printable, printableJson } from './printable.ts'

export interface GlobalOptions {
  server: string
  apiKey?: string
  json?: boolean
}

export interface Ctx {
  client: Client
  json: boolean
  /** a result line (stdout) */
  out(text: string): void
  /** the raw API answer, for scripts (stdout) */
  outJson(value: unknown): void
  /** notes for the human beside the result (stderr), so that stdout stays parseable */
  note(text: string): void
}

export function context(cmd: Command): Ctx {
  const o = cmd.optsWithGlobals<GlobalOptions>()
  if (!o.apiKey) {
    throw usage('NO_API_KEY', 'no API key given', 'Pass --api-key KEY or set DELEGATECTL_API_KEY (the manager\'s MANAGER_API_KEY).')
  }
  return {
    client: new Client(o.server, o.apiKey),
    json: o.json === true,
    out: (text) => void process.stdout.write(`${printable(text)}\n`),
    outJson: (value) => void process.stdout.write(`${printableJson(value)}\n`),
    note: (text) => void process.stderr.write(`${printable(text)}\n`),
  }
}

/** Wraps an action so that it receives the context first, then commander's arguments. */
export function withCtx<A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args.at(-1) as Command
    await fn(context(cmd), ...(args as A))
  }
}
