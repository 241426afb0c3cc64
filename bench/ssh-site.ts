import { appendFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startSshd } from '../test/harness/sshd.js';
import { startTcpProxy } from '../test/harness/tcp-proxy.js';

export type ScenarioName = 'loopback' | 'proxy';

export interface Scenario {
  readonly name: ScenarioName;
  /** The ssh config alias that reaches the sshd this way. */
  readonly alias: string;
}

/** What sshd logged between two points: one "Accepted" line per connection, one "Starting session" per exec channel. */
export interface SshActivity {
  readonly connections: number;
  readonly execChannels: number;
}

export interface SshSite {
  readonly scenarios: readonly Scenario[];
  /** HOME is the temp home whose ~/.ssh/config holds both aliases (what ollama-push reads). */
  readonly env: NodeJS.ProcessEnv;
  /** Options that make OpenSSH's ssh, scp (and rsync's ssh) use that config, key and known_hosts. */
  readonly opensshArgs: readonly string[];
  /** A point in sshd's log, for activitySince. */
  logMark(): Promise<number>;
  activitySince(mark: number): Promise<SshActivity>;
  stop(): Promise<void>;
}

const LOOPBACK_ALIAS = 'bench-loopback';
const PROXY_ALIAS = 'bench-proxy';

/**
 * One throwaway sshd on 127.0.0.1 reached two ways: directly (`bench-loopback`), and through a TCP proxy
 * adding `delayMs` each way (`bench-proxy`, whose known_hosts entry is `[127.0.0.1]:<proxy port>`).
 * sshd logs at VERBOSE so that every exec channel leaves a "Starting session" line. Its sessions get
 * `emptyHome` as HOME: bash sources ~/.bashrc for every ssh command, and this machine's rc files (a
 * developer's pyenv, nvm, ...) would otherwise add their start-up time to each remote command.
 */
export async function startSshSite(delayMs: number, emptyHome: string): Promise<SshSite> {
  const sshd = await startSshd({ alias: LOOPBACK_ALIAS, extraSshdConfig: `LogLevel VERBOSE\nSetEnv HOME=${emptyHome}\n` });
  try {
    const proxy = await startTcpProxy({ targetPort: sshd.port, delayMs });
    await appendFile(
      join(sshd.home, '.ssh', 'config'),
      `Host ${PROXY_ALIAS}\n  HostName 127.0.0.1\n  Port ${proxy.port}\n  User ${sshd.user}\n  IdentityFile ~/.ssh/id_ed25519\n`,
    );
    await appendFile(join(sshd.home, '.ssh', 'known_hosts'), `[127.0.0.1]:${proxy.port} ${sshd.hostKeyLine}\n`);
    return {
      scenarios: [
        { name: 'loopback', alias: LOOPBACK_ALIAS },
        { name: 'proxy', alias: PROXY_ALIAS },
      ],
      env: sshd.env,
      opensshArgs: sshd.opensshArgs,
      logMark: async () => (await stat(sshd.logPath)).size,
      activitySince: async (mark) => {
        const log = (await readFile(sshd.logPath)).subarray(mark).toString('utf8');
        return { connections: count(log, /^.*Accepted publickey for /gm), execChannels: count(log, /^.*Starting session: command /gm) };
      },
      stop: async () => {
        await proxy.close();
        await sshd.stop();
      },
    };
  } catch (error) {
    await sshd.stop();
    throw error;
  }
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}
