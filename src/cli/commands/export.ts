import type { CommandModule } from 'yargs';
import type { ExportResult } from '../../archive/export-archive.js';
import { usageError } from '../../errors.js';
import { formatBytes, formatDuration } from '../../format.js';
import { createReporter } from '../../progress/reporter.js';
import { openLocalStore, readModels } from '../models.js';
import { type LocalArgs, localOptions } from '../options.js';
import { interruptible } from '../interruptible.js';
import { runCommand } from '../run-command.js';

interface ExportArgs extends LocalArgs {
  models: string[];
  output: string;
  quiet: boolean;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <models..>',
  describe: 'Write models to a tar (blobs, then manifests) for an air-gapped copy: ollama-push import it, or tar -x it into an empty dir',
  builder: (yargs) =>
    localOptions(yargs)
      // demandOption only types what `<models..>` already demands (yargs' positional() ignores it).
      .positional('models', { type: 'string', array: true, demandOption: true, describe: 'Model names, e.g. qwen3:4b llama3.2:1b' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'The tar to write (FILE.partial until it is complete), or - for stdout' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print nothing on success' })
      .example('ollama-push export qwen3:4b llama3.2:1b -o models.tar', 'one tar holding both models')
      .example('ollama-push export qwen3:4b -o - | ssh airgap ollama-push import - --remote-path /srv/ollama/models', 'stream it into a store: verified, manifest last'),
  handler: (args) =>
    runCommand(args.verbose, async () => {
      if (!args.output) throw usageError('-o needs a file name, or - for stdout');
      const toStdout = args.output === '-';
      if (toStdout && process.stdout.isTTY) throw usageError('refusing to write a tar to a terminal; redirect stdout (-o - > models.tar) or pass -o FILE');
      const local = openLocalStore(args);
      const models = await readModels(local, args.models);
      const reporter = createReporter(args.quiet);
      const controller = new AbortController();
      const interrupted = `interrupted; ${toStdout ? 'the archive on stdout is incomplete' : `no ${args.output} was written`}`;
      try {
        await interruptible(() => controller.abort(), interrupted, async () => {
          const options = { local, models, label: toStdout ? 'stdout' : args.output, onEvent: reporter.onEvent, signal: controller.signal };
          // Loaded here: the other commands start faster without tar-stream.
          const { exportArchive, exportArchiveToFile, streamWriter } = await import('../../archive/export-archive.js');
          const result = toStdout ? await exportArchive({ ...options, write: streamWriter(process.stdout) }) : await exportArchiveToFile(args.output, options);
          reporter.stop();
          reporter.line(exportSummary(result, options.label));
        });
      } finally {
        reporter.stop();
      }
    }),
};

function exportSummary(result: ExportResult, label: string): string {
  const blobs = `${result.blobs.length} blob${result.blobs.length === 1 ? '' : 's'}`;
  return `exported ${result.models.join(', ')} to ${label}: ${blobs}, ${formatBytes(result.bytes)} in ${formatDuration(result.seconds)}`;
}
