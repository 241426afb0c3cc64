import { readFileSync } from 'node:fs';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { usageError } from '../errors.js';
import { reportError } from './run-command.js';
import { diffCommand } from './commands/diff.js';
import { exportCommand } from './commands/export.js';
import { importCommand } from './commands/import.js';
import { listCommand } from './commands/list.js';
import { pushCommand } from './commands/push.js';
import { gcCommand } from './commands/gc.js';
import { rmCommand } from './commands/rm.js';
import { syncCommand } from './commands/sync.js';
import { ENV_PREFIX, flagSchema, ignoreForeignEnvOptions, positionalNames, prepareEnv, rejectRepeatedFlags } from './options.js';

const HOMELAB_EXAMPLE = 'ollama-push qwen3:4b --host homelab-1 --remote-path /var/mnt/local-hostpath/pvc-6f1c2a9e';

const EPILOGUE = [
  'Homelab example: an ollama-operator store (PVC) on node homelab-1, reached over SSH',
  '  ollama-push diff qwen3:4b --host homelab-1 --remote-path /var/mnt/local-hostpath/pvc-6f1c2a9e',
  `  ${HOMELAB_EXAMPLE}`,
  '  curl http://homelab-1:11434/api/tags',
  '',
  'Try it on the bundled fixtures:',
  '  ollama-push tiny --models-dir fixtures/models --remote-path /tmp/pvc --mkdir',
  '',
  'Every flag can also be set from the environment: --remote-path as OLLAMA_PUSH_REMOTE_PATH,',
  '--mkdir as OLLAMA_PUSH_MKDIR=1; a flag on the command line wins.',
  'Exit codes: 0 ok, 1 failed, 2 usage error, 130 interrupted; diff --exit-code: 1 if out of date.',
].join('\n');

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Every command: registered with yargs, and read for the flags OLLAMA_PUSH_* variables may set. */
const COMMANDS = [pushCommand, diffCommand, listCommand, exportCommand, importCommand, rmCommand, gcCommand, syncCommand];

export async function main(argv: string[]): Promise<void> {
  try {
    let schema: ReturnType<typeof envSchema> | undefined;
    prepareEnv(process.env, () => (schema ??= envSchema()));
    await parser(argv)
      .middleware(ignoreForeignEnvOptions(argv) as never, true)
      .middleware(rejectRepeatedFlags(positionalNames(COMMANDS.flatMap((c) => c.command ?? []))) as never, true)
      .parseAsync();
  } catch (error) {
    process.exitCode = reportError(error, argv.includes('--verbose'));
  }
}

function parser(argv: string[]) {
  return yargs(argv)
    .scriptName('ollama-push')
    .usage('$0 <models..> --remote-path DIR [--host HOST]\n\nCopy Ollama models to the machine that serves them: only the blobs it lacks, in parallel, verified, manifest last.')
    .env(`${ENV_PREFIX}_`)
    .command(COMMANDS as unknown as CommandModule[])
    .completion('completion', 'Print a shell completion script (bash/zsh)')
    .option('verbose', { type: 'boolean', default: false, describe: 'Show stack traces and remote commands' })
    .epilogue(EPILOGUE)
    .strict()
    .demandCommand(1, 'name at least one model, e.g. ollama-push qwen3:4b --remote-path DIR')
    .version(packageVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message, error) => {
      throw error ?? usageError(`${usageHint(message)} (run ollama-push --help for usage)`);
    });
}

/** yargs' messages, said the way a user of this tool needs them. */
function usageHint(message: string): string {
  if (/^Not enough non-option arguments/.test(message)) return 'name at least one model, e.g. ollama-push qwen3:4b --remote-path DIR';
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown) {
    // yargs lists a misspelled --some-flag twice, as some-flag and someFlag.
    const names = unknown[1]!.split(', ');
    const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const distinct = names.filter((name) => name === kebab(name) || !names.includes(kebab(name)));
    return `unknown argument${distinct.length > 1 ? 's' : ''}: ${distinct.join(', ')}`;
  }
  return message;
}

/** The flags of every command (and the global ones), for reading them from OLLAMA_PUSH_* variables. */
function envSchema() {
  const builders = COMMANDS.map((command) => command.builder as unknown as (y: Argv) => Argv);
  return flagSchema([parser([]), ...builders.map((build) => build(yargs([])))]);
}
