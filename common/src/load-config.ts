/** Shared by the manager's and the delegate's config.ts: one way to read and check settings. */
import type convict from 'convict'

type Described = Record<string, { env?: string }>

/**
 * Loads `--config file.json` when given (over the environment), validates strictly and returns
 * the settings. A wrong setting throws an Error with one line per setting, naming its
 * environment variable and never its value.
 */
export function loadValidated<T>(config: convict.Config<T>, schema: Described, argv: readonly string[]): T {
  const at = argv.indexOf('--config')
  if (at !== -1) {
    const file = argv[at + 1]
    if (!file) throw new Error('--config needs a file path')
    config.loadFile(file)
  }
  try {
    config.validate({ allowed: 'strict' })
  } catch (e) {
    throw new Error(explain((e as Error).message, schema), { cause: e })
  }
  return config.getProperties()
}

/** Rewrites convict's "key: message: value" lines to name the environment variable, never the value. */
export function explain(message: string, s: Described): string {
  return message
    .split('\n')
    .map((line) => {
      const key = line.split(':')[0]?.trim() ?? ''
      const entry = s[key]
      if (!entry) return line
      const reason = line.slice(key.length + 1).split(': value was')[0]?.trim()
      return `${entry.env ?? key} ${reason}`
    })
    .join('\n')
}

/** A convict format's check for an optional http(s) URL ('' is allowed: the feature is off). */
export function checkOptionalHttpUrl(value: unknown, example: string): void {
  if (value === '') return
  let url: URL | undefined
  try {
    url = new URL(String(value))
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new Error(`must be an http:// or https:// URL (e.g. ${example})`)
}
