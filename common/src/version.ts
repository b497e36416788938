import pkg from '../../package.json' with { type: 'json' }

/** The package version: in the delegate's hello, the manager's log, /metrics and the OpenAPI document. */
export const VERSION: string = pkg.version
