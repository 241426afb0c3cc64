import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesceWrites } from '../src/transport/ssh/coalesce-writes.js';

/** A socket stand-in that records each system call it would make: one per write or writev. */
function recordingSocket() {
  const calls: number[] = [];
  const socket = new Writable({
    write(_chunk: Buffer, _encoding, done) {
      calls.push(1);
      done();
    },
    writev(chunks, done) {
      calls.push(chunks.length);
      done();
    },
  });
  return { socket, calls };
}

describe('coalesceWrites (the packets ssh2 writes in one turn go in one writev)', () => {
  it('sends the packets written in one turn of the event loop together, and each later turn on its own', async () => {
    const { socket, calls } = recordingSocket();
    coalesceWrites(socket);
    for (let i = 0; i < 32; i++) socket.write(Buffer.alloc(32 * 1024, i));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([32]);
    socket.write(Buffer.from('next turn'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([32, 1]);
  });

  it('keeps write callbacks, the written bytes in order, and the end', async () => {
    const received: Buffer[] = [];
    const socket = new Writable({
      writev(chunks, done) {
        for (const { chunk } of chunks) received.push(chunk as Buffer);
        done();
      },
    });
    coalesceWrites(socket);
    const written: number[] = [];
    for (let i = 0; i < 3; i++) socket.write(Buffer.from([i]), () => written.push(i));
    socket.end();
    await new Promise((resolve) => socket.on('finish', resolve));
    expect(Buffer.concat(received)).toEqual(Buffer.from([0, 1, 2]));
    expect(written).toEqual([0, 1, 2]);
  });
});
