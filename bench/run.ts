import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine } from './machine.js';
import { METHODS, type MethodName } from './methods.js';
import { measureNoop, type NoopRuns } from './noop.js';
import { type BenchOptions, parseBenchOptions, USAGE } from './options.js';
import { canMeasurePeakRss, measurePeakRss, type PeakRss } from './peak-rss.js';
import { killRunning } from './processes.js';
import { type BenchReport, formatReport, sequentialRoundTrips, summarizeNoop, summarizeTransfers, writeReport } from './report.js';
import { startSshSite, type SshSite } from './ssh-site.js';
import { type SyntheticStore, writeSyntheticStore } from '../test/harness/synthetic-store.js';
import { onTeardown, teardown, teardownOnSignals } from './teardown.js';
import { measureTransfers } from './transfers.js';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results', import.meta.url));
/** The no-op push: this many small models, all already on the destination. */
const NOOP_MODELS = 4;

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: string[]): Promise<void> {
  let options: BenchOptions | 'help';
  try {
    options = parseBenchOptions(argv, RESULTS_DIR);
  } catch (error) {
    log(`bench: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  teardownOnSignals();
  try {
    await runBench(options);
  } catch (error) {
    log(`bench failed: ${(error as Error).message}`);
    process.exitCode = 1;
  } finally {
    await teardown();
  }
}

async function runBench(options: BenchOptions): Promise<void> {
  const machine = await describeMachine();
  const work = await mkdtemp(join(os.tmpdir(), 'ollama-push-bench-'));
  onTeardown(() => rm(work, { recursive: true, force: true }));
  log(`bench: writing a ${options.sizeMiB} MiB synthetic store in ${work}`);
  const store = await writeSyntheticStore(join(work, 'store'), [options.sizeMiB]);
  const noopStore = await writeSyntheticStore(join(work, 'store-noop'), Array<number>(NOOP_MODELS).fill(1));
  const emptyHome = join(work, 'remote-home');
  await mkdir(emptyHome);
  const site = await startSshSite(options.delayMs, emptyHome);
  onTeardown(() => site.stop());
  onTeardown(killRunning);

  const destRoot = join(work, 'dest');
  await mkdir(destRoot);
  const transfers = summarizeTransfers(await measureTransfers({ site, store, rounds: options.rounds, destRoot, log }));
  const peakRss = await peakRssRuns(site, options, store, work);
  const noopRuns: NoopRuns[] = [];
  // One after the other: each run's share of sshd's log must be its own.
  for (const scenario of site.scenarios) noopRuns.push(await measureNoop(site, scenario, noopStore, options.rounds, work));
  const noop = summarizeNoop(noopRuns);

  const { outDir, ...settings } = options;
  const report: BenchReport = {
    date: new Date().toISOString(),
    machine,
    settings,
    commands: Object.fromEntries(METHODS.map((m) => [m.name, m.shape])) as Record<MethodName, string>,
    transfers,
    peakRss,
    noop,
    noopSequentialRoundTrips: sequentialRoundTrips(noop, options.delayMs),
  };
  process.stdout.write(`${formatReport(report)}\n`);
  const written = await writeReport(report, outDir);
  log(`bench: wrote ${written.join(' and ')}`);
}

/** ollama-push's peak RSS on loopback, with the transfer store and with a store holding a larger blob. */
async function peakRssRuns(site: SshSite, options: BenchOptions, store: SyntheticStore, work: string): Promise<PeakRss[]> {
  if (!canMeasurePeakRss()) {
    log('bench: /usr/bin/time (GNU time) not found; skipping peak RSS');
    return [];
  }
  const loopback = site.scenarios.find((s) => s.name === 'loopback')!;
  const atDefault = await measurePeakRss(site, loopback, store, work);
  log(`bench: writing a ${options.rssSizeMiB} MiB synthetic store for peak RSS`);
  const bigDir = join(work, 'store-rss');
  const big = await writeSyntheticStore(bigDir, [options.rssSizeMiB]);
  try {
    return [atDefault, await measurePeakRss(site, loopback, big, work)];
  } finally {
    await rm(bigDir, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
