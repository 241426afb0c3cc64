import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { usageError } from '../errors.js';
import { reportError } from './run-command.js';
import { diffCommand } from './commands/diff.js';
import { listCommand } from './commands/list.js';
import { pushCommand } from './commands/push.js';

const HOMELAB_EXAMPLE = 'ollama-push qwen3:4b --host homelab-1 --remote-path /var/mnt/local-hostpath/pvc-6f1c2a9e';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await parser(argv).parseAsync();
  } catch (error) {
    process.exitCode = reportError(error, argv.includes('--verbose'));
  }
}

function parser(argv: string[]) {
  return yargs(argv)
    .scriptName('ollama-push')
    .usage('$0 <models..> --remote-path DIR [--host HOST]\n\nCopy Ollama models to the machine that serves them: only the blobs it lacks, in parallel, verified, manifest last.')
    .env('OLLAMA_PUSH')
    .command(pushCommand)
    .command(diffCommand)
    .command(listCommand)
    .completion('completion', 'Print a shell completion script (bash/zsh)')
    .option('verbose', { type: 'boolean', default: false, describe: 'Show stack traces and remote commands' })
    .example(HOMELAB_EXAMPLE, 'push a model into an ollama-operator PVC dir on a node')
    .example('ollama-push diff qwen3:4b --host homelab-1 --remote-path /var/mnt/local-hostpath/pvc-6f1c2a9e', 'show what would be sent')
    .example('ollama-push tiny --models-dir fixtures/models --remote-path /tmp/pvc --mkdir', 'push into a local dir')
    .strict()
    .demandCommand(1, 'name at least one model, e.g. ollama-push qwen3:4b --remote-path DIR')
    .version(packageVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message, error) => {
      throw error ?? usageError(`${message} (run ollama-push --help for usage)`);
    });
}
