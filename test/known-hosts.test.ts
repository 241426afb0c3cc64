import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkHostKey,
  fingerprintSha256,
  knownHostsLine,
  knownKeyTypes,
  readKnownHostsFiles,
  type HostKeyVerdict,
} from '../src/transport/ssh/known-hosts.js';

const dir = mkdtempSync(join(tmpdir(), 'known-hosts-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(...args: string[]): string {
  return execFileSync('ssh-keygen', args, { encoding: 'utf8', stdio: 'pipe' });
}

/** A fresh public key from ssh-keygen: its `type base64` text and its blob. */
function makeKey(name: string, type: string) {
  keygen('-q', '-t', type, '-N', '', '-C', name, '-f', join(dir, name));
  const [keyType, base64] = readFileSync(join(dir, `${name}.pub`), 'utf8').split(' ') as [string, string];
  return { name, type: keyType, text: `${keyType} ${base64}`, blob: Buffer.from(base64, 'base64') };
}

const ed = makeKey('ed-a', 'ed25519');
const ed2 = makeKey('ed-b', 'ed25519');
const ecdsa = makeKey('ecdsa', 'ecdsa');

/** Hashes `lines` with OpenSSH's own `ssh-keygen -H`. */
function hashWithSshKeygen(lines: string[]): string {
  const file = join(dir, `hash-${Math.random().toString(16).slice(2)}`);
  writeFileSync(file, lines.join('\n') + '\n');
  keygen('-q', '-H', '-f', file);
  return readFileSync(file, 'utf8');
}

const file = (text: string, path = 'known_hosts') => ({ path, text });

describe('checkHostKey', () => {
  const cases: Array<{
    name: string;
    lines: string[];
    hostNames?: string[];
    port?: number;
    key?: typeof ed;
    expected: HostKeyVerdict;
  }> = [
    { name: 'plain match', lines: [`homelab-1 ${ed.text}`], expected: { status: 'match' } },
    { name: 'no line for the host', lines: [`other ${ed.text}`], expected: { status: 'unknown' } },
    { name: 'empty file', lines: [], expected: { status: 'unknown' } },
    { name: 'host names are case-insensitive', lines: [`HomeLab-1 ${ed.text}`], hostNames: ['HOMELAB-1'], expected: { status: 'match' } },
    { name: 'one of several patterns', lines: [`a,homelab-1,b ${ed.text}`], expected: { status: 'match' } },
    { name: 'matched under another host name (the address)', lines: [`127.0.0.1 ${ed.text}`], hostNames: ['homelab-1', '127.0.0.1'], expected: { status: 'match' } },
    { name: 'comment after the key', lines: [`homelab-1 ${ed.text} root@homelab-1`], expected: { status: 'match' } },
    { name: 'comments, blank lines and indentation', lines: ['# homelab-1 ' + ed.text, '', `   homelab-1 ${ed.text}`], expected: { status: 'match' } },
    { name: '[host]:port on that port', lines: [`[homelab-1]:2222 ${ed.text}`], port: 2222, expected: { status: 'match' } },
    { name: '[host]:port on port 22', lines: [`[homelab-1]:2222 ${ed.text}`], expected: { status: 'unknown' } },
    { name: 'plain name on another port', lines: [`homelab-1 ${ed.text}`], port: 2222, expected: { status: 'unknown' } },
    { name: '* wildcard', lines: [`*.lab.example ${ed.text}`], hostNames: ['gpu.lab.example'], expected: { status: 'match' } },
    { name: '? wildcard', lines: [`10.0.0.? ${ed.text}`], hostNames: ['10.0.0.7'], expected: { status: 'match' } },
    { name: '? matches exactly one character', lines: [`10.0.0.? ${ed.text}`], hostNames: ['10.0.0.17'], expected: { status: 'unknown' } },
    { name: 'wildcard inside [host]:port', lines: [`[*.lab.example]:2222 ${ed.text}`], hostNames: ['gpu.lab.example'], port: 2222, expected: { status: 'match' } },
    { name: 'regex characters are literal', lines: [`homelab.1 ${ed.text}`], hostNames: ['homelabx1'], expected: { status: 'unknown' } },
    { name: 'negation vetoes the line', lines: [`*.lab.example,!bad.lab.example ${ed.text}`], hostNames: ['bad.lab.example'], expected: { status: 'unknown' } },
    { name: 'negation leaves other hosts matching', lines: [`*.lab.example,!bad.lab.example ${ed.text}`], hostNames: ['gpu.lab.example'], expected: { status: 'match' } },
    { name: 'negation alone never matches', lines: [`!other ${ed.text}`], expected: { status: 'unknown' } },
    {
      name: 'same type, different key',
      lines: [`x ${ed.text}`, `homelab-1 ${ed2.text}`],
      expected: { status: 'changed', file: 'known_hosts', line: 2, keyType: 'ssh-ed25519' },
    },
    {
      name: 'another type on file is a changed key too',
      lines: [`homelab-1 ${ecdsa.text}`],
      expected: { status: 'changed', file: 'known_hosts', line: 1, keyType: 'ecdsa-sha2-nistp256' },
    },
    { name: 'a key of another type matches beside it', lines: [`homelab-1 ${ecdsa.text}`, `homelab-1 ${ed.text}`], expected: { status: 'match' } },
    { name: 'another type on file for another host', lines: [`other ${ecdsa.text}`], expected: { status: 'unknown' } },
    { name: 'a matching key wins over a changed one', lines: [`homelab-1 ${ed2.text}`, `homelab-1 ${ed.text}`], expected: { status: 'match' } },
    { name: 'revoked for any host', lines: [`homelab-1 ${ed.text}`, `@revoked * ${ed.text}`], expected: { status: 'revoked', file: 'known_hosts', line: 2 } },
    { name: 'revoked under another host pattern', lines: [`@revoked elsewhere ${ed.text}`], expected: { status: 'revoked', file: 'known_hosts', line: 1 } },
    { name: 'a revoked line is no known key', lines: [`@revoked homelab-1 ${ed2.text}`], expected: { status: 'unknown' } },
    { name: 'a revoked key of another type is no known key', lines: [`@revoked homelab-1 ${ecdsa.text}`], expected: { status: 'unknown' } },
    { name: '@cert-authority lines are ignored', lines: [`@cert-authority homelab-1 ${ed2.text}`], expected: { status: 'unknown' } },
    { name: 'unknown marker skipped', lines: [`@bogus homelab-1 ${ed2.text}`], expected: { status: 'unknown' } },
    {
      name: 'malformed lines are skipped',
      lines: [
        'homelab-1',
        'homelab-1 ssh-ed25519',
        'homelab-1 ssh-ed25519 not*base64!',
        'homelab-1 ssh-ed25519 AAAA',
        `homelab-1 ssh-rsa ${ed2.text.split(' ')[1]}`,
        `homelab-1 ${ed.text}`,
      ],
      expected: { status: 'match' },
    },
  ];

  it.each(cases)('$name', ({ lines, hostNames = ['homelab-1'], port = 22, key = ed, expected }) => {
    expect(checkHostKey([file(lines.join('\n'))], hostNames, port, key.blob)).toEqual(expected);
  });

  it('reports the file and line of a changed key across several files', () => {
    const files = [file(`other ${ed.text}\n`, '/u/known_hosts'), file(`# note\nhomelab-1 ${ed2.text}\n`, '/etc/ssh/ssh_known_hosts')];
    expect(checkHostKey(files, ['homelab-1'], 22, ed.blob)).toEqual({
      status: 'changed',
      file: '/etc/ssh/ssh_known_hosts',
      line: 2,
      keyType: 'ssh-ed25519',
    });
    expect(checkHostKey([file(''), file(`homelab-1 ${ed.text}`)], ['homelab-1'], 22, ed.blob)).toEqual({ status: 'match' });
  });

  it('matches lines hashed by ssh-keygen -H', () => {
    const hashed = hashWithSshKeygen([`homelab-1,127.0.0.1 ${ed.text}`, `[gpu.lab.example]:2222 ${ed.text}`]);
    expect(hashed).not.toContain('homelab-1');
    const files = [file(hashed)];
    expect(checkHostKey(files, ['HomeLab-1'], 22, ed.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(files, ['127.0.0.1'], 22, ed.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(files, ['gpu.lab.example'], 2222, ed.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(files, ['gpu.lab.example'], 22, ed.blob)).toEqual({ status: 'unknown' });
    expect(checkHostKey(files, ['homelab-1'], 22, ed2.blob)).toEqual({ status: 'changed', file: 'known_hosts', line: 1, keyType: 'ssh-ed25519' });
    expect(checkHostKey(files, ['homelab-1'], 22, ecdsa.blob)).toEqual({ status: 'changed', file: 'known_hosts', line: 1, keyType: 'ssh-ed25519' });
  });
});

describe('knownHostsLine', () => {
  it.each([
    { host: 'homelab-1', port: 22, lookup: 'homelab-1' },
    { host: 'GPU.lab.example', port: 2222, lookup: '[gpu.lab.example]:2222' },
  ])('writes a hashed line that ssh-keygen -F finds ($lookup)', ({ host, port, lookup }) => {
    const line = knownHostsLine(host, port, ed.type, ed.blob);
    expect(line).toMatch(/^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 /);
    const path = join(dir, `ours-${port}`);
    writeFileSync(path, line + '\n');
    expect(keygen('-F', lookup, '-f', path)).toContain(line);
    expect(checkHostKey([file(line)], [host], port, ed.blob)).toEqual({ status: 'match' });
  });

  it('uses a fresh salt each time', () => {
    expect(knownHostsLine('h', 22, ed.type, ed.blob)).not.toBe(knownHostsLine('h', 22, ed.type, ed.blob));
  });
});

describe('knownKeyTypes', () => {
  it('lists the types recorded for the host in file order, once each', () => {
    const files = [
      file([`homelab-1 ${ecdsa.text}`, `other ${ed.text}`, `@revoked homelab-1 ${ed.text}`, `homelab-1 ${ed2.text}`].join('\n')),
      file(hashWithSshKeygen([`homelab-1 ${ecdsa.text}`, `homelab-1 ${ed.text}`])),
    ];
    expect(knownKeyTypes(files, ['homelab-1'], 22)).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    expect(knownKeyTypes(files, ['homelab-1'], 2222)).toEqual([]);
  });
});

describe('fingerprintSha256', () => {
  it.each([ed, ecdsa])('matches ssh-keygen -lf for $name', (key) => {
    const fingerprint = keygen('-l', '-E', 'sha256', '-f', join(dir, `${key.name}.pub`)).split(' ')[1];
    expect(fingerprintSha256(key.blob)).toBe(fingerprint);
  });
});

describe('readKnownHostsFiles', () => {
  it('reads existing files in order and skips missing ones', async () => {
    const a = join(dir, 'kh-a');
    const b = join(dir, 'kh-b');
    writeFileSync(a, 'a\n');
    writeFileSync(b, 'b\n');
    expect(await readKnownHostsFiles([join(dir, 'missing'), b, join(dir, 'kh-a', 'not-a-dir'), a])).toEqual([
      { path: b, text: 'b\n' },
      { path: a, text: 'a\n' },
    ]);
  });

  it('throws a PushError for a file it cannot read', async () => {
    await expect(readKnownHostsFiles([dir])).rejects.toMatchObject({ name: 'PushError', side: 'transport' });
  });
});
