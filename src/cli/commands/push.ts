import type { CommandModule } from 'yargs';
import { EXIT, PushError } from '../../errors.js';
import { formatBytes, formatDuration } from '../../format.js';
import { createReporter, type Reporter } from '../../progress/reporter.js';
import type { LocalModel, LocalStore } from '../../store/local-store.js';
import { localBlobSource } from '../../transfer/local-source.js';
import type { BlobPlan } from '../../transfer/plan.js';
import { BandwidthLimit, parseRate } from '../../transfer/bandwidth-limit.js';
import { push, type PushResult } from '../../transfer/push.js';
import { SharedReads } from '../../transfer/shared-reads.js';
import { type DestinationFlags, openDestination, perHost } from '../destination.js';
import { openLocalStore, readModels } from '../models.js';
import { type DestinationArgs, destinationOptions, MiB, type RangeArgs, rangeOptions, type SendingArgs, sendingOptions, verifyOption } from '../options.js';
import { blobJson, modelJson } from '../plan-output.js';
import { interruptible } from '../interruptible.js';
import { runCommand } from '../run-command.js';
import { runDiff } from './diff.js';

type PushArgs = DestinationArgs & SendingArgs & RangeArgs & { models: string[]; 'dry-run': boolean; verify: boolean };
/** PushArgs as yargs parses them, before perHost: `--host` may repeat. */
type PushFlags = DestinationFlags<PushArgs>;

export const pushCommand: CommandModule<object, PushFlags> = {
  command: ['push <models..>', '$0 <models..>'],
  describe: 'Copy models to the destination: only the blobs it lacks, verified, manifest last',
  builder: (yargs) =>
    verifyOption(rangeOptions(sendingOptions(destinationOptions(yargs))))
      // demandOption only types what `<models..>` already demands (yargs' positional() ignores it).
      .positional('models', { type: 'string', array: true, demandOption: true, describe: 'Model names, e.g. qwen3:4b hf.co/org/Repo-GGUF:Q4_K_M' })
      .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Show what would be sent (like diff); write nothing' }),
  handler: (args) =>
    runCommand(args.verbose, async () => {
      if (args['dry-run']) return runDiff(args, false);
      const rate = args.bwlimit ? parseRate(args.bwlimit) : 0;
      const local = openLocalStore(args);
      const models = await readModels(local, args.models);
      const destinations = perHost(args);
      if (destinations.length > 1) return fanOut(destinations, local, models, rate, args);
      await pushToOne(destinations[0]!, local, models, rate, createReporter(args.quiet));
      return EXIT.ok;
    }),
};

/** Several --host: every host at once, each with its own connection, retries and summary; one failing does not stop the others. */
async function fanOut(destinations: PushArgs[], local: LocalStore, models: LocalModel[], rate: number, args: PushFlags): Promise<number> {
  const reads = new SharedReads(destinations.length);
  const results = await Promise.all(
    destinations.map(async (destination, party) => {
      const prefix = `[${destination.host}] `;
      const reporter = createReporter(args.quiet, prefixedLines(prefix));
      try {
        const result = await pushToOne({ ...destination, json: false }, local, models, rate, reporter, { reads, party });
        return { host: destination.host!, result };
      } catch (error) {
        reads.leave(party);
        const message = error instanceof Error ? error.message : String(error);
        if (args.verbose && error instanceof Error) process.stderr.write(`${prefix}${error.stack}\n`);
        return { host: destination.host!, error: message, exitCode: error instanceof PushError ? error.exitCode : EXIT.failure };
      }
    }),
  );
  if (args.json) {
    const doc = results.map((r) => ('result' in r && r.result ? { host: r.host, ok: true, ...pushJson(r.result, models) } : { host: r.host, ok: false, error: r.error }));
    process.stdout.write(`${JSON.stringify({ hosts: doc, localBytesRead: reads.bytesRead }, null, 2)}\n`);
  } else {
    // Each host's own lines (and its summary) went out with its prefix; failures are said once here.
    for (const r of results) if ('error' in r) process.stderr.write(`${r.host}: FAILED: ${r.error}\n`);
  }
  const failed = results.filter((r) => !('result' in r && r.result));
  if (failed.length === 0) return EXIT.ok;
  return failed.some((r) => 'exitCode' in r && r.exitCode === EXIT.interrupted) ? EXIT.interrupted : EXIT.failure;
}

async function pushToOne(
  args: PushArgs,
  local: LocalStore,
  models: LocalModel[],
  rate: number,
  reporter: Reporter,
  sharedReads?: { reads: SharedReads; party: number },
): Promise<PushResult> {
  const stopped = new AbortController();
  const destination = await openDestination(args, reporter.line, stopped.signal).catch((error: unknown) => {
    reporter.stop();
    throw error;
  });
  const stop = () => {
    stopped.abort();
    reporter.stop();
    void destination.close();
  };
  const source = localBlobSource(local, { ...(rate > 0 ? { bandwidthLimit: new BandwidthLimit(rate) } : {}), sharedReads });
  try {
    return await interruptible(stop, 'interrupted; what was staged on the destination is kept: run the same command again to resume', async () => {
      const result = await push({
        local,
        destination,
        source,
        models,
        jobs: args.jobs,
        rangeSize: args['range-size'] * MiB,
        createRemotePath: args.mkdir,
        verify: args.verify,
        retries: args.retries,
        signal: stopped.signal,
        ...(sharedReads
          ? {
              onPlanned: (blobs: readonly BlobPlan[]) => sharedReads.reads.expect(sharedReads.party, plannedReads(local, blobs)),
              onAttemptEnd: () => sharedReads.reads.leave(sharedReads.party),
            }
          : {}),
        onEvent: reporter.onEvent,
      });
      reporter.stop();
      const pullNames = destination.pullName ? models.map((m) => destination.pullName!(m.name)) : undefined;
      if (args.json) process.stdout.write(`${JSON.stringify({ ...pushJson(result, models), ...(pullNames ? { pullNames } : {}) }, null, 2)}\n`);
      else reporter.line(pushSummary(result, destination.where));
      // A registry: the name to put in a Model's image, or to ollama pull, on every node.
      for (const name of pullNames ?? []) reporter.line(`pull it with: ollama pull ${name}`);
      return result;
    });
  } finally {
    reporter.stop();
    await destination.close();
  }
}

/** The local ranges a push will read (fan-out reads each once for all hosts). */
function plannedReads(local: LocalStore, blobs: readonly BlobPlan[]) {
  return blobs.filter((b) => b.status !== 'present').flatMap((b) => b.ranges.map((range) => ({ path: local.blobPath(b.descriptor.digest), range })));
}

/** Plain progress lines, each starting with the host, for several hosts writing to one stderr. */
function prefixedLines(prefix: string): NodeJS.WriteStream {
  const write = (text: string) => process.stderr.write(text.replace(/^(?=.)/gm, prefix));
  return { isTTY: false, write } as unknown as NodeJS.WriteStream;
}

function pushJson(result: PushResult, models: LocalModel[]) {
  return {
    models: models.map(modelJson),
    destination: result.modelsDir,
    blobs: result.plan.blobs.map(blobJson),
    bytesSent: result.bytesSent,
    seconds: Number(result.seconds.toFixed(3)),
  };
}

function pushSummary(result: PushResult, where: string): string {
  if (result.bytesSent === 0) return `${result.published.join(', ')} up to date in ${where}`;
  const rate = formatBytes(result.bytesSent / Math.max(result.seconds, 0.001));
  return `pushed ${result.published.join(', ')} to ${where}: sent ${formatBytes(result.bytesSent)} in ${formatDuration(result.seconds)} (${rate}/s)`;
}
