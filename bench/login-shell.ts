import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GNU_TIME } from './processes.js';

const execFileAsync = promisify(execFile);
const PROBE_COUNT = 30_000;

/**
 * Writes `home/.bashrc` that costs about `seconds` of CPU each time bash starts, as `pyenv init`, nvm or
 * conda's hook do on many hosts. bash reads ~/.bashrc for every command sshd runs through it (not only
 * interactive logins), so each remote command of every method pays it; an sftp session (scp) does not.
 * The work is a plain loop, calibrated here against this machine's bash: CPU time, so that a busy machine
 * does not make the calibration shorter. Returns the loop count.
 */
export async function writeSlowBashrc(home: string, seconds: number): Promise<number> {
  const rc = join(home, '.bashrc');
  const probe = await cpuOf(rc, PROBE_COUNT);
  let count = Math.max(1, Math.round((PROBE_COUNT * seconds) / probe));
  // Once more at the estimated count: the loop's start-up cost is not proportional.
  const check = await cpuOf(rc, count);
  count = Math.max(1, Math.round((count * seconds) / check));
  await writeFile(rc, bashrc(count));
  return count;
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
