import type { CommandModule } from 'yargs';
import { upToDate } from '../../transfer/plan.js';
import { diff } from '../../transfer/push.js';
import { EXIT, PushError, usageError } from '../../errors.js';
import { type DestinationFlags, openDestination, perHost } from '../destination.js';
import { openLocalStore, readModels } from '../models.js';
import { DEFAULT_RANGE_MIB, destinationOptions, MiB, verifyOption } from '../options.js';
import { blobJson, formatManifestTable, formatPlanTable, modelJson, planSummary } from '../plan-output.js';
import { runCommand } from '../run-command.js';

export type DiffArgs = DestinationFlags & {
  models: string[];
  'exit-code': boolean;
  verify: boolean;
};

export const diffCommand: CommandModule<object, DiffArgs> = {
  command: 'diff <models..>',
  describe: 'Show which blobs the destination lacks (writes nothing)',
  builder: (yargs) =>
    verifyOption(destinationOptions(yargs))
      // demandOption only types what `<models..>` already demands (yargs' positional() ignores it).
      .positional('models', { type: 'string', array: true, demandOption: true, describe: 'Model names, e.g. qwen3:4b' })
      .option('exit-code', { type: 'boolean', default: false, describe: 'Exit 1 when something would be sent, 0 when up to date (like diff(1))' }),
  handler: (args) =>
    runCommand(args.verbose, () =>
      runDiff(args, args['exit-code']).catch((error: unknown) => {
        throw args['exit-code'] ? asTrouble(error) : error;
      }),
    ),
};

/** With --exit-code, 1 means "would send" (as with diff(1)): a failure must exit 2 instead. */
function asTrouble(error: unknown): unknown {
  const failed = !(error instanceof PushError) || error.exitCode === EXIT.failure;
  if (!failed) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PushError(message, {
    side: error instanceof PushError ? error.side : 'local',
    ...(error instanceof PushError && error.digest ? { digest: error.digest } : {}),
    exitCode: EXIT.usage,
    cause: error,
  });
}

/** Shared by `diff` and `push --dry-run`. With exitCode, trouble is 2 and "would send" is 1. */
export async function runDiff(given: DestinationFlags & { models: string[]; verify: boolean }, exitCode: boolean): Promise<number> {
  const [args, ...more] = perHost(given);
  if (more.length > 0 || !args) throw usageError('diff compares with one destination at a time; give one --host');
  const local = openLocalStore(args);
  const models = await readModels(local, args.models);
  const destination = await openDestination(args, (line) => args.quiet || process.stderr.write(`${line}\n`));
  try {
    const { plan, modelsDir, remoteExists } = await diff({ destination, models, rangeSize: (args['range-size'] ?? DEFAULT_RANGE_MIB) * MiB, verify: args.verify });
    if (args.json) {
      const doc = { models: models.map(modelJson), destination: modelsDir, exists: remoteExists, blobs: plan.blobs.map(blobJson), manifests: plan.manifests, upToDate: upToDate(plan), bytesToSend: plan.bytesToSend };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else if (!args.quiet) {
      const note = remoteExists ? '' : ' (does not exist yet)';
      process.stdout.write(`destination: ${destination.where}${note}\n${formatPlanTable(plan)}\n\n${formatManifestTable(plan)}\n${planSummary(plan, 'would send')}\n`);
    }
    return exitCode && !upToDate(plan) ? 1 : 0;
  } finally {
    await destination.close();
  }
}
