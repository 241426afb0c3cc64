import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticStore, type SyntheticStore } from './harness/synthetic-store.js';
import { CLI, collectOutput, copyFixtureStore, FIXTURE_MODELS, REPO, runCli, startCli, tempDir, type CliResult } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { waitFor } from './harness/wait.js';

/** Any escape sequence or carriage return: none may reach a log, a pipe or a Makefile. */
const ESCAPES = /[\x1b\r]/;
/** An SGR sequence (colour, bold...): the tool never prints one, on a terminal or not. */
const SGR = /\x1b\[[0-9;]*m/;

/** An environment without the variables that change the output or name flags, plus `extra`. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('OLLAMA_PUSH') && !['NO_COLOR', 'FORCE_COLOR', 'DEBUG', 'OLLAMA_MODELS'].includes(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(args, { env: cleanEnv(extra) });

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI on a pseudo-terminal with script(1): stdout and stderr both arrive as the terminal's output. */
function runInPty(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const command = `stty cols 120 2>/dev/null; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: cleanEnv({ TERM: 'xterm-256color', ...extra }),
    cwd: REPO,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  return collectOutput(child).then(({ code, stdout, stderr }) => ({ code, stdout, stderr }));
}

/**
 * Every line the terminal was shown, in order: the output split wherever a line ends or the cursor
 * moves to another line or back to its start (a redraw), escape codes removed.
 */
function screenLines(output: string): string[] {
  return output
    .split(/\r\n|\r|\n|\x1b\[\d*[ABEFG]|\x1b\[2K/)
    .map((line) => line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').trim())
    .filter(Boolean);
}

describe('output', () => {
  let work: { path: string; remove: () => Promise<void> };
  let remote: string;
  let n = 0;
  const fresh = async () => {
    const dir = join(work.path, `remote-${n++}`);
    await mkdir(dir);
    return dir;
  };

  beforeAll(async () => {
    work = await tempDir('ollama-push-ux-');
    remote = await fresh();
  });
  afterAll(() => work.remove());

  it('off a terminal: plain lines on stderr, no escape codes, no carriage returns, nothing on stdout', async () => {
    const result = await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', remote]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toMatch(ESCAPES);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`destination ${remote}`);
    expect(lines).toContain('sending a80b1352655a model 3.2 MB');
    expect(lines).toContain('done a80b1352655a model 3.2 MB');
    // One line per blob started and one per blob finished: five blobs.
    expect(lines.filter((l) => l.startsWith('sending '))).toHaveLength(5);
    expect(lines.filter((l) => l.startsWith('done '))).toHaveLength(5);
    expect(lines).toContain('published tiny:latest');
    expect(lines.at(-1)).toMatch(new RegExp(`^pushed tiny:latest to ${remote} on this machine: sent 3\\.2 MB in [\\d.]+s \\([\\d.]+ [KMG]?B/s\\)$`));

    const again = await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', remote], { FORCE_COLOR: '3', NO_COLOR: '1' });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(ESCAPES);
    expect(again.stderr).toContain('5 of 5 blobs already present (3.2 MB), skipped\n');
    expect(again.stderr).toContain('tiny:latest was already published\n');
    expect(again.stderr).toMatch(/up to date in /);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  });

  it('--quiet: nothing at all on success, the error on stderr otherwise', async () => {
    const target = await fresh();
    const pushed = await cli(['tiny', 'tiny:q2', '--models-dir', FIXTURE_MODELS, '--remote-path', target, '--quiet']);
    expect(pushed).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await checkOllamaStore(target)).models).toEqual(['registry.ollama.ai/library/tiny:latest', 'registry.ollama.ai/library/tiny:q2']);
    const diffed = await cli(['diff', 'tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', target, '-q']);
    expect(diffed).toEqual({ code: 0, stdout: '', stderr: '' });
    const onTerminal = await runInPty(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', await fresh(), '-q']);
    expect(onTerminal).toEqual({ code: 0, stdout: '', stderr: '' });
    const failed = await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', join(target, 'typo'), '-q']);
    expect(failed.code).toBe(2);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toMatch(/^ollama-push: remote path .*typo on this machine does not exist; .*--mkdir.*\n$/);
  });

  it('--json: one JSON document on stdout and nothing else there, for push, diff and list', async () => {
    const target = await fresh();
    const pushed = await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', target, '--json']);
    expect(pushed.code, pushed.stderr).toBe(0);
    const push = JSON.parse(pushed.stdout);
    expect(pushed.stdout.trim().startsWith('{') && pushed.stdout.trim().endsWith('}')).toBe(true);
    expect(Object.keys(push)).toEqual(['models', 'destination', 'blobs', 'bytesSent', 'seconds']);
    expect(push.models).toEqual([{ name: 'tiny:latest', id: 'a4ecbb9aea58', size: 3158662 }]);
    expect(push.bytesSent).toBe(3158662);
    expect(push.blobs).toHaveLength(5);
    expect(Object.keys(push.blobs[0])).toEqual(['digest', 'size', 'mediaType', 'status', 'stagedBytes', 'models']);
    expect(pushed.stderr).toContain('published tiny:latest');

    const diffed = await cli(['diff', 'tiny', 'tiny:q2', '--models-dir', FIXTURE_MODELS, '--remote-path', target, '--json']);
    expect(diffed.code, diffed.stderr).toBe(0);
    const diff = JSON.parse(diffed.stdout);
    expect(Object.keys(diff)).toEqual(['models', 'destination', 'exists', 'blobs', 'manifests', 'upToDate', 'bytesToSend']);
    expect(diff.manifests).toEqual([
      { model: 'tiny:latest', status: 'present' },
      { model: 'tiny:q2', status: 'missing' },
    ]);
    expect(diff.upToDate).toBe(false);
    expect(diff.bytesToSend).toBe(1049761);

    const listed = await cli(['list', '--models-dir', FIXTURE_MODELS, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toBe('');
    const list = JSON.parse(listed.stdout);
    expect(list.models.map((m: { name: string }) => m.name)).toEqual(['hf.co/org/Tiny-GGUF:Q4_K_M', 'someone/vision:latest', 'tiny:latest', 'tiny:q2']);
  });

  it('diff prints each blob and each manifest, then what a push would do', async () => {
    const target = await fresh();
    expect((await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', target, '-q'])).code).toBe(0);
    const manifest = join(target, 'manifests', 'registry.ollama.ai', 'library', 'tiny', 'latest');
    const result = await cli(['diff', 'tiny', 'tiny:q2', '--models-dir', FIXTURE_MODELS, '--remote-path', target]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^BLOB +TYPE +SIZE +STATUS$/m);
    expect(result.stdout).toMatch(/^a80b1352655a +model +3\.2 MB +present$/m);
    expect(result.stdout).toMatch(/^484055a667fe +model +1\.0 MB +missing$/m);
    expect(result.stdout).toMatch(/^MODEL +MANIFEST$/m);
    expect(result.stdout).toMatch(/^tiny:latest +present$/m);
    expect(result.stdout).toMatch(/^tiny:q2 +missing \(would be published\)$/m);
    expect(result.stdout).toMatch(/would send 1\.0 MB of 4\.2 MB; 5 of 7 blobs present, 1 of 2 manifests\n$/);

    // Another version of tiny:latest on the destination: its manifest differs, though every blob is there.
    await writeFile(manifest, `${await readFile(manifest, 'utf8')}\n`);
    const different = await cli(['diff', 'tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', target]);
    expect(different.stdout).toMatch(/^tiny:latest +different \(another version is published; it would be replaced\)$/m);
    expect(different.stdout).toMatch(/would send 0 B of 3\.2 MB; 5 of 5 blobs present, 0 of 1 manifests\n$/);
    expect((await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', target, '-q'])).code).toBe(0);
    const upToDate = await cli(['diff', 'tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', target]);
    expect(upToDate.stdout).toMatch(/up to date: 5 of 5 blobs present, 1 of 1 manifests\n$/);
  });
});

describe('progress on a terminal', () => {
  let work: { path: string; remove: () => Promise<void> };
  let store: SyntheticStore;

  beforeAll(async () => {
    work = await tempDir('ollama-push-ux-tty-');
    store = await writeSyntheticStore(join(work.path, 'local'), [32]);
  });
  afterAll(() => work.remove());

  it('draws live bars with percent, rate and ETA, says where a blob resumed, prints no colour, and keeps the summary', async () => {
    const remote = join(work.path, 'remote');
    await mkdir(remote);
    const args = [store.models[0]!, '--models-dir', store.modelsDir, '--remote-path', remote, '--range-size', '4', '--jobs', '2'];

    // A first run, stopped part-way, leaves staged ranges for the second to resume from.
    const first = startCli([...args, '--bwlimit', '16M'], { env: cleanEnv() });
    const staging = join(remote, '.ollama-push', `sha256-${store.largeBlob.hex}`);
    await waitFor('a staged range', async () => (await readdir(staging).catch(() => [])).some((f) => f.startsWith('done.')));
    first.child.kill('SIGINT');
    expect((await first.done).code).toBe(130);

    // About 2 s at 8 MiB/s for what is left, with FORCE_COLOR set: still no colour.
    const result = await runInPty([...args, '--bwlimit', '8M'], { FORCE_COLOR: '3' });
    expect(result.code, result.stdout).toBe(0);
    const output = result.stdout;
    expect(output).not.toMatch(SGR);
    expect(output).toContain('\x1b[?25l'); // cursor hidden while drawing...
    expect(output.lastIndexOf('\x1b[?25h')).toBeGreaterThan(output.lastIndexOf('\x1b[?25l')); // ...and shown again

    const lines = screenLines(output);
    const overall = lines.filter((l) => /^total\s/.test(l));
    const bar = /^total +[█░]+ +(\d+)% +[\d.]+ [KMG]?B\/[\d.]+ [KMG]?B +[\d.]+ [KMG]?B\/s +eta (?:[\d.]+s|\d+m\d+s|\d+h\d+m|--)$/;
    expect(overall.filter((line) => !bar.test(line))).toEqual([]);
    const percents = new Set(overall.map((l) => Number(bar.exec(l)![1])));
    expect(percents.size, 'the overall bar moves').toBeGreaterThanOrEqual(3);
    expect(overall.some((l) => /[1-9][\d.]* [KMG]?B\/s/.test(l)), 'a rate above zero').toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${store.largeBlob.hex.slice(0, 12)} model +[█░]+ +\\d+% +33\\.6 MB, resumed at [1-9]\\d?%$`)));
    expect(lines).toContain(`destination ${remote}`);
    expect(lines).toContainEqual(expect.stringMatching(/^4 of 5 blobs already present \(.*\), skipped$/));
    expect(lines).toContain(`published ${store.models[0]}`);
    // The summary comes after the bars and is not drawn over.
    expect(lines.at(-1)).toMatch(new RegExp(`^pushed ${store.models[0]} to ${remote} on this machine: sent [\\d.]+ MB in `));
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  });

  it('draws nothing and hides no cursor when the push fails before sending', async () => {
    const result = await runInPty(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', 'not/absolute']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('ollama-push: --remote-path "not/absolute" must be an absolute path\r\n');
  });

  it('TERM=dumb gets plain lines even on a terminal', async () => {
    const remote = join(work.path, 'dumb');
    const result = await runInPty(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', remote, '--mkdir'], { TERM: 'dumb' });
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout.replace(/\r\n/g, '\n')).not.toMatch(ESCAPES);
    expect(result.stdout).toContain('sending a80b1352655a model 3.2 MB');
  });
});

describe('commands, help and exit codes', () => {
  let work: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    work = await tempDir('ollama-push-ux-cmd-');
  });
  afterAll(() => work.remove());

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('--help shows the commands and the homelab example', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['push <models..>', 'diff <models..>', 'list', 'completion']) expect(result.stdout).toContain(`ollama-push ${command}`);
    expect(result.stdout).toContain('ollama-push qwen3:4b --host homelab-1 --remote-path /var/mnt/local-hostpath/pvc-6f1c2a9e');
    expect(result.stdout).toContain('curl http://homelab-1:11434/api/tags');
    expect(result.stdout).toContain('OLLAMA_PUSH_REMOTE_PATH');
    const completion = await cli(['completion']);
    expect(completion.code).toBe(0);
    expect(completion.stdout).toContain('###-begin-ollama-push-completions-###');
  });

  it('usage errors exit 2 with one line and a hint', async () => {
    const cases: [string[], RegExp][] = [
      [['tiny', '--remote-pth', '/tmp/x'], /^ollama-push: unknown argument: remote-pth \(run ollama-push --help for usage\)\n$/],
      [[], /^ollama-push: name at least one model, e.g\. ollama-push qwen3:4b --remote-path DIR \(run ollama-push --help for usage\)\n$/],
      [['diff', '--remote-path', '/tmp/x'], /^ollama-push: name at least one model, .*\n$/],
      [['bad name!', '--models-dir', FIXTURE_MODELS, '--remote-path', '/tmp/x'], /^ollama-push: invalid model name "bad name!".*\n$/],
      [['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', 'relative'], /^ollama-push: --remote-path "relative" must be an absolute path\n$/],
      [['tiny', '--models-dir', join(work.path, 'nothing'), '--remote-path', '/tmp/x'], /^ollama-push: no Ollama store at .*; pass --models-dir or set OLLAMA_MODELS\n$/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe('');
    }
  });

  it('suggests the closest local names for a near miss', async () => {
    const typo = await cli(['tinny', '--models-dir', FIXTURE_MODELS, '--remote-path', '/tmp/x']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe(`ollama-push: model tinny:latest not found in ${FIXTURE_MODELS}; did you mean tiny:latest?\n`);
    const tag = await cli(['diff', 'tiny:q3', '--models-dir', FIXTURE_MODELS, '--remote-path', '/tmp/x']);
    expect(tag.code).toBe(2);
    expect(tag.stderr).toMatch(/; did you mean tiny:q2 or /);
    const hf = await cli(['hf.co/org/tiny-gguf:q4_k_s', '--models-dir', FIXTURE_MODELS, '--remote-path', '/tmp/x']);
    expect(hf.stderr).toMatch(/did you mean hf\.co\/org\/Tiny-GGUF:Q4_K_M\?/);
    const far = await cli(['llama3.2:3b', '--models-dir', FIXTURE_MODELS, '--remote-path', '/tmp/x']);
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/not found in .*; run `ollama-push list` to see the local models\n$/);
  });

  it('exits 1 on a failure, and diff --exit-code says 1 for "would send", 0 for up to date, 2 for trouble', async () => {
    const remote = join(work.path, 'remote');
    await mkdir(remote);
    const diff = (...more: string[]) => cli(['diff', 'tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', remote, '--exit-code', ...more]);
    expect((await diff()).code).toBe(1);
    expect((await diff('-q')).code).toBe(1);
    expect((await cli(['diff', 'tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', remote])).code).toBe(0);
    expect((await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', remote, '-q'])).code).toBe(0);
    expect((await diff()).code).toBe(0);
    expect((await cli(['diff', 'tiny', 'tiny:q2', '--models-dir', FIXTURE_MODELS, '--remote-path', remote, '--exit-code', '-q'])).code).toBe(1);
    expect((await cli(['diff', 'tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', join(remote, 'typo'), '--exit-code'])).code).toBe(1);

    // A failure that is not the user's: 1 for push, 2 for diff --exit-code (1 would mean "out of date").
    const unreachable = ['--host', 'no-such-host.invalid', '--ssh-config', join(work.path, 'empty-ssh-config')];
    await writeFile(join(work.path, 'empty-ssh-config'), '');
    const env = { HOME: work.path, SSH_AUTH_SOCK: '' };
    const failedPush = await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', '/x', ...unreachable], env);
    expect(failedPush.code, failedPush.stderr).toBe(1);
    expect(failedPush.stderr.trim().split('\n')).toHaveLength(1);
    const failedDiff = await cli(['diff', 'tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', '/x', '--exit-code', ...unreachable], env);
    expect(failedDiff.code, failedDiff.stderr).toBe(2);
    expect(failedDiff.stderr).toBe(failedPush.stderr);

    // A corrupt local blob: exit 1, the digest named, nothing published.
    const local = await copyFixtureStore(work.path);
    const blob = join(local, 'blobs', 'sha256-a80b1352655ad6c79f883323be95c213bb5b89368e62a284dff823508f075cda');
    const bytes = await readFile(blob);
    bytes[1000] ^= 0xff;
    await writeFile(blob, bytes);
    const target = join(work.path, 'corrupt-target');
    const corrupt = await cli(['tiny', '--models-dir', local, '--remote-path', target, '--mkdir']);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toMatch(/^ollama-push: .*sha256:a80b1352655a/m);
    expect((await checkOllamaStore(target)).models).toEqual([]);
  });
});

describe('flags from the environment', () => {
  let work: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    work = await tempDir('ollama-push-ux-env-');
  });
  afterAll(() => work.remove());

  it('takes OLLAMA_PUSH_MODELS_DIR, OLLAMA_PUSH_REMOTE_PATH and OLLAMA_PUSH_MKDIR=1', async () => {
    const remote = join(work.path, 'from-env');
    const result = await cli(['tiny'], { OLLAMA_PUSH_MODELS_DIR: FIXTURE_MODELS, OLLAMA_PUSH_REMOTE_PATH: remote, OLLAMA_PUSH_MKDIR: '1', OLLAMA_PUSH_QUIET: 'yes' });
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await checkOllamaStore(remote)).models).toEqual(['registry.ollama.ai/library/tiny:latest']);
    const check = await cli(['diff', 'tiny'], { OLLAMA_PUSH_MODELS_DIR: FIXTURE_MODELS, OLLAMA_PUSH_REMOTE_PATH: remote, OLLAMA_PUSH_EXIT_CODE: 'true' });
    expect(check.code, check.stderr).toBe(0);
  });

  it('lets a flag win over the environment', async () => {
    const fromEnv = join(work.path, 'env-loses');
    const fromFlag = join(work.path, 'flag-wins');
    const env = { OLLAMA_PUSH_MODELS_DIR: join(work.path, 'no-store-here'), OLLAMA_PUSH_REMOTE_PATH: fromEnv, OLLAMA_PUSH_MKDIR: '1', OLLAMA_PUSH_JSON: '1' };
    const result = await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', fromFlag, '--no-json'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect((await checkOllamaStore(fromFlag)).models).toEqual(['registry.ollama.ai/library/tiny:latest']);
    await expect(stat(fromEnv)).rejects.toThrow();
  });

  it('takes OLLAMA_PUSH_HOST (and --host wins over it)', async () => {
    await writeFile(join(work.path, 'ssh_config'), '');
    const env = { HOME: work.path, SSH_AUTH_SOCK: '', OLLAMA_PUSH_HOST: 'env-host.invalid', OLLAMA_PUSH_SSH_CONFIG: join(work.path, 'ssh_config') };
    const args = ['diff', 'tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', '/srv/models'];
    const fromEnv = await cli(args, env);
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toMatch(/^ollama-push: .*env-host\.invalid/);
    const fromFlag = await cli([...args, '--host', 'flag-host.invalid'], env);
    expect(fromFlag.code).toBe(1);
    expect(fromFlag.stderr).toMatch(/^ollama-push: .*flag-host\.invalid/);
    expect(fromFlag.stderr).not.toContain('env-host');
    // Empty counts as unset, as a Makefile's `export OLLAMA_PUSH_HOST=$(HOST)` leaves it: a local push.
    const empty = await cli(['tiny', '--models-dir', FIXTURE_MODELS, '--remote-path', join(work.path, 'local'), '--mkdir', '-q'], { OLLAMA_PUSH_HOST: '' });
    expect(empty).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('ignores variables for flags the command does not take, refuses ones that name no flag', async () => {
    const list = await cli(['list', '--models-dir', FIXTURE_MODELS], { OLLAMA_PUSH_REMOTE_PATH: '/srv/models', OLLAMA_PUSH_HOST: 'homelab-1', OLLAMA_PUSH: 'npx ollama-push' });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^tiny:latest +a4ecbb9aea58 +3\.2 MB$/m);
    const typo = await cli(['list', '--models-dir', FIXTURE_MODELS], { OLLAMA_PUSH_REMOTEPATH: '/srv/models' });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe('ollama-push: OLLAMA_PUSH_REMOTEPATH is set, but --remotepath is not an ollama-push flag; unset it (run ollama-push --help for the flags)\n');
    const notBoolean = await cli(['list', '--models-dir', FIXTURE_MODELS], { OLLAMA_PUSH_JSON: 'maybe' });
    expect(notBoolean.code).toBe(2);
    expect(notBoolean.stderr).toMatch(/OLLAMA_PUSH_JSON="maybe": expected 1 or 0/);
  });
});
