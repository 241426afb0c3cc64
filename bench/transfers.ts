import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchStore, MethodName, TransferMethod } from './methods.js';
import { firstLine } from './processes.js';
import { type RunSample, sampleRun } from './sample.js';
import { turnOrder } from '../test/harness/turn-order.js';
import type { Scenario, ScenarioName, SshSite } from './ssh-site.js';

/** What was moved: the one-model store with a large blob, or the per-tensor model (thousands of blobs). */
export type PayloadName = 'blob' | 'tensor';

export interface TransferRuns {
  readonly payload: PayloadName;
  readonly method: MethodName;
  readonly scenario: ScenarioName;
  readonly bytes: number;
  /** Each successful run, in the order run. */
  readonly samples: RunSample[];
  /** Why each failed run failed (first line of the error). */
  readonly failures: string[];
}

export interface TransferBenchOptions {
  readonly site: SshSite;
  readonly payload: PayloadName;
  readonly store: BenchStore;
  readonly methods: readonly TransferMethod[];
  readonly scenarios: readonly Scenario[];
  readonly rounds: number;
  /** Where the fresh destination dirs are made (and removed). */
  readonly destRoot: string;
  /** Throws when a run that "finished" did not deliver the store (its number would mean nothing). */
  readonly checkArrived: (method: TransferMethod, dest: string) => Promise<void>;
  readonly log: (line: string) => void;
}

/**
 * Every method, every scenario, `rounds` times, all moving the same files through the same sshd. Within
 * a round the methods take turns, in an order that changes from round to round so that each runs right
 * after each other one equally often (turnOrder): a run can slow the one after it (here rsync right after
 * an ollama-push run took 2.4-2.6 s, after an rsync run 1.9-2.1 s), which must not always be the same one.
 * Each run writes into a fresh empty dir, checked and removed right after it. A failing run is recorded
 * and the others go on.
 *
 * No `sync` or cache dropping: the source was just written and stays in the page cache for every run (for sizes
 * well below RAM), and no method fsyncs, so each finishes when its bytes are in the destination's
 * page cache, which is what a user waits for. Removing the destination right away discards its dirty pages
 * before writeback, so one run's flush does not land in the next.
 */
export async function measureTransfers(options: TransferBenchOptions): Promise<TransferRuns[]> {
  const { site, store, rounds, destRoot, log, payload } = options;
  const results = new Map<string, TransferRuns>();
  let runNumber = 0;
  for (let round = 0; round < rounds; round++) {
    for (const scenario of options.scenarios) {
      for (const method of turnOrder(options.methods, round)) {
        const key = `${method.name} ${scenario.name}`;
        const entry = results.get(key) ?? { payload, method: method.name, scenario: scenario.name, bytes: method.bytes(store), samples: [], failures: [] };
        results.set(key, entry);
        const dest = join(destRoot, `${payload}-run-${++runNumber}`);
        await mkdir(dest);
        try {
          const { sample, result } = await sampleRun(site, scenario, () => method.run({ site, scenario, store, dest }));
          await options.checkArrived(method, dest);
          entry.samples.push(sample);
          for (const retry of retriesIn(result.stderr)) log(`${payload} round ${round + 1}/${rounds} ${scenario.name} ${method.name} retried: ${retry}`);
          log(`${payload} round ${round + 1}/${rounds} ${scenario.name.padEnd(15)} ${method.name.padEnd(11)} ${sample.seconds.toFixed(2)} s, ` +
            `cpu ${sample.machineCpuSeconds.toFixed(2)} s machine / ${sample.destCpuSeconds.toFixed(2)} s destination, ${sample.execChannels} remote commands`);
        } catch (error) {
          const why = firstLine(error);
          entry.failures.push(why);
          log(`${payload} round ${round + 1}/${rounds} ${scenario.name.padEnd(15)} ${method.name.padEnd(11)} FAILED: ${why}`);
        } finally {
          await rm(dest, { recursive: true, force: true });
        }
      }
    }
  }
  return [...results.values()];
}

/** The large blob is in dest/blobs with its size. */
export function largeBlobArrived(store: BenchStore) {
  return async (method: TransferMethod, dest: string): Promise<void> => {
    const blob = store.largeBlob!;
    const path = join(dest, 'blobs', `sha256-${blob.hex}`);
    const size = (await stat(path).catch(() => undefined))?.size;
    if (size !== blob.size) throw new Error(`${method.name} finished but ${path} has ${size ?? 'no'} bytes, expected ${blob.size}`);
  };
}

/** dest/blobs holds `count` files of `bytes` bytes in all. */
export function allBlobsArrived(count: number, bytes: number) {
  return async (method: TransferMethod, dest: string): Promise<void> => {
    const dir = join(dest, 'blobs');
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('sha256-'));
    let total = 0;
    for (const name of names) total += (await stat(join(dir, name))).size;
    if (names.length !== count || total !== bytes) {
      throw new Error(`${method.name} finished but ${dir} has ${names.length} blobs of ${total} bytes, expected ${count} of ${bytes}`);
    }
  };
}

/** ollama-push's retry notices: a run that retried is still measured, but a bench reader should see why it took longer. */
export function retriesIn(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('connection problem'));
}
