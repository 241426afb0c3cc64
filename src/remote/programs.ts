import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The POSIX sh programs the destination runs, from the `.sh` files in src/remote/sh (each file's header
 * says its arguments, stdin and answers). What is sent is lib.sh followed by the program, without
 * comment lines: the text is one argument of the remote login shell.
 */
const SH_DIR = [new URL('./sh/', import.meta.url), new URL('../../../src/remote/sh/', import.meta.url)]
  .map((url) => fileURLToPath(url))
  .find((dir) => existsSync(`${dir}lib.sh`));

export const PROGRAM_NAMES = [
  'probe',
  'take-lock',
  'range-writer',
  'commit-blob',
  'publish-manifest',
  'small-blobs',
  'hash-staged',
  'hash-follow',
  'hash-published',
  'list-store',
  'prune',
] as const;

export type ProgramName = (typeof PROGRAM_NAMES)[number];

/** A program's source file as it is in the repository. */
export function programFile(name: ProgramName | 'lib'): string {
  if (!SH_DIR) throw new Error('ollama-push is installed without its sh programs (src/remote/sh)');
  return `${SH_DIR}${name}.sh`;
}

function withoutComments(source: string): string {
  return source
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .join('\n');
}

const cache = new Map<ProgramName, string>();

/** The text of a program as it is sent: lib.sh, then the program. */
export function program(name: ProgramName): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = `${withoutComments(readFileSync(programFile('lib'), 'utf8'))}\n${withoutComments(readFileSync(programFile(name), 'utf8'))}\n`;
    cache.set(name, text);
  }
  return text;
}

/** The end mark range-writer.sh reads after each range's bytes. */
export const END_MARK = Buffer.from('OPUSHEND\n');
