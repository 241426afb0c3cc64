import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import type { ImportResult } from '../../archive/import-archive.js';
import { usageError } from '../../errors.js';
import { formatBytes, formatDuration } from '../../format.js';
import { createReporter } from '../../progress/reporter.js';
import { BandwidthLimit, parseRate } from '../../transfer/bandwidth-limit.js';
import { type DestinationFlags, openDestination, perHost } from '../destination.js';
import { type DestinationArgs, destinationOptions, MiB, type SendingArgs, sendingOptions } from '../options.js';
import { interruptible } from '../interruptible.js';
import { runCommand } from '../run-command.js';

type ImportArgs = DestinationFlags<DestinationArgs & SendingArgs> & { archive: string };

export const importCommand: CommandModule<object, ImportArgs> = {
  command: 'import <archive>',
  describe: 'Send a tar made by export (a file, or - for stdin) to the destination: only the blobs it lacks, verified, manifests last',
  builder: (yargs) =>
    sendingOptions(destinationOptions(yargs))
      // demandOption only types what `<archive>` already demands (yargs' positional() ignores it).
      .positional('archive', { type: 'string', demandOption: true, describe: 'The tar to read, or - for stdin' })
      .example('ollama-push import models.tar --host homelab-1 --remote-path /var/mnt/local-hostpath/pvc-6f1c2a9e', 'into a PVC dir over SSH')
      .example('ssh jumpbox cat models.tar | ollama-push import - --remote-path /srv/ollama/models', 'from stdin into a local models dir'),
  handler: (args) =>
    runCommand(args.verbose, async () => {
      const [destination, ...more] = perHost(args);
      if (!destination || more.length > 0) throw usageError('import sends to one destination at a time; give one --host (and run it once per host)');
      const rate = args.bwlimit ? parseRate(args.bwlimit) : 0;
      // yargs re-parses a positional as `--archive -`, which turns a lone `-` into an empty string.
      const fromStdin = args.archive === '-' || args.archive === '';
      if (fromStdin && process.stdin.isTTY) throw usageError('import - reads the archive from stdin, which is a terminal; pipe it in (cat models.tar | ollama-push import - ...)');
      const archiveSize = fromStdin ? undefined : await fileSize(args.archive);
      const label = fromStdin ? 'stdin' : args.archive;
      const reporter = createReporter(args.quiet, fromStdin ? withoutOverallLines(process.stderr) : process.stderr);
      const target = await openDestination(destination, reporter.line);
      const stopped = new AbortController();
      const stop = () => {
        stopped.abort();
        reporter.stop();
        void target.close();
      };
      const interrupted = 'interrupted; blobs already published on the destination are kept: run the same command again to resume';
      try {
        await interruptible(stop, interrupted, async () => {
          // Loaded here: the other commands start faster without tar-stream.
          const { importArchive } = await import('../../archive/import-archive.js');
          const result = await importArchive({
            open: () => (fromStdin ? process.stdin : createReadStream(args.archive, { highWaterMark: MiB })),
            label,
            ...(archiveSize === undefined ? {} : { archiveSize }),
            destination: target,
            createRemotePath: args.mkdir,
            // stdin cannot be read again: a dropped connection ends the import (run it again to resume).
            retries: fromStdin ? 0 : args.retries,
            signal: stopped.signal,
            ...(rate > 0 ? { bandwidthLimit: new BandwidthLimit(rate) } : {}),
            onEvent: reporter.onEvent,
          });
          reporter.stop();
          if (args.json) process.stdout.write(`${JSON.stringify(importJson(result, label), null, 2)}\n`);
          else reporter.line(importSummary(result, target.where));
        });
      } finally {
        reporter.stop();
        await target.close();
        if (fromStdin) process.stdin.destroy();
      }
    }),
};

async function fileSize(path: string): Promise<number> {
  const found = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw usageError(`cannot read ${path}: ${error.code === 'ENOENT' ? 'no such file' : (error.code ?? error.message)}`);
  });
  if (!found.isFile()) throw usageError(`${path} is not a file; give a tar made by ollama-push export, or - for stdin`);
  return found.size;
}

/**
 * From stdin the archive's size is unknown, so there is no honest overall percentage: plain output
 * keeps its per-blob lines and drops the periodic overall line.
 */
function withoutOverallLines(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  if (stream.isTTY) return stream;
  const write = (text: string) => (/^progress \d+% /.test(text) ? true : stream.write(text));
  return { isTTY: false, write } as unknown as NodeJS.WriteStream;
}

function importJson(result: ImportResult, archive: string) {
  return {
    archive,
    destination: result.modelsDir,
    models: result.models,
    blobs: result.blobs,
    bytesSent: result.bytesSent,
    seconds: Number(result.seconds.toFixed(3)),
  };
}

function importSummary(result: ImportResult, where: string): string {
  const names = result.models.map((m) => m.name).join(', ');
  const present = result.blobs.filter((b) => b.status === 'present').length;
  if (result.bytesSent === 0) {
    return result.models.every((m) => m.status === 'unchanged') ? `${names} up to date in ${where}` : `imported ${names} into ${where}: every blob was already there`;
  }
  const rate = formatBytes(result.bytesSent / Math.max(result.seconds, 0.001));
  const skipped = present > 0 ? `, ${present} blob${present === 1 ? '' : 's'} already there` : '';
  return `imported ${names} into ${where}: sent ${formatBytes(result.bytesSent)} in ${formatDuration(result.seconds)} (${rate}/s)${skipped}`;
}
