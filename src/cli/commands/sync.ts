import type { CommandModule } from 'yargs';
import type { Destination, RemovalReport } from '../../destination/destination.js';
import { EXIT, PushError, usageError } from '../../errors.js';
import { formatBytes, formatDuration } from '../../format.js';
import { declaredModels } from '../../k8s/cluster-models.js';
import { createReporter } from '../../progress/reporter.js';
import type { LocalModel, LocalStore } from '../../store/local-store.js';
import { manifestBlobs } from '../../store/manifest.js';
import { displayName, manifestSegments, type ModelName, sameModelName } from '../../store/model-name.js';
import { BandwidthLimit, parseRate } from '../../transfer/bandwidth-limit.js';
import { localBlobSource } from '../../transfer/local-source.js';
import { upToDate } from '../../transfer/plan.js';
import { diff, push } from '../../transfer/push.js';
import type { DestinationFlags } from '../destination.js';
import { interruptible } from '../interruptible.js';
import { openLocalStore } from '../models.js';
import { type DestinationArgs, destinationOptions, MiB, type RangeArgs, rangeOptions, type SendingArgs, sendingOptions, verifyOption } from '../options.js';
import { blobJson, formatManifestTable, formatPlanTable, modelJson, planSummary } from '../plan-output.js';
import { runCommand } from '../run-command.js';
import { selectLocalModels } from '../select-models.js';
import { formatRemoval, removalJson } from '../store-output.js';
import { listingOf, openOne } from './remote-list.js';

type SyncArgs = DestinationFlags<DestinationArgs & SendingArgs & RangeArgs> & {
  models: string[];
  all: boolean;
  'from-cluster': boolean;
  delete: boolean;
  'dry-run': boolean;
  'exit-code': boolean;
  verify: boolean;
};

export const syncCommand: CommandModule<object, SyncArgs> = {
  command: 'sync [models..]',
  describe: 'Push these models; with --delete, also remove every other model from the destination (like rsync --delete)',
  builder: (yargs) =>
    verifyOption(rangeOptions(sendingOptions(destinationOptions(yargs))))
      .positional('models', { type: 'string', array: true, default: [] as string[], describe: "Model names or shell-style patterns, e.g. qwen3:4b 'gemma3:*'" })
      .option('all', { type: 'boolean', default: false, describe: 'Every model of the local store (sync)' })
      .option('from-cluster', {
        type: 'boolean',
        default: false,
        describe: "The models are the spec.image of every ollama-operator Model in the namespace of --pvc or --pod (read with kubectl)",
      })
      .option('delete', { type: 'boolean', default: false, describe: 'Then remove every other model from the destination, and the blobs only they used (sync)' })
      .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Show what would be sent (like diff); write nothing' })
      .option('exit-code', { type: 'boolean', default: false, describe: 'Exit 1 when something would be sent, 0 when up to date (like diff(1))' }),
  handler: (args) =>
    runCommand(args.verbose, async () => {
      if (args['exit-code'] && !args['dry-run']) throw usageError('--exit-code goes with --dry-run: sync --dry-run --exit-code tells whether the destination is already in sync');
      const local = openLocalStore(args);
      const models = await chooseModels(local, args);
      const { args: one, destination } = await openOne(args, 'sync');
      try {
        if (args['dry-run']) {
          return await drySync(one, args, destination, models).catch((error: unknown) => {
            throw args['exit-code'] ? asTrouble(error) : error;
          });
        }
        return await realSync(one, args, destination, local, models);
      } finally {
        await destination.close();
      }
    }),
};

/** The local models to sync: named (and patterns), --all, or declared by the cluster's Models. All are read before anything connects. */
async function chooseModels(local: LocalStore, args: SyncArgs): Promise<LocalModel[]> {
  if (!args['from-cluster']) return dedupe(await selectLocalModels(local, { all: args.all, names: args.models }));
  if (args.all || args.models.length > 0) throw usageError('--from-cluster takes the models from the cluster; drop the model names and --all');
  const { namespace, models: declared } = await declaredModels(args);
  if (declared.length === 0) {
    if (args.delete) throw usageError(`namespace ${namespace} has no ollama-operator Model: sync --from-cluster --delete would remove every model; refusing`);
    process.stderr.write(`ollama-push: namespace ${namespace} has no ollama-operator Model; nothing to sync\n`);
  }
  const available = await local.listNames();
  const spelled = (n: ModelName) => manifestSegments(n).join('/');
  const missing = declared.filter((d) => !available.some((n) => spelled(n) === spelled(d.name) || sameModelName(n, d.name)));
  if (missing.length > 0) {
    const list = missing.map((d) => `${displayName(d.name)} (Model ${namespace}/${d.object})`).join(', ');
    const pulls = [...new Set(missing.map((d) => `ollama pull ${displayName(d.name)}`))].join('; ');
    throw usageError(`not in the local store ${local.modelsDir}: ${list}; pull ${missing.length === 1 ? 'it' : 'them'} first (${pulls}); nothing was sent`);
  }
  const models: LocalModel[] = [];
  for (const d of declared) models.push(await local.readModel(d.name));
  return dedupe(models);
}

function dedupe(models: LocalModel[]): LocalModel[] {
  return models.filter((m, i) => models.findIndex((o) => sameModelName(o.name, m.name)) === i);
}

/** The destination's models that are not among these (sync --delete removes them). */
async function others(destination: Destination, models: readonly LocalModel[]): Promise<ModelName[]> {
  const listing = await listingOf(destination, 'sync --delete');
  return listing.models.map((m) => m.name).filter((name) => !models.some((m) => sameModelName(m.name, name)));
}

async function drySync(one: DestinationArgs, args: SyncArgs, destination: Destination, models: LocalModel[]): Promise<number> {
  const { plan, modelsDir, remoteExists } = await diff({ destination, models, rangeSize: args['range-size'] * MiB, verify: args.verify });
  let removal: RemovalReport | undefined;
  if (args.delete && remoteExists) {
    const extra = await others(destination, models);
    if (extra.length > 0) removal = keepSynced(await removeFrom(destination, extra, true), models);
  }
  const inSync = upToDate(plan) && (removal?.models.length ?? 0) === 0;
  if (one.json) {
    const doc = {
      models: models.map(modelJson),
      destination: modelsDir,
      exists: remoteExists,
      blobs: plan.blobs.map(blobJson),
      manifests: plan.manifests,
      upToDate: upToDate(plan),
      bytesToSend: plan.bytesToSend,
      remove: removal ? removalJson(removal) : null,
      inSync,
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else if (!one.quiet) {
    const note = remoteExists ? '' : ' (does not exist yet)';
    const removing = removal ? `\n${formatRemoval(removal).join('\n')}` : args.delete ? '\nno other model to remove' : '';
    process.stdout.write(`destination: ${destination.where}${note}\n${formatPlanTable(plan)}\n\n${formatManifestTable(plan)}\n${planSummary(plan, 'would send')}${removing}\n`);
  }
  return args['exit-code'] && !inSync ? 1 : EXIT.ok;
}

/**
 * A dry run removes nothing and pushes nothing, so the blobs it would remove include those the models
 * being synced use (they are referenced only once their manifests are published): those stay.
 */
function keepSynced(report: RemovalReport, models: readonly LocalModel[]): RemovalReport {
  const synced = new Set(models.flatMap((m) => manifestBlobs(m.manifest).map((d) => d.digest.hex)));
  const blobs = report.blobs.map((b) => (b.outcome === 'would' && synced.has(b.hex) ? { ...b, outcome: 'used' as const } : b));
  const freed = blobs.filter((b) => b.outcome === 'would').reduce((sum, b) => sum + b.size, 0) + report.staging.filter((s) => s.outcome === 'would').reduce((sum, s) => sum + s.bytes, 0);
  return { ...report, blobs, bytesFreed: freed };
}

function removeFrom(destination: Destination, names: ModelName[], dryRun: boolean): Promise<RemovalReport> {
  if (!destination.remove) throw usageError(`sync --delete is not available for ${destination.label}`);
  return destination.remove(names, { dryRun });
}

async function realSync(one: DestinationArgs, args: SyncArgs, destination: Destination, local: LocalStore, models: LocalModel[]): Promise<number> {
  const reporter = createReporter(one.quiet);
  const rate = args.bwlimit ? parseRate(args.bwlimit) : 0;
  const source = localBlobSource(local, rate > 0 ? { bandwidthLimit: new BandwidthLimit(rate) } : {});
  const stopped = new AbortController();
  const stop = () => {
    stopped.abort();
    reporter.stop();
    void destination.close();
  };
  try {
    const result =
      models.length === 0
        ? undefined
        : await interruptible(stop, 'interrupted; what was staged on the destination is kept: run the same command again to resume', () =>
            push({
              local,
              destination,
              source,
              models,
              jobs: args.jobs,
              rangeSize: args['range-size'] * MiB,
              createRemotePath: one.mkdir,
              verify: args.verify,
              retries: args.retries,
              signal: stopped.signal,
              onEvent: reporter.onEvent,
            }),
          );
    reporter.stop();
    if (result) {
      const names = result.published.join(', ');
      const rateText = `${formatBytes(result.bytesSent / Math.max(result.seconds, 0.001))}/s`;
      reporter.line(
        result.bytesSent === 0
          ? `${names} up to date in ${destination.where}`
          : `pushed ${names} to ${destination.where}: sent ${formatBytes(result.bytesSent)} in ${formatDuration(result.seconds)} (${rateText})`,
      );
    }
    let removal: RemovalReport | undefined;
    if (args.delete) {
      const extra = await others(destination, models);
      if (extra.length > 0) removal = await removeFrom(destination, extra, false);
      for (const line of removal ? formatRemoval(removal) : [`no other model in ${destination.where}`]) reporter.line(line);
    }
    if (one.json) {
      const doc = {
        models: models.map(modelJson),
        destination: result?.modelsDir ?? destination.where,
        blobs: result?.plan.blobs.map(blobJson) ?? [],
        bytesSent: result?.bytesSent ?? 0,
        seconds: Number((result?.seconds ?? 0).toFixed(3)),
        removed: removal ? removalJson(removal) : null,
      };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    }
    return EXIT.ok;
  } finally {
    reporter.stop();
  }
}

/** With --exit-code, 1 means "not in sync" (as with diff(1)): a failure must exit 2 instead. */
function asTrouble(error: unknown): unknown {
  if (error instanceof PushError && error.exitCode !== EXIT.failure) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PushError(message, { side: error instanceof PushError ? error.side : 'local', exitCode: EXIT.usage, cause: error });
}
