import { machineCpuSeconds, ownCpuSeconds } from './cpu.js';
import type { Measured } from './processes.js';
import type { Scenario, SshSite } from './ssh-site.js';

/** One timed run of one method, with where its CPU went. */
export interface RunSample {
  /** Wall time, as the user waits for it. */
  readonly seconds: number;
  /**
   * Busy CPU seconds of the whole machine (/proc/stat) from the start until the destination had ended every
   * connection: client, sshd and its commands, the latency proxy, the kernel's loopback networking, and
   * anything else running on the machine meanwhile (see the load average).
   */
  readonly machineCpuSeconds: number;
  /** The client command and its children (GNU time); null without GNU time. */
  readonly clientCpuSeconds: number | null;
  /** The destination's share: sshd, the sessions, their shells and commands (what sshd reaped). */
  readonly destCpuSeconds: number;
  /** The bench's own process, which runs the latency proxy (near 0 on loopback). */
  readonly proxyCpuSeconds: number;
  /** Peak RSS of the client command; null without GNU time. */
  readonly peakRssBytes: number | null;
  /** SSH connections and exec channels (remote commands) sshd logged for the run. */
  readonly connections: number;
  readonly execChannels: number;
  /** Client-to-server bytes through the proxy (0 on loopback). */
  readonly wireBytesUp: number;
}

/** Runs `run` on a quiet destination (its login shell calibrated just before) and measures it; also returns what the run returned. */
export async function sampleRun(site: SshSite, scenario: Scenario, run: () => Promise<Measured>): Promise<{ sample: RunSample; result: Measured }> {
  await site.calibrateShell(scenario);
  const mark = await site.mark(scenario);
  const machine0 = await machineCpuSeconds();
  const own0 = ownCpuSeconds();
  const result = await run();
  const destCpuSeconds = await site.destCpuSince(scenario, mark);
  const machine1 = await machineCpuSeconds();
  const own1 = ownCpuSeconds();
  const activity = await site.activitySince(scenario, mark);
  return {
    result,
    sample: {
      seconds: result.seconds,
      machineCpuSeconds: machine1 - machine0,
      clientCpuSeconds: result.clientCpuSeconds,
      destCpuSeconds,
      proxyCpuSeconds: own1 - own0,
      peakRssBytes: result.peakRssBytes,
      connections: activity.connections,
      execChannels: activity.execChannels,
      wireBytesUp: site.proxyBytesUpSince(scenario, mark),
    },
  };
}
