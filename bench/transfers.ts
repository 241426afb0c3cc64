import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { METHODS, type MethodName, type TransferMethod } from './methods.js';
import type { ScenarioName, SshSite } from './ssh-site.js';
import type { SyntheticStore } from '../test/harness/synthetic-store.js';

export interface TransferRuns {
  readonly method: MethodName;
  readonly scenario: ScenarioName;
  readonly bytes: number;
  /** Wall time of each run, in the order run. */
  readonly seconds: number[];
}

export interface TransferBenchOptions {
  readonly site: SshSite;
  readonly store: SyntheticStore;
  readonly rounds: number;
  /** Where the fresh destination dirs are made (and removed). */
  readonly destRoot: string;
  readonly log: (line: string) => void;
}

/**
 * Every method, every scenario, `rounds` times, all moving the same files through the same sshd. Within
 * a round the methods take turns, and the one that goes first rotates from round to round, so none always
 * runs right after the same neighbour. Each run writes into a fresh empty dir, checked and removed right
 * after it.
 *
 * No `sync` or cache dropping: the source was just written and stays in the page cache for every run (for sizes
 * well below RAM), and no method fsyncs, so each finishes when its bytes are in the destination's
 * page cache, which is what a user waits for. Removing the destination right away discards its dirty pages
 * before writeback, so one run's flush does not land in the next.
 */
export async function measureTransfers(options: TransferBenchOptions): Promise<TransferRuns[]> {
  const { site, store, rounds, destRoot, log } = options;
  const results = new Map<string, TransferRuns>();
  let runNumber = 0;
  for (let round = 0; round < rounds; round++) {
    for (const scenario of site.scenarios) {
      for (const method of rotate(METHODS, round)) {
        const dest = join(destRoot, `run-${++runNumber}`);
        await mkdir(dest);
        const seconds = await method.run({ site, scenario, store, dest });
        await checkArrived(method, dest, store);
        await rm(dest, { recursive: true, force: true });
        log(`round ${round + 1}/${rounds} ${scenario.name.padEnd(8)} ${method.name.padEnd(11)} ${seconds.toFixed(2)} s`);
        const key = `${method.name} ${scenario.name}`;
        const entry = results.get(key) ?? { method: method.name, scenario: scenario.name, bytes: method.bytes(store), seconds: [] };
        entry.seconds.push(seconds);
        results.set(key, entry);
      }
    }
  }
  return [...results.values()];
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** A method that "finished" without delivering the large blob would make its number meaningless. */
async function checkArrived(method: TransferMethod, dest: string, store: SyntheticStore): Promise<void> {
  const path = join(dest, 'blobs', `sha256-${store.largeBlob.hex}`);
  const size = (await stat(path).catch(() => undefined))?.size;
  if (size !== store.largeBlob.size) {
    throw new Error(`${method.name} finished but ${path} has ${size ?? 'no'} bytes, expected ${store.largeBlob.size}`);
  }
}
