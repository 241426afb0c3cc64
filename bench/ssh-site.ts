import { appendFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { startSshd, type TestSshd } from '../test/harness/sshd.js';
import { startTcpProxy, type TcpProxy } from '../test/harness/tcp-proxy.js';
import { type CpuAccount, cpuAccount } from './cpu-account.js';
import { slowBashrc } from './login-shell.js';
import { runTimed } from './processes.js';
import { median, round3 } from './stats.js';

/**
 * loopback / proxy: straight to sshd, or through the latency proxy. The `-slowrc` ones reach a second sshd
 * whose sessions' HOME holds a ~/.bashrc that costs about 0.2 s at every start of bash.
 */
export type ScenarioName = 'loopback' | 'proxy' | 'loopback-slowrc' | 'proxy-slowrc';
export const SCENARIO_NAMES: readonly ScenarioName[] = ['loopback', 'proxy', 'loopback-slowrc', 'proxy-slowrc'];

export interface Scenario {
  readonly name: ScenarioName;
  /** The ssh config alias that reaches the sshd this way. */
  readonly alias: string;
  /** Through the latency proxy. */
  readonly delayed: boolean;
  /** The destination's login shell reads a slow ~/.bashrc. */
  readonly slowShell: boolean;
}

/** What sshd logged between two points: one "Accepted" line per connection, one "Starting session" per exec channel. */
export interface SshActivity {
  readonly connections: number;
  readonly execChannels: number;
}

/** A point in time on one destination, for the activity and CPU since then. */
export interface SiteMark {
  readonly logSize: number;
  readonly destCpu: number;
  readonly proxyBytesUp: number;
}

export interface LoginShell {
  /** The CPU the slow ~/.bashrc was calibrated to. */
  readonly targetSeconds: number;
  /** Its loop count at the start, when `ssh <alias> true` was timed. */
  readonly loopCount: number;
  /** The fewest and most steps it was calibrated to before a run (again before each run with it). */
  readonly loopCountRange: readonly [number, number];
  readonly calibrations: number;
  /** Median wall time of 3 runs of `ssh <alias> true` through OpenSSH, loopback, with the empty HOME and with the slow one. */
  readonly sshTrueSeconds: { readonly emptyHome: number; readonly slowRc: number };
}

export interface SshSite {
  readonly scenarios: readonly Scenario[];
  /** HOME is the temp home whose ~/.ssh/config holds every alias (what ollama-push reads). */
  readonly env: NodeJS.ProcessEnv;
  /** Options that make OpenSSH's ssh, scp (and rsync's ssh) use that config, key and known_hosts. */
  readonly opensshArgs: readonly string[];
  readonly loginShell: LoginShell;
  /** How the destination's CPU is counted (CpuAccount.method), the same for both sshds. */
  readonly destCpuMethod: string;
  scenario(name: ScenarioName): Scenario;
  /** Calibrates the slow ~/.bashrc again for a scenario that uses it (this machine's speed changes), else nothing. */
  calibrateShell(scenario: Scenario): Promise<void>;
  /** Waits until the scenario's sshd has no session or process of one left, then marks its log, its CPU and its proxy's counter. */
  mark(scenario: Scenario): Promise<SiteMark>;
  /** Connections and exec channels the scenario's sshd logged since the mark. */
  activitySince(scenario: Scenario, mark: SiteMark): Promise<SshActivity>;
  /**
   * CPU seconds the scenario's sshd and everything it ran (sessions, shells, their commands) used since the
   * mark: the destination's share. Waits for the sessions and their processes to end first.
   */
  destCpuSince(scenario: Scenario, mark: SiteMark): Promise<number>;
  /** Bytes the client sent through the scenario's proxy since the mark (0 for a loopback scenario). */
  proxyBytesUpSince(scenario: Scenario, mark: SiteMark): number;
  /** Bytes the client has sent through the scenario's proxy so far (0 for a loopback scenario). */
  proxyBytesUp(scenario: Scenario): number;
  /** The pid of the scenario's sshd listener. */
  sshdPid(scenario: Scenario): number;
  stop(): Promise<void>;
}

/** How long the connections of a finished run may take to end on the destination. */
const QUIET_TIMEOUT_MS = 30_000;

interface Destination {
  readonly sshd: TestSshd;
  readonly proxy: TcpProxy;
  readonly pid: number;
  readonly cpu: CpuAccount;
}

/**
 * Two throwaway sshds on 127.0.0.1, each reached directly and through a TCP proxy adding `delayMs` each way.
 * The first gives its sessions `emptyHome` as HOME (bash finds no start-up file: this machine's own rc files,
 * a developer's pyenv or nvm, would otherwise add their time to each remote command); the second gives them
 * `slowHome`, whose ~/.bashrc costs about `rcSeconds` of CPU at every start of bash. Both log at VERBOSE, so
 * that every exec channel leaves a "Starting session" line. One client HOME knows every alias.
 */
export async function startSshSite(delayMs: number, work: string, rcSeconds: number): Promise<SshSite> {
  const emptyHome = join(work, 'remote-home-empty');
  const slowHome = join(work, 'remote-home-slowrc');
  await mkdir(emptyHome);
  await mkdir(slowHome);
  const slowRc = slowBashrc(slowHome, rcSeconds);
  const loopCount = await slowRc.calibrate();

  const started: Destination[] = [];
  /** Stops everything even when one step fails (a proxy left listening would keep the bench from exiting). */
  const stop = async () => {
    const errors: unknown[] = [];
    for (const d of started.splice(0)) {
      await d.proxy.close().catch((error: unknown) => errors.push(error));
      await d.sshd.stop().catch(async (error: unknown) => {
        // A session still exiting may write into sshd's dir while it is removed (ENOTEMPTY): remove it again.
        await sleep(500);
        await rm(d.sshd.dir, { recursive: true, force: true }).catch(() => errors.push(error));
      });
      await d.cpu.remove();
    }
    if (errors.length) throw errors[0];
  };
  try {
    const start = async (alias: string, home: string): Promise<Destination> => {
      const sshd = await startSshd({ alias, extraSshdConfig: `LogLevel VERBOSE\nSetEnv HOME=${home}\n` });
      const proxy = await startTcpProxy({ targetPort: sshd.port, delayMs }).catch(async (error: unknown) => {
        await sshd.stop();
        throw error;
      });
      const pid = Number((await readFile(join(sshd.dir, 'sshd.pid'), 'utf8')).trim());
      const d = { sshd, proxy, pid, cpu: await cpuAccount(pid) };
      started.push(d);
      return d;
    };
    const empty = await start('bench-loopback', emptyHome);
    const slow = await start('bench-loopback-slowrc', slowHome);
    const client = empty.sshd;
    const config = join(client.home, '.ssh', 'config');
    const knownHosts = join(client.home, '.ssh', 'known_hosts');
    const host = (alias: string, d: Destination, port: number) =>
      `Host ${alias}\n  HostName 127.0.0.1\n  Port ${port}\n  User ${d.sshd.user}\n  IdentityFile ${d === empty ? '~/.ssh/id_ed25519' : d.sshd.clientKey}\n`;
    await appendFile(
      config,
      host('bench-proxy', empty, empty.proxy.port) + host('bench-loopback-slowrc', slow, slow.sshd.port) + host('bench-proxy-slowrc', slow, slow.proxy.port),
    );
    await appendFile(
      knownHosts,
      [`[127.0.0.1]:${empty.proxy.port}`, `[127.0.0.1]:${slow.sshd.port}`, `[127.0.0.1]:${slow.proxy.port}`]
        .map((name, i) => `${name} ${(i === 0 ? empty : slow).sshd.hostKeyLine}\n`)
        .join(''),
    );
    const opensshArgs = [...client.opensshArgs, '-i', slow.sshd.clientKey];
    const scenarios: Scenario[] = [
      { name: 'loopback', alias: 'bench-loopback', delayed: false, slowShell: false },
      { name: 'proxy', alias: 'bench-proxy', delayed: true, slowShell: false },
      { name: 'loopback-slowrc', alias: 'bench-loopback-slowrc', delayed: false, slowShell: true },
      { name: 'proxy-slowrc', alias: 'bench-proxy-slowrc', delayed: true, slowShell: true },
    ];
    const of = (scenario: Scenario) => (scenario.slowShell ? slow : empty);
    const quiet = async (d: Destination) => {
      if (!(await d.cpu.quiet(QUIET_TIMEOUT_MS))) throw new Error(`sshd ${d.pid} still has sessions or their processes ${QUIET_TIMEOUT_MS} ms after a run`);
    };
    const sshTrue = async (alias: string) => {
      const runs: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        await runTimed('ssh', [...opensshArgs, alias, 'true'], { env: client.env });
        runs.push((performance.now() - t) / 1000);
      }
      return round3(median(runs));
    };
    const sshTrueSeconds = { emptyHome: await sshTrue('bench-loopback'), slowRc: await sshTrue('bench-loopback-slowrc') };
    return {
      scenarios,
      env: withoutNodeSettings(client.env),
      opensshArgs,
      get loginShell(): LoginShell {
        const range = [Math.min(...slowRc.counts), Math.max(...slowRc.counts)] as const;
        return { targetSeconds: rcSeconds, loopCount, loopCountRange: range, calibrations: slowRc.counts.length, sshTrueSeconds };
      },
      destCpuMethod: empty.cpu.method,
      scenario: (name) => scenarios.find((s) => s.name === name)!,
      calibrateShell: async (scenario) => {
        if (scenario.slowShell) await slowRc.calibrate();
      },
      mark: async (scenario) => {
        const d = of(scenario);
        await quiet(d);
        return { logSize: (await stat(d.sshd.logPath)).size, destCpu: await d.cpu.seconds(), proxyBytesUp: d.proxy.bytesUp };
      },
      activitySince: async (scenario, mark) => {
        const log = (await readFile(of(scenario).sshd.logPath)).subarray(mark.logSize).toString('utf8');
        return { connections: count(log, /^.*Accepted publickey for /gm), execChannels: count(log, /^.*Starting session: command /gm) };
      },
      destCpuSince: async (scenario, mark) => {
        const d = of(scenario);
        await quiet(d);
        return (await d.cpu.seconds()) - mark.destCpu;
      },
      proxyBytesUpSince: (scenario, mark) => (scenario.delayed ? of(scenario).proxy.bytesUp - mark.proxyBytesUp : 0),
      proxyBytesUp: (scenario) => (scenario.delayed ? of(scenario).proxy.bytesUp : 0),
      sshdPid: (scenario) => of(scenario).pid,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The client's environment without this machine's settings for Node. Node 20 parses the file named by
 * NODE_EXTRA_CA_CERTS at every start, before any code of ollama-push runs (0.1 s here, where it names the
 * whole system bundle); a user's shell seldom sets it, and rsync and ssh do not read it.
 */
function withoutNodeSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _ca, NODE_OPTIONS: _options, ...rest } = env;
  return rest;
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}
