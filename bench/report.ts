import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchOptions } from './options.js';
import type { Machine } from './machine.js';
import type { MethodName } from './methods.js';
import type { NoopRuns } from './noop.js';
import type { PeakRss } from './peak-rss.js';
import type { ScenarioName } from './ssh-site.js';
import { barChartSvg } from './svg-chart.js';
import type { TransferRuns } from './transfers.js';

export interface TransferRow {
  readonly method: MethodName;
  readonly scenario: ScenarioName;
  readonly bytes: number;
  readonly runsSeconds: readonly number[];
  readonly medianSeconds: number;
  /** Decimal megabytes (1e6 bytes) per second of the median run. */
  readonly mbPerSecond: number;
  /** rsync's median time over this one's, same scenario: above 1 is faster than rsync. */
  readonly speedVsRsync: number;
}

export interface NoopRow {
  readonly scenario: ScenarioName;
  readonly models: number;
  readonly runsSeconds: readonly number[];
  readonly medianSeconds: number;
  readonly connections: number;
  readonly execChannels: number;
}

export interface BenchReport {
  readonly date: string;
  readonly machine: Machine;
  readonly settings: Omit<BenchOptions, 'outDir'>;
  /** What each method runs. */
  readonly commands: Readonly<Record<MethodName, string>>;
  readonly transfers: readonly TransferRow[];
  /** Empty when GNU time is missing. */
  readonly peakRss: readonly PeakRss[];
  readonly noop: readonly NoopRow[];
  /**
   * (no-op median through the proxy - on loopback) / round-trip time: how many round trips the no-op push
   * waits for one after another, connection setup included. Null without a delay.
   */
  readonly noopSequentialRoundTrips: number | null;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function summarizeTransfers(runs: readonly TransferRuns[]): TransferRow[] {
  const rsyncMedian = (scenario: ScenarioName) => {
    const rsync = runs.find((r) => r.method === 'rsync' && r.scenario === scenario);
    if (!rsync) throw new Error(`no rsync runs for ${scenario}`);
    return median(rsync.seconds);
  };
  return runs.map((r) => {
    const medianSeconds = median(r.seconds);
    return {
      method: r.method,
      scenario: r.scenario,
      bytes: r.bytes,
      runsSeconds: r.seconds.map(round3),
      medianSeconds: round3(medianSeconds),
      mbPerSecond: round3(r.bytes / 1e6 / medianSeconds),
      speedVsRsync: round3(rsyncMedian(r.scenario) / medianSeconds),
    };
  });
}

export function summarizeNoop(runs: readonly NoopRuns[]): NoopRow[] {
  return runs.map((r) => ({
    scenario: r.scenario,
    models: r.models,
    runsSeconds: r.seconds.map(round3),
    medianSeconds: round3(median(r.seconds)),
    connections: median(r.connections),
    execChannels: median(r.execChannels),
  }));
}

export function sequentialRoundTrips(noop: readonly NoopRow[], delayMs: number): number | null {
  const loopback = noop.find((r) => r.scenario === 'loopback');
  const proxy = noop.find((r) => r.scenario === 'proxy');
  if (!loopback || !proxy || delayMs === 0) return null;
  return Math.round(((proxy.medianSeconds - loopback.medianSeconds) * 1000) / (2 * delayMs) * 10) / 10;
}

export function formatReport(report: BenchReport): string {
  const { settings } = report;
  const lines = [
    `machine: ${machineSummary(report.machine)}`,
    `payload: one model, a ${settings.sizeMiB} MiB random blob + 4 small blobs + manifest; ${settings.rounds} round(s); proxy adds ${settings.delayMs} ms each way`,
    '',
    table(
      ['method', 'scenario', 'median s', 'MB/s', 'vs rsync', 'runs (s)'],
      report.transfers.map((r) => [r.method, r.scenario, r.medianSeconds.toFixed(2), r.mbPerSecond.toFixed(1), `${r.speedVsRsync.toFixed(2)}x`, r.runsSeconds.map((s) => s.toFixed(2)).join(' ')]),
    ),
    '',
  ];
  if (report.peakRss.length === 0) lines.push('peak RSS: not measured (needs GNU time at /usr/bin/time)');
  for (const r of report.peakRss) {
    lines.push(`peak RSS of ollama-push, ${(r.blobBytes / 2 ** 20).toFixed(0)} MiB blob (loopback): ${(r.peakRssBytes / 2 ** 20).toFixed(1)} MiB (push took ${r.seconds.toFixed(2)} s)`);
  }
  for (const r of report.noop) {
    lines.push(
      `no-op push of ${r.models} models, ${r.scenario}: median ${r.medianSeconds.toFixed(2)} s; ${r.connections} ssh connection(s), ${r.execChannels} remote commands (exec channels)`,
    );
  }
  if (report.noopSequentialRoundTrips !== null) {
    lines.push(`no-op push waits for about ${report.noopSequentialRoundTrips} round trips in sequence (extra time through the proxy / RTT)`);
  }
  return lines.join('\n');
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
  await writeFile(svg, barChartSvg(report.transfers, `MB/s, ${report.settings.sizeMiB} MiB blob, median of ${report.settings.rounds}; proxy: +${report.settings.delayMs} ms each way`));
  return [json, svg];
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
