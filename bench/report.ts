import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Machine } from './machine.js';
import type { MethodName } from './methods.js';
import type { NoopPayload, NoopRuns } from './noop.js';
import type { BenchOptions } from './options.js';
import type { PeakRss } from './peak-rss.js';
import type { ResumeRuns } from './resume.js';
import type { RunSample } from './sample.js';
import type { LoginShell, ScenarioName } from './ssh-site.js';
import { median, round3 } from './stats.js';
import { barChartSvg } from './svg-chart.js';
import type { PayloadName, TransferRuns } from './transfers.js';

/** Medians over the successful runs of one method in one scenario. */
export interface SampleSummary {
  /** Successful runs. */
  readonly runs: number;
  readonly runsSeconds: readonly number[];
  readonly medianSeconds: number;
  /** Whole machine, /proc/stat (see RunSample.machineCpuSeconds). */
  readonly machineCpuSeconds: number;
  /** The client command and its children; null without GNU time. */
  readonly clientCpuSeconds: number | null;
  /** sshd and everything it ran. */
  readonly destCpuSeconds: number;
  /** The bench process (the latency proxy). */
  readonly proxyCpuSeconds: number;
  /** Client + destination: the method's own CPU, which other work on the machine does not inflate; null without GNU time. */
  readonly ownCpuSeconds: number | null;
  /** Largest of the runs; null without GNU time. */
  readonly peakRssBytes: number | null;
  readonly connections: number;
  readonly execChannels: number;
}

export interface TransferRow extends SampleSummary {
  readonly payload: PayloadName;
  readonly method: MethodName;
  readonly scenario: ScenarioName;
  readonly bytes: number;
  /** Decimal megabytes (1e6 bytes) per second of the median run. */
  readonly mbPerSecond: number;
  /** This one's median time over rsync's, same payload and scenario: below 1 is faster than rsync (the issues' ratio). */
  readonly timeVsRsync: number;
  /** Machine CPU over rsync's. */
  readonly machineCpuVsRsync: number;
  /** Own (client + destination) CPU over rsync's; null without GNU time. */
  readonly ownCpuVsRsync: number | null;
  readonly failures: readonly string[];
}

export interface NoopRow extends SampleSummary {
  readonly payload: NoopPayload;
  readonly scenario: ScenarioName;
  readonly models: number;
  readonly failure?: string;
}

export interface ResumeRow {
  readonly scenario: ScenarioName;
  readonly storeBytes: number;
  readonly killAt: number;
  /** Runs that were killed before they finished (the others resume nothing). */
  readonly killedRuns: number;
  readonly medianWireBeforeKill: number;
  readonly medianArrivedBytes: number;
  readonly medianMissingBytes: number;
  readonly medianKeptBytes: number;
  readonly medianResumeWireBytes: number;
  /** Median over the killed runs of resume wire bytes / missing bytes. */
  readonly medianWireOverMissing: number | null;
  readonly runs: ResumeRuns['runs'];
  readonly failures: readonly string[];
}

export interface Target {
  readonly issue: 13 | 14;
  readonly target: string;
  /** null: not measured in this run. */
  readonly met: boolean | null;
  readonly figures: string;
}

export interface TensorShape {
  readonly blobCount: number;
  readonly blobBytes: number;
  readonly medianBlobBytes: number;
  readonly blobsOver1MiB: number;
}

export interface BenchReport {
  readonly date: string;
  readonly machine: Machine;
  /** 1-minute load average when the bench ended. */
  readonly loadAverageAtEnd: number;
  readonly settings: Omit<BenchOptions, 'outDir'>;
  readonly loginShell: LoginShell;
  /** How "dest cpu" is counted (SshSite.destCpuMethod). */
  readonly destCpuMethod: string;
  readonly tensorStore: TensorShape | null;
  /** What each method runs. */
  readonly commands: Readonly<Record<MethodName, string>>;
  readonly transfers: readonly TransferRow[];
  /** Empty when GNU time is missing. */
  readonly peakRss: readonly PeakRss[];
  readonly noop: readonly NoopRow[];
  /**
   * (no-op median through the proxy - on loopback) / round-trip time, empty HOME: how many round trips the
   * no-op push waits for one after another, connection setup included. Null without a delay.
   */
  readonly noopSequentialRoundTrips: number | null;
  readonly resume: ResumeRow | null;
  readonly targets: readonly Target[];
}

export function summarizeSamples(samples: readonly RunSample[]): SampleSummary {
  const pick = (f: (s: RunSample) => number) => round3(median(samples.map(f)));
  const hasRusage = samples.length > 0 && samples.every((s) => s.clientCpuSeconds !== null);
  return {
    runs: samples.length,
    runsSeconds: samples.map((s) => round3(s.seconds)),
    medianSeconds: pick((s) => s.seconds),
    machineCpuSeconds: pick((s) => s.machineCpuSeconds),
    clientCpuSeconds: hasRusage ? pick((s) => s.clientCpuSeconds!) : null,
    destCpuSeconds: pick((s) => s.destCpuSeconds),
    proxyCpuSeconds: pick((s) => s.proxyCpuSeconds),
    ownCpuSeconds: hasRusage ? pick((s) => s.clientCpuSeconds! + s.destCpuSeconds) : null,
    peakRssBytes: hasRusage ? Math.max(...samples.map((s) => s.peakRssBytes!)) : null,
    connections: median(samples.map((s) => s.connections)),
    execChannels: median(samples.map((s) => s.execChannels)),
  };
}

export function summarizeTransfers(runs: readonly TransferRuns[]): TransferRow[] {
  const summaries = runs.map((r) => ({ r, s: summarizeSamples(r.samples) }));
  return summaries.map(({ r, s }) => {
    const rsync = summaries.find((o) => o.r.method === 'rsync' && o.r.scenario === r.scenario && o.r.payload === r.payload)?.s;
    const ratio = (a: number | null, b: number | null | undefined) => (a === null || b === null || b === undefined || !(b > 0) ? Number.NaN : round3(a / b));
    return {
      payload: r.payload,
      method: r.method,
      scenario: r.scenario,
      bytes: r.bytes,
      ...s,
      mbPerSecond: round3(r.bytes / 1e6 / s.medianSeconds),
      timeVsRsync: ratio(s.medianSeconds, rsync?.medianSeconds),
      machineCpuVsRsync: ratio(s.machineCpuSeconds, rsync?.machineCpuSeconds),
      ownCpuVsRsync: s.ownCpuSeconds === null ? null : ratio(s.ownCpuSeconds, rsync?.ownCpuSeconds),
      failures: r.failures,
    };
  });
}

export function summarizeNoop(runs: readonly NoopRuns[]): NoopRow[] {
  return runs.map((r) => ({
    payload: r.payload,
    scenario: r.scenario,
    models: r.models,
    ...summarizeSamples(r.samples),
    ...(r.failure === undefined ? {} : { failure: r.failure }),
  }));
}

export function summarizeResume(r: ResumeRuns): ResumeRow {
  const killed = r.runs.filter((run) => run.killed);
  const med = (f: (run: ResumeRuns['runs'][number]) => number) => Math.round(median(killed.map(f)));
  return {
    scenario: r.scenario,
    storeBytes: r.storeBytes,
    killAt: r.killAt,
    killedRuns: killed.length,
    medianWireBeforeKill: med((x) => x.wireBeforeKill),
    medianArrivedBytes: med((x) => x.arrivedBytes),
    medianMissingBytes: med((x) => x.missingBytes),
    medianKeptBytes: med((x) => x.keptBytes),
    medianResumeWireBytes: med((x) => x.resumeWireBytes),
    medianWireOverMissing: killed.length ? round3(median(killed.map((x) => x.resumeWireBytes / Math.max(1, x.missingBytes)))) : null,
    runs: r.runs,
    failures: r.failures,
  };
}

export function sequentialRoundTrips(noop: readonly NoopRow[], delayMs: number): number | null {
  const loopback = noop.find((r) => r.payload === 'models' && r.scenario === 'loopback');
  const proxy = noop.find((r) => r.payload === 'models' && r.scenario === 'proxy');
  if (!loopback?.runs || !proxy?.runs || delayMs === 0) return null;
  return Math.round((((proxy.medianSeconds - loopback.medianSeconds) * 1000) / (2 * delayMs)) * 10) / 10;
}

const MB = 1e6;
const MiB = 2 ** 20;
const x = (n: number | null) => (n === null || Number.isNaN(n) ? 'n/a' : `${n.toFixed(2)}x`);
const s2 = (n: number | null) => (n === null || Number.isNaN(n) ? 'n/a' : n.toFixed(2));

/** The targets of issues 14 and 13, judged on this run's medians. */
export function judgeTargets(report: Omit<BenchReport, 'targets'>): Target[] {
  const targets: Target[] = [];
  const slow = `${report.loginShell.targetSeconds} s login shell`;
  const row = (payload: PayloadName, method: MethodName, scenario: ScenarioName) =>
    report.transfers.find((r) => r.payload === payload && r.method === method && r.scenario === scenario);
  const vsRsync = (payload: PayloadName, scenario: ScenarioName, limit: number, what: string, issue: 13 | 14) => {
    const op = row(payload, 'ollama-push', scenario);
    const rsync = row(payload, 'rsync', scenario);
    if (!op || !rsync) return;
    const ok = op.runs > 0 && rsync.runs > 0;
    targets.push({
      issue,
      target: `${what}: time <= ${limit.toFixed(2)}x rsync`,
      met: ok ? op.timeVsRsync <= limit : false,
      figures: ok
        ? `${x(op.timeVsRsync)} (${op.medianSeconds.toFixed(2)} s vs ${rsync.medianSeconds.toFixed(2)} s)`
        : `ollama-push failed: ${op.failures[0] ?? rsync.failures[0] ?? 'no runs'}`,
    });
  };
  const cpu = (scenario: ScenarioName, what: string) => {
    const op = row('blob', 'ollama-push', scenario);
    const rsync = row('blob', 'rsync', scenario);
    if (!op?.runs || !rsync?.runs) return;
    targets.push({
      issue: 14,
      target: `${what}: machine CPU <= 1.20x rsync's`,
      met: op.machineCpuVsRsync <= 1.2,
      figures:
        `machine ${x(op.machineCpuVsRsync)} (${s2(op.machineCpuSeconds)} s vs ${s2(rsync.machineCpuSeconds)} s); ` +
        `client+destination ${x(op.ownCpuVsRsync)} (${s2(op.ownCpuSeconds)} s vs ${s2(rsync.ownCpuSeconds)} s); ` +
        `destination ${s2(op.destCpuSeconds)} s vs ${s2(rsync.destCpuSeconds)} s`,
    });
  };
  vsRsync('blob', 'loopback-slowrc', 1.0, `LAN (loopback), ${slow}`, 14);
  vsRsync('blob', 'loopback', 0.9, 'LAN (loopback), empty HOME', 14);
  cpu('loopback-slowrc', `LAN, ${slow}`);
  cpu('loopback', 'LAN, empty HOME');
  vsRsync('blob', 'proxy-slowrc', 0.45, `${2 * report.settings.delayMs} ms RTT, ${slow}`, 14);
  vsRsync('blob', 'proxy', 0.45, `${2 * report.settings.delayMs} ms RTT, empty HOME`, 14);
  if (report.resume) {
    const r = report.resume;
    targets.push({
      issue: 14,
      target: 'resume after kill -9: wire bytes <= missing bytes + 10%',
      met: r.medianWireOverMissing === null ? null : r.medianWireOverMissing <= 1.1,
      figures:
        r.medianWireOverMissing === null
          ? `no run was killed before it finished${r.failures.length ? ` (${r.failures[0]})` : ''}`
          : `${x(r.medianWireOverMissing)}: ${(r.medianResumeWireBytes / MB).toFixed(1)} MB on the wire for ${(r.medianMissingBytes / MB).toFixed(1)} MB missing ` +
            `(killed at ${(r.medianWireBeforeKill / MB).toFixed(1)} MB of ${(r.storeBytes / MB).toFixed(1)} MB; resumed push kept ${(r.medianKeptBytes / MB).toFixed(1)} MB of the ${(r.medianArrivedBytes / MB).toFixed(1)} MB there; ${r.scenario})`,
    });
  }
  const rss = [...report.peakRss.map((p) => p.peakRssBytes), ...report.transfers.filter((t) => t.method === 'ollama-push' && t.peakRssBytes !== null).map((t) => t.peakRssBytes!)];
  if (rss.length) {
    const peak = Math.max(...rss);
    const [small, big] = report.peakRss;
    const flat = small && big ? big.peakRssBytes <= small.peakRssBytes * 1.1 + 8 * MiB : true;
    targets.push({
      issue: 14,
      target: 'peak RSS <= 200 MB, flat with blob size',
      met: peak <= 200 * MB && flat,
      figures:
        `largest ${(peak / MB).toFixed(0)} MB (${(peak / MiB).toFixed(1)} MiB) over every ollama-push run` +
        (small && big ? `; ${(small.blobBytes / MiB).toFixed(0)} MiB blob ${(small.peakRssBytes / MiB).toFixed(1)} MiB, ${(big.blobBytes / MiB).toFixed(0)} MiB blob ${(big.peakRssBytes / MiB).toFixed(1)} MiB` : ''),
    });
  }
  const noop = (payload: NoopPayload, scenario: ScenarioName, what: string, issue: 13 | 14) => {
    const r = report.noop.find((n) => n.payload === payload && n.scenario === scenario);
    if (!r) return;
    targets.push({
      issue,
      target: `${what}: under 1 s`,
      met: r.failure === undefined && r.runs > 0 ? r.medianSeconds < 1 : false,
      figures:
        r.failure === undefined && r.runs > 0
          ? `${r.medianSeconds.toFixed(2)} s; ${r.connections} connection(s), ${r.execChannels} remote command(s)`
          : `failed: ${r.failure ?? 'no runs'}`,
    });
  };
  noop('models', 'loopback-slowrc', `no-op push of 4 models, LAN, ${slow}`, 14);
  noop('models', 'proxy-slowrc', `no-op push of 4 models, ${2 * report.settings.delayMs} ms RTT, ${slow}`, 14);
  vsRsync('tensor', 'loopback-slowrc', 1.0, `per-tensor model (${report.tensorStore?.blobCount ?? '?'} blobs), LAN, ${slow}`, 13);
  vsRsync('tensor', 'loopback', 1.0, `per-tensor model (${report.tensorStore?.blobCount ?? '?'} blobs), LAN, empty HOME`, 13);
  noop('tensor', 'loopback-slowrc', `no-op push of the per-tensor model, LAN, ${slow}`, 13);
  noop('tensor', 'loopback', 'no-op push of the per-tensor model, LAN, empty HOME', 13);
  return targets;
}

function loopSteps({ loopCountRange: [fewest, most] }: LoginShell): string {
  return fewest === most ? `${fewest}` : `${fewest} to ${most}`;
}

export function formatReport(report: BenchReport): string {
  const { settings, loginShell } = report;
  const lines = [
    `machine: ${machineSummary(report.machine)}; load at end ${report.loadAverageAtEnd}`,
    `payload: one model, a ${settings.sizeMiB} MiB random blob + 4 small blobs + manifest; ${settings.rounds} round(s), medians; proxy adds ${settings.delayMs} ms each way`,
    `login shell: the -slowrc scenarios' ~/.bashrc costs ${loginShell.targetSeconds} s of CPU (a loop of ${loopSteps(loginShell)} steps, calibrated before each run); ` +
      `ssh <host> true takes ${loginShell.sshTrueSeconds.slowRc.toFixed(2)} s with it, ${loginShell.sshTrueSeconds.emptyHome.toFixed(2)} s with the empty HOME`,
    'cpu: "machine" is /proc/stat (every process, the proxy and other users of the machine included), "client" the command and its children, "dest" sshd and all it ran',
    `dest cpu counted in ${report.destCpuMethod}`,
  ];
  const blobRows = report.transfers.filter((r) => r.payload === 'blob');
  if (blobRows.length) lines.push('', transferTable(blobRows));
  lines.push('');
  if (report.tensorStore) {
    const t = report.tensorStore;
    lines.push(
      `per-tensor model: ${t.blobCount} blobs, ${(t.blobBytes / MiB).toFixed(0)} MiB, median ${(t.medianBlobBytes / 1024).toFixed(0)} KiB, ${t.blobsOver1MiB} over 1 MiB; ollama-push of the model vs rsync -a of its blobs/ and manifests/`,
      '',
      transferTable(report.transfers.filter((r) => r.payload === 'tensor')),
      '',
    );
  }
  if (report.peakRss.length === 0 && settings.parts.includes('rss')) lines.push('peak RSS: not measured (needs GNU time at /usr/bin/time)');
  for (const r of report.peakRss) {
    lines.push(`peak RSS of ollama-push, ${(r.blobBytes / MiB).toFixed(0)} MiB blob (loopback): ${(r.peakRssBytes / MiB).toFixed(1)} MiB (push took ${r.seconds.toFixed(2)} s)`);
  }
  for (const r of report.noop) {
    const what = r.payload === 'models' ? `${r.models} models` : 'the per-tensor model';
    lines.push(
      r.failure !== undefined || r.runs === 0
        ? `no-op push of ${what}, ${r.scenario}: FAILED: ${r.failure ?? 'no runs'}`
        : `no-op push of ${what}, ${r.scenario}: median ${r.medianSeconds.toFixed(2)} s; ${r.connections} ssh connection(s), ${r.execChannels} remote commands (exec channels); destination cpu ${r.destCpuSeconds.toFixed(2)} s`,
    );
  }
  if (report.noopSequentialRoundTrips !== null) {
    lines.push(`no-op push waits for about ${report.noopSequentialRoundTrips} round trips in sequence (extra time through the proxy / RTT, empty HOME)`);
  }
  if (report.resume) {
    const r = report.resume;
    lines.push(
      '',
      `resume (${r.scenario}): push of ${(r.storeBytes / MB).toFixed(1)} MB killed with SIGKILL once ${(r.killAt * 100).toFixed(0)}% crossed the proxy, then run again; ${r.killedRuns} of ${r.runs.length} run(s) killed in time`,
    );
    if (r.runs.length) {
      lines.push(
        table(
          ['run', 'wire before kill MB', 'on dest MB', 'missing MB', 'kept MB', 'resume wire MB', 'wire/missing', 'resume s'],
          r.runs.map((run, i) => [
            `${i + 1}${run.killed ? '' : ' (not killed)'}`,
            (run.wireBeforeKill / MB).toFixed(1),
            (run.arrivedBytes / MB).toFixed(1),
            (run.missingBytes / MB).toFixed(1),
            (run.keptBytes / MB).toFixed(1),
            (run.resumeWireBytes / MB).toFixed(1),
            x(run.resumeWireBytes / Math.max(1, run.missingBytes)),
            run.resume.seconds.toFixed(2),
          ]),
          1,
        ),
      );
    }
    for (const f of r.failures) lines.push(`resume run FAILED: ${f}`);
  }
  lines.push('', 'targets (issue 14: performance; issue 13: per-tensor models):');
  for (const t of report.targets) lines.push(`  [${t.met === null ? 'n/a' : t.met ? 'met' : 'NOT met'}] #${t.issue} ${t.target}: ${t.figures}`);
  return lines.join('\n');
}

function transferTable(rows: readonly TransferRow[]): string {
  return table(
    ['method', 'scenario', 'median s', 'MB/s', 'time/rsync', 'cpu s', 'cpu/rsync', 'client cpu', 'dest cpu', 'cmds', 'runs (s)'],
    rows.map((r) =>
      r.runs === 0
        ? [r.method, r.scenario, 'FAILED', '', '', '', '', '', '', '', r.failures[0] ?? '']
        : [
            r.method,
            r.scenario,
            r.medianSeconds.toFixed(2),
            r.mbPerSecond.toFixed(1),
            x(r.timeVsRsync),
            s2(r.machineCpuSeconds),
            x(r.machineCpuVsRsync),
            s2(r.clientCpuSeconds),
            s2(r.destCpuSeconds),
            String(r.execChannels),
            r.runsSeconds.map((v) => v.toFixed(2)).join(' ') + (r.failures.length ? ` (+${r.failures.length} failed: ${r.failures[0]})` : ''),
          ],
    ),
    2,
  );
}

function machineSummary(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, load ${m.loadAverage1m}, ${m.kernel}; Node ${m.node}; ${m.openssh}; ${m.rsync}; ssh2 native crypto: ${m.ssh2NativeCrypto ? 'yes' : 'NO'}`;
}

/** Writes latest.json and latest.svg into dir; returns their paths. */
export async function writeReport(report: BenchReport, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'latest.json');
  const svg = join(dir, 'latest.svg');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  const bars = report.transfers
    .filter((r) => r.runs > 0)
    .map((r) => ({ method: r.method, scenario: r.payload === 'tensor' ? `tensor ${r.scenario}` : r.scenario, mbPerSecond: r.mbPerSecond }));
  await writeFile(
    svg,
    barChartSvg(bars, `MB/s, median of ${report.settings.rounds}: ${report.settings.sizeMiB} MiB blob; per-tensor model; proxy +${report.settings.delayMs} ms each way; -slowrc: ${report.loginShell.targetSeconds} s ~/.bashrc`),
  );
  return [json, svg];
}

/** Left-aligns the first `textColumns` columns and the last one, right-aligns the numbers between. */
function table(header: string[], rows: string[][], textColumns: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < textColumns || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
