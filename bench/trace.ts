/**
 * Where one push's time and CPU go: `node dist/bench/trace.js [--size-mib N] [--scenario NAME] [--rc-seconds S]
 * [--tensor-blobs N] [--push-args=-j1]
 * [--node-flags=--cpu-prof]` (node flags for the push under GNU time). Starts the bench's sshds, pushes once with ollama-push --verbose and once with rsync,
 * and prints ollama-push's remote commands on a timeline (when each started and ended, from the client's
 * side) and the destination's CPU by program (sshd, bash, sh, dd, head, openssl, ...), sampled from /proc
 * every 20 ms (a process that lives less than that may be missed). Not part of `npm run bench`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineCpuSeconds } from './cpu.js';
import { method, ollamaPushArgs, type BenchStore } from './methods.js';
import { runMeasured, spawnTracked, killRunning } from './processes.js';
import { type ScenarioName, startSshSite } from './ssh-site.js';
import { writeTensorStore } from '../test/harness/tensor-store.js';
import { onTeardown, teardown, teardownOnSignals } from './teardown.js';
import { writeSyntheticStore } from '../test/harness/synthetic-store.js';

const TICKS = 100;

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  cpu: number;
}

async function processes(): Promise<Map<number, Proc>> {
  const all = new Map<number, Proc>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = await readFile(`/proc/${name}/stat`, 'utf8');
      const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      all.set(Number(name), { pid: Number(name), ppid: Number(f[1]), comm, cpu: (Number(f[11]) + Number(f[12])) / TICKS });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

/** Samples the CPU of every descendant of the given roots until stopped; returns CPU seconds by program name. */
function sampleTree(roots: number[]): { stop: () => Promise<Map<string, number>> } {
  const byComm = new Map<string, number>();
  /** Each process's program and CPU when last sampled: CPU since then goes to the program it runs now (after an exec, the new one). */
  const last = new Map<number, { comm: string; cpu: number }>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const all = await processes();
      const children = new Map<number, number[]>();
      for (const p of all.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
      const tree = [...roots];
      for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
      for (const pid of tree.slice(roots.length)) {
        const p = all.get(pid);
        if (!p) continue;
        const before = last.get(pid)?.cpu ?? 0;
        byComm.set(p.comm, (byComm.get(p.comm) ?? 0) + Math.max(0, p.cpu - before));
        last.set(pid, { comm: p.comm, cpu: p.cpu });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return byComm;
    },
  };
}

function cpuTable(byComm: Map<string, number>): string {
  const rows = [...byComm].filter(([, cpu]) => cpu >= 0.005).sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, [, c]) => s + c, 0);
  return [...rows.map(([comm, cpu]) => `  ${comm.padEnd(16)} ${cpu.toFixed(2)} s`), `  ${'(sampled total)'.padEnd(16)} ${total.toFixed(2)} s`].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '512' },
      scenario: { type: 'string', default: 'loopback-slowrc' },
      'rc-seconds': { type: 'string', default: '0.2' },
      'delay-ms': { type: 'string', default: '20' },
      'tensor-blobs': { type: 'string' },
      'tensor-max-kib': { type: 'string', default: '4096' },
      'push-args': { type: 'string', default: '' },
      'node-flags': { type: 'string', default: '' },
    },
  });
  teardownOnSignals();
  const extraArgs = values['push-args'].split(' ').filter(Boolean);
  const nodeFlags = values['node-flags'].split(' ').filter(Boolean);
  const work = await mkdtemp(join(os.tmpdir(), 'ollama-push-trace-'));
  onTeardown(() => rm(work, { recursive: true, force: true }));
  const store: BenchStore = values['tensor-blobs']
    ? await writeTensorStore(join(work, 'store'), { blobs: Number(values['tensor-blobs']), minBytes: 1024, maxBytes: Number(values['tensor-max-kib']) * 1024 })
    : await writeSyntheticStore(join(work, 'store'), [Number(values['size-mib'])]);
  const site = await startSshSite(Number(values['delay-ms']), work, Number(values['rc-seconds']));
  onTeardown(() => site.stop());
  onTeardown(killRunning);
  const scenario = site.scenario(values.scenario as ScenarioName);
  const roots = [site.sshdPid(scenario)];
  process.stdout.write(`login shell: ssh true ${site.loginShell.sshTrueSeconds.slowRc} s (slow rc), ${site.loginShell.sshTrueSeconds.emptyHome} s (empty HOME); scenario ${scenario.name}; ${(store.bytes / 2 ** 20).toFixed(0)} MiB\n`);

  for (const name of ['ollama-push', 'rsync'] as const) {
    const dest = join(work, `dest-${name}`);
    await mkdir(dest);
    const mark = await site.mark(scenario);
    const m0 = await machineCpuSeconds();
    const sampler = sampleTree(roots);
    const started = performance.now();
    const at = () => ((performance.now() - started) / 1000).toFixed(3).padStart(7);
    let clientCpu: number | null = null;
    if (name === 'ollama-push') {
      const lines = await verbosePush(site.env, [...ollamaPushArgs(store, scenario.alias, dest), ...extraArgs], at);
      process.stdout.write(`\nollama-push --verbose, remote commands (client clock):\n${lines.join('\n')}\n`);
    } else {
      clientCpu = (await method('rsync').run({ site, scenario, store, dest })).clientCpuSeconds;
    }
    const seconds = (performance.now() - started) / 1000;
    const destCpu = await site.destCpuSince(scenario, mark);
    const byComm = await sampler.stop();
    const activity = await site.activitySince(scenario, mark);
    const machine = (await machineCpuSeconds()) - m0;
    process.stdout.write(
      `\n${name}: ${seconds.toFixed(2)} s, ${activity.execChannels} remote commands, machine cpu ${machine.toFixed(2)} s, destination cpu ${destCpu.toFixed(2)} s` +
        `${clientCpu === null ? '' : `, client cpu ${clientCpu.toFixed(2)} s`}\ndestination CPU by program (sampled):\n${cpuTable(byComm)}\n`,
    );
    await rm(dest, { recursive: true, force: true });
  }
  // Client CPU of ollama-push without --verbose, under GNU time.
  const dest = join(work, 'dest-rusage');
  await mkdir(dest);
  const r = await runMeasured(process.execPath, [...nodeFlags, ...ollamaPushArgs(store, scenario.alias, dest), ...extraArgs], { env: site.env });
  process.stdout.write(`\nollama-push again under GNU time: ${r.seconds.toFixed(2)} s, client cpu ${r.clientCpuSeconds?.toFixed(2)} s, peak RSS ${((r.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB\n`);
  // The same push once more: a no-op.
  const mark = await site.mark(scenario);
  const started = performance.now();
  const at = () => ((performance.now() - started) / 1000).toFixed(3).padStart(7);
  const lines = await verbosePush(site.env, [...ollamaPushArgs(store, scenario.alias, dest), ...extraArgs], at);
  const seconds = (performance.now() - started) / 1000;
  const destCpu = await site.destCpuSince(scenario, mark);
  const noop = await runMeasured(process.execPath, [...ollamaPushArgs(store, scenario.alias, dest), ...extraArgs], { env: site.env });
  process.stdout.write(
    `\nno-op push --verbose: ${seconds.toFixed(2)} s, destination cpu ${destCpu.toFixed(2)} s\n${lines.join('\n')}\n` +
      `no-op push again under GNU time: ${noop.seconds.toFixed(2)} s, client cpu ${noop.clientCpuSeconds?.toFixed(2)} s\n`,
  );
}

/** Runs ollama-push --verbose; returns its remote-command lines, each stamped with the client's clock. */
async function verbosePush(env: NodeJS.ProcessEnv, args: string[], at: () => string): Promise<string[]> {
  const child = spawnTracked(process.execPath, [...args, '--verbose'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  let buffered = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    buffered += s;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (/^ollama-push: \[\d+\] /.test(line)) lines.push(`${at()} s  ${line.slice(13, 160)}`);
    }
  });
  await new Promise((resolve) => child.on('close', resolve));
  lines.push(`${at()} s  (exit)`);
  return lines;
}

try {
  await main();
} catch (error) {
  process.stderr.write(`trace failed: ${(error as Error).stack}\n`);
  process.exitCode = 1;
} finally {
  await teardown();
}
