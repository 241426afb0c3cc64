import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { describeMachine } from './machine.js';
import { METHODS, type MethodName, method } from './methods.js';
import { measureNoop, type NoopRuns } from './noop.js';
import { type BenchOptions, parseBenchOptions, USAGE } from './options.js';
import { canMeasurePeakRss, measurePeakRss, type PeakRss } from './peak-rss.js';
import { killRunning } from './processes.js';
import {
  type BenchReport,
  formatReport,
  judgeTargets,
  sequentialRoundTrips,
  summarizeNoop,
  summarizeResume,
  summarizeTransfers,
  writeReport,
} from './report.js';
import { measureResume } from './resume.js';
import { type ScenarioName, type SshSite, startSshSite } from './ssh-site.js';
import { type TensorStore, writeTensorStore } from '../test/harness/tensor-store.js';
import { type SyntheticStore, writeSyntheticStore } from '../test/harness/synthetic-store.js';
import { onTeardown, teardown, teardownOnSignals } from './teardown.js';
import { allBlobsArrived, largeBlobArrived, measureTransfers, type TransferRuns } from './transfers.js';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results', import.meta.url));
/** The no-op push: this many small models, all already on the destination. */
const NOOP_MODELS = 4;
/** The resume scenario runs over the 40 ms link to the destination with the slow login shell, as a user's would be. */
const RESUME_SCENARIO = 'proxy-slowrc';
/** The per-tensor model is pushed over the LAN (loopback), with either HOME. */
const TENSOR_SCENARIOS: readonly ScenarioName[] = ['loopback-slowrc', 'loopback'];
/** --smoke keeps to a minute: the no-ops and the per-tensor model in fewer scenarios (the transfers in all). */
const SMOKE_NOOP_SCENARIOS: readonly ScenarioName[] = ['loopback', 'loopback-slowrc'];
const SMOKE_TENSOR_SCENARIOS: readonly ScenarioName[] = ['loopback-slowrc'];

const benchStarted = performance.now();
/** Each line says when, so that a step that hangs shows where (the smoke test prints this when it stops the bench). */
const log = (line: string) => process.stderr.write(`[${((performance.now() - benchStarted) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

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
    log(`bench failed: ${(error as Error).stack ?? (error as Error).message}`);
    process.exitCode = 1;
  } finally {
    await teardown();
  }
}

async function runBench(options: BenchOptions): Promise<void> {
  const machine = await describeMachine();
  if (machine.loadAverage1m > machine.cores / 2) {
    log(`bench: load average ${machine.loadAverage1m} on ${machine.cores} cores: other work will slow every method and inflate the machine-wide CPU`);
  }
  const work = await mkdtemp(join(os.tmpdir(), 'ollama-push-bench-'));
  onTeardown(() => rm(work, { recursive: true, force: true }));
  const want = (part: BenchOptions['parts'][number]) => options.parts.includes(part);
  log(`bench: writing a ${options.sizeMiB} MiB synthetic store in ${work}`);
  const store = await writeSyntheticStore(join(work, 'store'), [options.sizeMiB]);
  const noopStore = await writeSyntheticStore(join(work, 'store-noop'), Array<number>(NOOP_MODELS).fill(1));
  log(`bench: calibrating a ${options.rcSeconds} s ~/.bashrc, starting the sshds`);
  const site = await startSshSite(options.delayMs, work, options.rcSeconds);
  onTeardown(() => site.stop());
  onTeardown(killRunning);
  log(
    `bench: ssh <host> true: ${site.loginShell.sshTrueSeconds.emptyHome.toFixed(3)} s with the empty HOME, ` +
      `${site.loginShell.sshTrueSeconds.slowRc.toFixed(3)} s with the slow ~/.bashrc (${site.loginShell.loopCount} steps)`,
  );

  const destRoot = join(work, 'dest');
  await mkdir(destRoot);
  const transferRuns: TransferRuns[] = [];
  if (want('transfers')) {
    transferRuns.push(
      ...(await measureTransfers({
        site,
        payload: 'blob',
        store,
        methods: METHODS,
        scenarios: site.scenarios,
        rounds: options.rounds,
        destRoot,
        checkArrived: largeBlobArrived(store),
        log,
      })),
    );
  }
  const peakRss = want('rss') ? await peakRssRuns(site, options, store, work) : [];
  const noopRuns: NoopRuns[] = [];
  // One after the other: each run's share of sshd's log and CPU must be its own.
  if (want('noop')) {
    const scenarios = options.smoke ? SMOKE_NOOP_SCENARIOS.map((name) => site.scenario(name)) : site.scenarios;
    for (const scenario of scenarios) noopRuns.push(await measureNoop(site, scenario, 'models', noopStore, options.rounds, work));
  }

  let tensor: TensorStore | undefined;
  if (want('tensor')) {
    log(`bench: writing a per-tensor model of ${options.tensorBlobs} blobs (1 KiB to ${options.tensorMaxKiB} KiB)`);
    tensor = await writeTensorStore(join(work, 'store-tensor'), { blobs: options.tensorBlobs, minBytes: 1024, maxBytes: options.tensorMaxKiB * 1024 });
    const scenarios = (options.smoke ? SMOKE_TENSOR_SCENARIOS : TENSOR_SCENARIOS).map((name) => site.scenario(name));
    transferRuns.push(
      ...(await measureTransfers({
        site,
        payload: 'tensor',
        store: tensor,
        methods: [method('ollama-push'), method('rsync')],
        scenarios,
        rounds: options.rounds,
        destRoot,
        checkArrived: allBlobsArrived(tensor.blobCount, tensor.blobBytes),
        log,
      })),
    );
    for (const scenario of scenarios) noopRuns.push(await measureNoop(site, scenario, 'tensor', tensor, options.rounds, work));
  }

  let resume: BenchReport['resume'] = null;
  if (want('resume')) {
    log(`bench: writing a ${options.resumeMiB} MiB store for the resume scenario`);
    const resumeStore = await writeSyntheticStore(join(work, 'store-resume'), [options.resumeMiB]);
    const scenario = site.scenario(RESUME_SCENARIO);
    resume = summarizeResume(await measureResume(site, scenario, resumeStore, options.killAtPercent / 100, options.rounds, join(work), log));
  }

  const noop = summarizeNoop(noopRuns);
  const { outDir, ...settings } = options;
  const partial: Omit<BenchReport, 'targets'> = {
    date: new Date().toISOString(),
    machine,
    loadAverageAtEnd: Math.round(os.loadavg()[0] * 100) / 100,
    settings,
    loginShell: site.loginShell,
    destCpuMethod: site.destCpuMethod,
    tensorStore: tensor
      ? { blobCount: tensor.blobCount, blobBytes: tensor.blobBytes, medianBlobBytes: tensor.medianBlobBytes, blobsOver1MiB: tensor.blobsOver1MiB }
      : null,
    commands: Object.fromEntries(METHODS.map((m) => [m.name, m.shape])) as Record<MethodName, string>,
    transfers: summarizeTransfers(transferRuns),
    peakRss,
    noop,
    noopSequentialRoundTrips: sequentialRoundTrips(noop, options.delayMs),
    resume,
  };
  const report: BenchReport = { ...partial, targets: judgeTargets(partial) };
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
