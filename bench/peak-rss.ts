import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ollamaPushArgs } from './methods.js';
import { runTimed } from './processes.js';
import type { Scenario, SshSite } from './ssh-site.js';
import type { SyntheticStore } from '../test/harness/synthetic-store.js';

/** GNU time reports the child's exact peak RSS (getrusage ru_maxrss), which polling /proc could miss. */
const GNU_TIME = '/usr/bin/time';

export interface PeakRss {
  readonly blobBytes: number;
  readonly peakRssBytes: number;
  readonly seconds: number;
}

export function canMeasurePeakRss(): boolean {
  return existsSync(GNU_TIME);
}

/** Pushes the store once into a fresh dir under GNU time, and returns ollama-push's peak resident set. */
export async function measurePeakRss(site: SshSite, scenario: Scenario, store: SyntheticStore, workDir: string): Promise<PeakRss> {
  const dest = join(workDir, 'rss-dest');
  const report = join(workDir, 'rss.txt');
  await mkdir(dest);
  try {
    const { seconds } = await runTimed(GNU_TIME, ['-f', '%M', '-o', report, process.execPath, ...ollamaPushArgs(store, scenario.alias, dest)], {
      env: site.env,
    });
    const kib = Number((await readFile(report, 'utf8')).trim().split('\n').pop());
    if (!Number.isFinite(kib) || kib <= 0) throw new Error(`${GNU_TIME} wrote no peak RSS to ${report}`);
    return { blobBytes: store.largeBlob.size, peakRssBytes: kib * 1024, seconds };
  } finally {
    await rm(dest, { recursive: true, force: true });
    await rm(report, { force: true });
  }
}
