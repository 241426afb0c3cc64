import type { CommandModule } from 'yargs';
import { manifestId, manifestSize } from '../../store/manifest.js';
import { displayName } from '../../store/model-name.js';
import { formatBytes } from '../../format.js';
import { openLocalStore } from '../models.js';
import type { DestinationFlags } from '../destination.js';
import { formatTable, modelJson } from '../plan-output.js';
import { runCommand } from '../run-command.js';
import { listDestination, listOptions, namesDestination } from './remote-list.js';

type ListArgs = DestinationFlags;

export const listCommand: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: "List the models in the local store, or with a destination flag the destination's, as ollama list names them",
  builder: (yargs) => listOptions(yargs),
  handler: (args) =>
    runCommand(args.verbose, async () => {
      if (namesDestination(args)) return listDestination(args);
      const local = openLocalStore(args);
      const models = [];
      for (const name of await local.listNames()) {
        // Like `ollama list`: a model whose manifest cannot be read is left out, with a warning.
        try {
          models.push(await local.read(name));
        } catch (error) {
          process.stderr.write(`ollama-push: warning: ${(error as Error).message}\n`);
        }
      }
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ modelsDir: local.modelsDir, models: models.map(modelJson) }, null, 2)}\n`);
        return;
      }
      const rows = models.map((m) => [displayName(m.name), manifestId(m.manifest), formatBytes(manifestSize(m.manifest))]);
      process.stdout.write(`${formatTable(['NAME', 'ID', 'SIZE'], rows)}\n`);
    }),
};
