import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GNU_TIME } from './processes.js';

const execFileAsync = promisify(execFile);
const PROBE_COUNT = 30_000;

/** `home/.bashrc` that costs about `seconds` of CPU each time bash starts. */
export interface SlowBashrc {
  /** Measures this machine's bash now and rewrites the file to cost `seconds`; returns the loop count. */
  calibrate(): Promise<number>;
  /** Every count calibrate() settled on, in order. */
  readonly counts: readonly number[];
}

/**
 * A ~/.bashrc whose start-up work is like `pyenv init`, nvm or conda's hook on many hosts. bash reads
 * ~/.bashrc for every command sshd runs through it (not only interactive logins), so each remote command of
 * every method pays it; an sftp session (scp) does not. The work is a plain loop, calibrated against this
 * machine's bash in CPU time, so that a busy machine does not make it shorter. This machine's speed changes
 * by up to twice within minutes, so the bench calibrates it again before each run: a count fixed at the
 * start cost 0.44 s instead of 0.2 s in a slower spell.
 */
export function slowBashrc(home: string, seconds: number): SlowBashrc {
  const rc = join(home, '.bashrc');
  // Measured on a file of its own: a session starting meanwhile reads the last calibrated one.
  const probe = join(home, '.bashrc-probe');
  const counts: number[] = [];
  const scaled = (count: number, cpu: number) => Math.max(1, Math.round((count * seconds) / cpu));
  return {
    counts,
    async calibrate() {
      let count = counts.at(-1) ?? scaled(PROBE_COUNT, await cpuOf(probe, PROBE_COUNT));
      // Once more at the estimated count: the loop's start-up cost is not proportional.
      count = scaled(count, await cpuOf(probe, count));
      await rm(probe, { force: true });
      await writeFile(rc, bashrc(count));
      counts.push(count);
      return count;
    },
  };
}

function bashrc(count: number): string {
  return `# ~/.bashrc of the bench's slow-shell destination: start-up work like pyenv init, nvm or conda's hook,
# which bash runs for every command sshd starts through it. Calibrated by bench/login-shell.ts.
__bench_startup() { local i=0; while [ "$i" -lt ${count} ]; do i=$((i + 1)); done; }
__bench_startup
unset -f __bench_startup
`;
}

/** Least CPU seconds of three runs of bash sourcing the rc file with this count. */
async function cpuOf(rc: string, count: number): Promise<number> {
  await writeFile(rc, bashrc(count));
  const report = `${rc}.time`;
  const samples: number[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await execFileAsync(GNU_TIME, ['-f', '%U %S', '-o', report, 'bash', '--norc', '--noprofile', '-c', `. '${rc}'`]).catch(async (error) => {
        // Without GNU time: wall time instead (longer on a busy machine).
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await execFileAsync('bash', ['--norc', '--noprofile', '-c', `. '${rc}'`]);
        await writeFile(report, `${(performance.now() - started) / 1000} 0`);
      });
      const [user, system] = (await readFile(report, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
      samples.push(Math.max(0.005, user + system));
    }
  } finally {
    await rm(report, { force: true });
  }
  return Math.min(...samples);
}
