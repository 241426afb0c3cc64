import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ollamaPushArgs } from './methods.js';
import { runTimed } from './processes.js';
import type { Scenario, ScenarioName, SshSite } from './ssh-site.js';
import type { SyntheticStore } from '../test/harness/synthetic-store.js';

export interface NoopRuns {
  readonly scenario: ScenarioName;
  readonly models: number;
  readonly seconds: number[];
  /** SSH connections sshd accepted during each run. */
  readonly connections: number[];
  /** Remote commands (exec channels) sshd started during each run. */
  readonly execChannels: number[];
}

/** Pushes every model of the store once, then times `rounds` pushes that find everything present. */
export async function measureNoop(site: SshSite, scenario: Scenario, store: SyntheticStore, rounds: number, workDir: string): Promise<NoopRuns> {
  const dest = join(workDir, `noop-${scenario.name}`);
  const push = () => runTimed(process.execPath, ollamaPushArgs(store, scenario.alias, dest), { env: site.env });
  await mkdir(dest);
  try {
    await push();
    const runs: NoopRuns = { scenario: scenario.name, models: store.models.length, seconds: [], connections: [], execChannels: [] };
    for (let i = 0; i < rounds; i++) {
      const mark = await site.logMark();
      const { seconds, stdout } = await push();
      const sent = (JSON.parse(stdout) as { bytesSent: number }).bytesSent;
      if (sent !== 0) throw new Error(`the no-op push sent ${sent} bytes`);
      const activity = await site.activitySince(mark);
      runs.seconds.push(seconds);
      runs.connections.push(activity.connections);
      runs.execChannels.push(activity.execChannels);
    }
    return runs;
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
}
