import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type BenchStore, ollamaPushArgs } from './methods.js';
import { canMeasureRusage, runMeasured } from './processes.js';
import type { Scenario, SshSite } from './ssh-site.js';

export interface PeakRss {
  readonly blobBytes: number;
  readonly peakRssBytes: number;
  readonly seconds: number;
}

export function canMeasurePeakRss(): boolean {
  return canMeasureRusage();
}

/** Pushes the store once into a fresh dir under GNU time, and returns ollama-push's peak resident set. */
export async function measurePeakRss(site: SshSite, scenario: Scenario, store: BenchStore & { largeBlob: { size: number } }, workDir: string): Promise<PeakRss> {
  const dest = join(workDir, 'rss-dest');
  await mkdir(dest);
  try {
    const { seconds, peakRssBytes } = await runMeasured(process.execPath, ollamaPushArgs(store, scenario.alias, dest), { env: site.env });
    if (peakRssBytes === null || peakRssBytes <= 0) throw new Error('GNU time reported no peak RSS');
    return { blobBytes: store.largeBlob.size, peakRssBytes, seconds };
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
}
