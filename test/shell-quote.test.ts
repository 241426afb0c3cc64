import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { shellCommand, shellQuote } from '../src/transport/shell-quote.js';

const HOSTILE = [
  'plain',
  'with space',
  "it's",
  "''",
  'a\\b',
  '\\',
  '$HOME',
  '`id`',
  '$(id)',
  'line1\nline2',
  '-rf',
  '--help',
  '*',
  '~',
  '"double"',
  ';rm -rf /;',
  '|&<>',
  '',
  'tab\there',
  'ünïcödé',
  "'\\''",
  '!history',
  '#comment',
];

const shells = ['sh', 'bash', 'dash', 'zsh', 'fish'].filter((s) => ['/bin', '/usr/bin'].some((d) => existsSync(`${d}/${s}`)));

describe('shellQuote', () => {
  it.each(shells)('every hostile string survives %s as one argument', (shell) => {
    const script = `for a in ${HOSTILE.map(shellQuote).join(' ')}; do printf '%s\\0' "$a"; done`;
    const argsOut = shell === 'fish' ? script.replace('do printf', '; printf').replace('; done', '; end') : script;
    const out = execFileSync(shell, ['-c', argsOut]).toString('utf8');
    expect(out.split('\0').slice(0, -1)).toEqual(HOSTILE);
  });

  it('leaves safe words bare and quotes a leading dash', () => {
    expect(shellQuote('/var/mnt/pvc-1')).toBe('/var/mnt/pvc-1');
    expect(shellQuote('-n')).toBe("'-n'");
    expect(shellCommand(['sh', '-c', "echo 'x'"])).toBe("sh '-c' 'echo '\\''x'\\'''");
  });
});
