/**
 * delegatectl: the manager's REST API (SPEC §3) from a terminal. Human tables by default,
 * --json for scripts; exit codes in errors.ts.
 */
import { run } from './program.ts'

process.exitCode = await run(process.argv)
