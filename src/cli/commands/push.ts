import type { CommandModule } from 'yargs';
import { EXIT, PushError } from '../../errors.js';
import { formatBytes, formatDuration } from '../../progress/format.js';
import { createReporter } from '../../progress/reporter.js';
import { BandwidthLimit, parseRate } from '../../transfer/bandwidth-limit.js';
import { push, type PushResult } from '../../transfer/push.js';
import { openDestination } from '../destination.js';
import { openLocalStore, readModels } from '../models.js';
import { type DestinationArgs, destinationOptions, MiB } from '../options.js';
import { blobJson, modelJson } from '../plan-output.js';
import { runCommand } from '../run-command.js';
import { runDiff } from './diff.js';

interface PushArgs extends DestinationArgs {
  models: string[];
  'dry-run': boolean;
}

const DEFAULT_JOBS = 4;

function pushSummary(result: PushResult, where: string): string {
  if (result.bytesSent === 0) return `${result.published.join(', ')} up to date in ${where}`;
  const rate = formatBytes(result.bytesSent / Math.max(result.seconds, 0.001));
  return `pushed ${result.published.join(', ')} to ${where}: sent ${formatBytes(result.bytesSent)} in ${formatDuration(result.seconds)} (${rate}/s)`;
}

export const pushCommand: CommandModule<object, PushArgs> = {
  command: ['push <models..>', '$0 <models..>'],
  describe: 'Copy models to the destination: only the blobs it lacks, verified, manifest last',
  builder: (yargs) =>
    destinationOptions(yargs)
      .positional('models', { type: 'string', array: true, describe: 'Model names, e.g. qwen3:4b hf.co/org/Repo-GGUF:Q4_K_M' })
      .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Show what would be sent (like diff); write nothing' }) as never,
  handler: (args) =>
    runCommand(args.verbose, async () => {
      if (args['dry-run']) return runDiff(args, false);
      const rate = args.bwlimit ? parseRate(args.bwlimit) : 0;
      const local = openLocalStore(args);
      const models = await readModels(local, args.models);
      const reporter = createReporter(args.quiet);
      const remote = await openDestination(args, reporter.line);
      let interrupted = false;
      const stop = () => {
        interrupted = true;
        reporter.stop();
        void remote.transport.close();
      };
      process.once('SIGINT', stop).once('SIGTERM', stop);
      try {
        const result = await push({
          local,
          remote,
          models,
          jobs: args.jobs ?? DEFAULT_JOBS,
          rangeSize: args['range-size'] * MiB,
          createRemotePath: args.mkdir,
          retries: args.retries,
          ...(rate > 0 ? { bandwidthLimit: new BandwidthLimit(rate) } : {}),
          onEvent: reporter.onEvent,
        });
        reporter.stop();
        if (args.json) {
          const doc = {
            models: models.map(modelJson),
            destination: result.modelsDir,
            blobs: result.plan.blobs.map(blobJson),
            bytesSent: result.bytesSent,
            seconds: Number(result.seconds.toFixed(3)),
          };
          process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
        } else {
          reporter.line(pushSummary(result, remote.where));
        }
      } catch (error) {
        if (!interrupted) throw error;
        throw new PushError('interrupted; what was staged on the destination is kept: run the same command again to resume', {
          side: 'usage',
          exitCode: EXIT.interrupted,
          cause: error,
        });
      } finally {
        process.off('SIGINT', stop).off('SIGTERM', stop);
        reporter.stop();
        await remote.transport.close();
      }
    }),
};
