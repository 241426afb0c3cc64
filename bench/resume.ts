import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BenchStore, ollamaPushArgs } from './methods.js';
import { firstLine, runMeasured, spawnTracked } from './processes.js';
import { type RunSample, sampleRun } from './sample.js';
import { retriesIn } from './transfers.js';
import type { Scenario, ScenarioName, SshSite } from './ssh-site.js';

export interface ResumeRun {
  /** False when the push finished before it reached the kill point (nothing to resume). */
  readonly killed: boolean;
  /** Client-to-server bytes through the proxy from the start of the killed push until its connection closed. */
  readonly wireBeforeKill: number;
  /** Bytes on the destination's disk after the kill (allocated data of every file under the destination dir). */
  readonly arrivedBytes: number;
  /** The store's bytes minus those: what a perfect resume would still send. */
  readonly missingBytes: number;
  /** What the resumed push found staged and kept (its plan's stagedBytes, all blobs). */
  readonly keptBytes: number;
  /** Client-to-server bytes through the proxy during the resumed push (SSH framing and commands included). */
  readonly resumeWireBytes: number;
  /** Payload bytes the resumed push says it sent (its --json bytesSent). */
  readonly resumeBytesSent: number;
  readonly resume: RunSample;
}

export interface ResumeRuns {
  readonly scenario: ScenarioName;
  readonly storeBytes: number;
  /** The push is killed once this share of the store has crossed the proxy. */
  readonly killAt: number;
  readonly runs: ResumeRun[];
  readonly failures: string[];
}

interface PushJson {
  bytesSent: number;
  blobs: { status: string; stagedBytes: number }[];
}

/**
 * A push killed (SIGKILL: no chance to clean up) once `killAt` of the store has gone through the latency
 * proxy, then run again: how many bytes the second push puts on the wire against the bytes the destination
 * still lacked. `rounds` times, each into a fresh dir.
 */
export async function measureResume(
  site: SshSite,
  scenario: Scenario,
  store: BenchStore,
  killAt: number,
  rounds: number,
  workDir: string,
  log: (line: string) => void,
): Promise<ResumeRuns> {
  if (!scenario.delayed) throw new Error('the resume scenario counts bytes at the latency proxy: give it a proxy scenario');
  const result: ResumeRuns = { scenario: scenario.name, storeBytes: store.bytes, killAt, runs: [], failures: [] };
  for (let round = 1; round <= rounds; round++) {
    const dest = join(workDir, `resume-${round}`);
    await mkdir(dest);
    try {
      const args = ollamaPushArgs(store, scenario.alias, dest);
      await site.calibrateShell(scenario);
      await site.mark(scenario);
      const start = site.proxyBytesUp(scenario);
      const killed = await killOnceSent(site, scenario, args, start + killAt * store.bytes);
      // Every connection of the killed push ended: the destination kept what it kept.
      await site.mark(scenario);
      const wireBeforeKill = site.proxyBytesUp(scenario) - start;
      const arrivedBytes = await allocatedBytes(dest);
      const { sample, result: resumed } = await sampleRun(site, scenario, () => runMeasured(process.execPath, args, { env: site.env }));
      for (const retry of retriesIn(resumed.stderr)) log(`resume round ${round}/${rounds} ${scenario.name} retried: ${retry}`);
      const json = JSON.parse(resumed.stdout) as PushJson;
      const run: ResumeRun = {
        killed,
        wireBeforeKill,
        arrivedBytes,
        missingBytes: Math.max(0, store.bytes - arrivedBytes),
        keptBytes: json.blobs.reduce((sum, b) => sum + (b.status === 'present' ? 0 : b.stagedBytes), 0),
        resumeWireBytes: sample.wireBytesUp,
        resumeBytesSent: json.bytesSent,
        resume: sample,
      };
      result.runs.push(run);
      const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
      log(
        `resume round ${round}/${rounds} ${scenario.name}: ${killed ? `killed after ${mb(wireBeforeKill)} on the wire` : 'finished before the kill'}, ` +
          `${mb(arrivedBytes)} on the destination, ${mb(run.missingBytes)} missing; the resumed push kept ${mb(run.keptBytes)} and put ${mb(run.resumeWireBytes)} on the wire in ${sample.seconds.toFixed(2)} s`,
      );
    } catch (error) {
      result.failures.push(firstLine(error));
      log(`resume round ${round}/${rounds} ${scenario.name} FAILED: ${firstLine(error)}`);
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
  }
  return result;
}

/** Runs the push and SIGKILLs it once the proxy has forwarded `mark` client bytes; false if it ended first. */
async function killOnceSent(site: SshSite, scenario: Scenario, args: string[], mark: number): Promise<boolean> {
  const child = spawnTracked(process.execPath, args, { env: site.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void exited.finally(() => (done = true)).catch(() => undefined);
  while (!done && site.proxyBytesUp(scenario) < mark) await sleep(1);
  const killed = !done && child.kill('SIGKILL');
  const { code, signal } = await exited;
  if (!killed && code !== 0) throw new Error(`the push to be killed failed on its own (${signal ?? `exit ${code}`}):\n${stderr.trim()}`);
  return killed && signal === 'SIGKILL';
}

/** Bytes of data stored under dir: each file's size, or less when it is sparse (a range written past a hole). */
async function allocatedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await allocatedBytes(path);
    else if (entry.isFile()) {
      const s = await stat(path);
      total += Math.min(s.size, s.blocks * 512);
    }
  }
  return total;
}
