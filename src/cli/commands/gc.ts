import type { CommandModule } from 'yargs';
import { usageError } from '../../errors.js';
import { PRUNE_GRACE_MINUTES } from '../../remote/store-contents.js';
import type { DestinationFlags } from '../destination.js';
import { destinationOptions } from '../options.js';
import { runCommand } from '../run-command.js';
import { formatRemoval, removalJson } from '../store-output.js';
import { listingOf, openOne } from './remote-list.js';

type GcArgs = DestinationFlags & { 'dry-run': boolean };

export const gcCommand: CommandModule<object, GcArgs> = {
  command: 'gc',
  describe: "Remove from the destination abandoned uploads and the blobs no model uses that are older than an hour (Ollama's grace period)",
  builder: (yargs) =>
    destinationOptions(yargs).option('dry-run', {
      alias: 'n',
      type: 'boolean',
      default: false,
      describe: 'Show what would be removed and the bytes freed; remove nothing',
    }),
  handler: (args) =>
    runCommand(args.verbose, async () => {
      const { args: one, destination } = await openOne(args, 'gc');
      try {
        await listingOf(destination, 'gc');
        if (!destination.collectGarbage) throw usageError(`gc is not available for ${destination.label}`);
        const report = await destination.collectGarbage({ dryRun: args['dry-run'], graceMinutes: PRUNE_GRACE_MINUTES });
        if (one.json) process.stdout.write(`${JSON.stringify(removalJson(report), null, 2)}\n`);
        else if (!one.quiet || args['dry-run']) process.stdout.write(`${formatRemoval(report).join('\n')}\n`);
      } finally {
        await destination.close();
      }
    }),
};
