/** The delegatectl command tree, and one run of it that answers the exit code. */
import { Command, CommanderError, Option } from 'commander'
import pkg from '../package.json' with { type: 'json' }
import { browseCommands } from './commands/browse.ts'
import { connectorsCommand } from './commands/connectors.ts'
import { delegatesCommand } from './commands/delegates.ts'
import { secretsCommand } from './commands/secrets.ts'
import { tasksCommand } from './commands/tasks.ts'
import { tokensCommand } from './commands/tokens.ts'
import { CliError, describe, EXIT } from './errors.ts'
import { printable } from './printable.ts'

const EPILOG = `
Environment:
  DELEGATECTL_SERVER    the manager, e.g. http://127.0.0.1:8080 (--server)
  DELEGATECTL_API_KEY   the manager's MANAGER_API_KEY (--api-key)

Exit codes:
  0  ok
  1  the task failed or expired (or the manager failed)
  2  usage: bad arguments, unknown id or name, input or API key refused
  3  unreachable: no manager answers at the server address

Examples:
  delegatectl connectors create --name hub --url https://index.docker.io/v2/
  delegatectl connectors validate hub
  delegatectl tags hub library/nginx --json | jq -r '.tags[]'
  delegatectl tasks ls --status failed`

export function buildProgram(): Command {
  const program = new Command('delegatectl')
    .description('Manage registry connectors, delegates and tasks of a registry-delegates manager.')
    .version(pkg.version, '-V, --version')
    .addOption(new Option('--server <url>', 'manager URL').env('DELEGATECTL_SERVER').default('http://127.0.0.1:8080'))
    .addOption(new Option('--api-key <key>', 'manager API key').env('DELEGATECTL_API_KEY'))
    .option('--json', 'print the API\'s JSON instead of tables')
    .addHelpText('after', EPILOG)
    .addCommand(connectorsCommand())
    .addCommand(browseCommands.images())
    .addCommand(browseCommands.tags())
    .addCommand(tasksCommand())
    .addCommand(delegatesCommand())
    .addCommand(tokensCommand())
    .addCommand(secretsCommand())
  configure(program)
  return program
}

/** addCommand() does not pass settings down, so every command gets them here. */
function configure(cmd: Command): void {
  cmd.exitOverride()
  cmd.showHelpAfterError('(add --help for usage)')
  cmd.helpCommand(false)
  for (const sub of cmd.commands) configure(sub)
}

export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv)
    return EXIT.ok
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed the help or the message already
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage
    }
    if (err instanceof CliError) {
      process.stderr.write(`${printable(describe(err))}\n`)
      return err.exitCode
    }
    process.stderr.write(`error: INTERNAL: ${printable((err as Error).stack ?? String(err))}\n`)
    return EXIT.failed
  }
}
