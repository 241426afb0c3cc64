import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, runCli } from './harness/cli.js';

/**
 * The README's flag table is generated from the real `--help` of every command, and must not fall
 * behind it. `UPDATE_README=1 npx vitest run test/ux-readme.test.ts` rewrites the table.
 */

interface HelpOption {
  readonly short: string | undefined;
  readonly flag: string;
  readonly type: string;
  readonly describe: string;
  readonly defaultValue: string | undefined;
}

const README = join(REPO, 'README.md');
const BEGIN = '<!-- flags:begin -->';
const END = '<!-- flags:end -->';

async function help(args: string[]): Promise<string> {
  const result = await runCli([...args, '--help'], { env: { ...process.env, COLUMNS: '110' } });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

/** The commands the top-level help lists, e.g. `push`, `diff`, `list`, `completion`. */
function commandsOf(text: string): string[] {
  const section = text.split(/\nCommands:\n/)[1]?.split(/\n\n/)[0] ?? '';
  return [...section.matchAll(/^ {2}ollama-push (\w+)/gm)].map((m) => m[1]!);
}

/** yargs' option table: `  -i, --identity  Describe ... [type] [default: x]`, wrapped onto indented lines. */
function optionsOf(text: string): HelpOption[] {
  const section = text.split(/\nOptions:\n/)[1]?.split(/\n\n/)[0] ?? '';
  const entries: string[] = [];
  for (const line of section.split('\n')) {
    if (/^ {2}(-\w, | {4})--/.test(line)) entries.push(line.trim());
    else if (entries.length > 0) entries[entries.length - 1] += ` ${line.trim()}`;
  }
  return entries.map((entry) => {
    const text = entry.replace(/\s+/g, ' ').trim();
    const m = /^(?:-(\w), )?--([\w-]+) (.*?) \[(\w+)\](?: \[required\])?(?: \[default: (.*?)\])?(?: \[required\])?$/.exec(text);
    if (!m) throw new Error(`cannot read this --help line: ${text}`);
    return { short: m[1], flag: m[2]!, describe: m[3]!, type: m[4]!, defaultValue: m[5] };
  });
}

/** Every flag of every command, in the order --help shows them, with the commands that take it. */
async function allOptions(): Promise<{ commands: string[]; options: (HelpOption & { commands: string[] })[] }> {
  const commands = commandsOf(await help([])).filter((c) => c !== 'completion');
  const byFlag = new Map<string, HelpOption & { commands: string[] }>();
  for (const command of commands) {
    for (const option of optionsOf(await help([command]))) {
      const entry = byFlag.get(option.flag) ?? { ...option, commands: [] };
      entry.commands.push(command);
      byFlag.set(option.flag, entry);
    }
  }
  return { commands, options: [...byFlag.values()] };
}

function flagTable(commands: string[], options: (HelpOption & { commands: string[] })[]): string {
  const rows = options.map((o) => {
    const name = `${o.short ? `\`-${o.short}\`, ` : ''}\`--${o.flag}\``;
    const env = o.flag === 'help' || o.flag === 'version' ? '' : `\`OLLAMA_PUSH_${o.flag.toUpperCase().replace(/-/g, '_')}\``;
    const def = o.defaultValue !== undefined && o.defaultValue !== 'false' ? ` (default: ${o.defaultValue})` : '';
    const where = o.commands.length === commands.length ? 'all' : o.commands.join(', ');
    return `| ${name} | ${o.type} | ${where} | ${env} | ${o.describe.replace(/\|/g, '\\|')}${def} |`;
  });
  return ['| flag | type | commands | environment | what it does |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

describe('README', () => {
  let readme: string;
  let found: Awaited<ReturnType<typeof allOptions>>;

  beforeAll(async () => {
    found = await allOptions();
    readme = await readFile(README, 'utf8');
    if (process.env.UPDATE_README) {
      const start = readme.indexOf(BEGIN);
      const end = readme.indexOf(END);
      expect(start, `${BEGIN} and ${END} in README.md`).toBeGreaterThan(0);
      readme = `${readme.slice(0, start + BEGIN.length)}\n${flagTable(found.commands, found.options)}\n${readme.slice(end)}`;
      await writeFile(README, readme);
    }
  });

  it('lists every flag that --help shows, for every command', () => {
    expect(found.options.length).toBeGreaterThan(20);
    const table = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END));
    const missing = found.options.filter((o) => !table.includes(`\`--${o.flag}\``)).map((o) => `--${o.flag}`);
    expect(missing, 'flags in --help but not in the README table (run UPDATE_README=1 npx vitest run test/ux-readme.test.ts)').toEqual([]);
  });

  it('has no flag in its table that --help does not know', () => {
    const table = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END));
    const known = new Set(found.options.map((o) => o.flag));
    const stale = [...table.matchAll(/^\| (?:`-\w`, )?`--([\w-]+)`/gm)].map((m) => m[1]!).filter((flag) => !known.has(flag));
    expect(stale).toEqual([]);
  });

  it('documents every command, the exit codes, the guarantees and a place for the benchmark', () => {
    for (const command of [...found.commands, 'completion']) expect(readme).toMatch(new RegExp(`\`ollama-push (\\[)?${command}`));
    for (const code of ['0', '1', '2', '130']) expect(readme).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
    expect(readme).toContain('diff --exit-code');
    expect(readme).toContain('## What happens if...');
    expect(readme).toContain('## Kubernetes');
    expect(readme).toMatch(/## Benchmark\n+<!-- bench:table -->/);
  });

  it('gives the set-up commands the issue asks for, which --help also shows', async () => {
    expect(readme).toContain('npm install\nnpx ollama-push tiny --models-dir fixtures/models --remote-path /tmp/pvc --mkdir\n');
    expect(readme).toContain('npm test\n');
    expect(readme).toContain('curl http://homelab-1:11434/api/tags');
    const top = await help([]);
    expect(top).toContain('ollama-push tiny --models-dir fixtures/models --remote-path /tmp/pvc --mkdir');
    expect(top).toContain('ollama-push qwen3:4b --host homelab-1 --remote-path /var/mnt/local-hostpath/pvc-6f1c2a9e');
  });
});
