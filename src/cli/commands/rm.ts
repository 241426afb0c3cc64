import type { CommandModule } from 'yargs';
import { usageError } from '../../errors.js';
import type { DestinationFlags } from '../destination.js';
import { destinationOptions } from '../options.js';
import { runCommand } from '../run-command.js';
import { resolveNames } from '../select-models.js';
import { formatRemoval, removalJson } from '../store-output.js';
import { listingOf, openOne } from './remote-list.js';

type RmArgs = DestinationFlags & { models: string[]; 'dry-run': boolean };

export const rmCommand: CommandModule<object, RmArgs> = {
  command: 'rm <models..>',
  describe: 'Remove models from the destination, and their blobs no other model there uses (as ollama rm)',
  builder: (yargs) =>
    destinationOptions(yargs)
      // demandOption only types what `<models..>` already demands (yargs' positional() ignores it).
      .positional('models', { type: 'string', array: true, demandOption: true, describe: "Model names or shell-style patterns, e.g. llama3.2:3b 'qwen3:*'" })
      .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Show what would be removed and the bytes freed; remove nothing' }),
  handler: (args) =>
    runCommand(args.verbose, async () => {
      const { args: one, destination } = await openOne(args, 'rm');
      try {
        const listing = await listingOf(destination, 'rm');
        const hint = `run ollama-push list with the same destination flags to see its models`;
        const names = resolveNames(
          args.models,
          listing.models.map((m) => m.name),
          destination.where,
          hint,
        );
        if (!destination.remove) throw usageError(`rm is not available for ${destination.label}`);
        const report = await destination.remove(names, { dryRun: args['dry-run'] });
        if (one.json) process.stdout.write(`${JSON.stringify(removalJson(report), null, 2)}\n`);
        else if (!one.quiet || args['dry-run']) process.stdout.write(`${formatRemoval(report).join('\n')}\n`);
      } finally {
        await destination.close();
      }
    }),
};
