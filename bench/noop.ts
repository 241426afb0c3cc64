import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type BenchStore, ollamaPushArgs } from './methods.js';
import { firstLine, runMeasured } from './processes.js';
import { type RunSample, sampleRun } from './sample.js';
import type { Scenario, ScenarioName, SshSite } from './ssh-site.js';

/** Which no-op: the 4 small models, or the per-tensor model. */
export type NoopPayload = 'models' | 'tensor';

export interface NoopRuns {
  readonly payload: NoopPayload;
  readonly scenario: ScenarioName;
  readonly models: number;
  readonly samples: RunSample[];
  /** Set when the first (real) push or a no-op push failed. */
  readonly failure?: string;
}

/** Pushes every model of the store once, then times `rounds` pushes that find everything present. */
export async function measureNoop(
  site: SshSite,
  scenario: Scenario,
  payload: NoopPayload,
  store: BenchStore,
  rounds: number,
  workDir: string,
): Promise<NoopRuns> {
  const dest = join(workDir, `noop-${payload}-${scenario.name}`);
  const push = () => runMeasured(process.execPath, ollamaPushArgs(store, scenario.alias, dest), { env: site.env });
  await mkdir(dest);
  const runs = { payload, scenario: scenario.name, models: store.models.length, samples: [] as RunSample[] };
  try {
    await push();
    for (let i = 0; i < rounds; i++) {
      const { sample, result } = await sampleRun(site, scenario, push);
      const sent = (JSON.parse(result.stdout) as { bytesSent: number }).bytesSent;
      if (sent !== 0) throw new Error(`the no-op push sent ${sent} bytes`);
      runs.samples.push(sample);
    }
    return runs;
  } catch (error) {
    return { ...runs, failure: firstLine(error) };
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
}
