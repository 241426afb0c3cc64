/** The most data an SSH channel packet carries to OpenSSH's sshd (its session channels' maximum). */
export const SSH_PACKET_DATA = 32 * 1024;

/**
 * Re-cuts a stream of chunks into multiples of `size` bytes (the last may be shorter). A tar of many
 * small files comes as headers, data and padding of a few hundred bytes each; written as they are, each
 * would be an SSH packet of its own (an encryption, a socket write). Only the bytes around a cut are
 * copied; the rest goes on as views of the chunks.
 */
export async function* packetSized(chunks: AsyncIterable<Buffer>, size = SSH_PACKET_DATA): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (let chunk of chunks) {
    if (pendingBytes > 0) {
      const need = size - pendingBytes;
      if (chunk.length < need) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        continue;
      }
      yield Buffer.concat([...pending, chunk.subarray(0, need)], size);
      pending = [];
      pendingBytes = 0;
      chunk = chunk.subarray(need);
    }
    const whole = chunk.length - (chunk.length % size);
    if (whole > 0) yield chunk.subarray(0, whole);
    if (whole < chunk.length) {
      pending = [chunk.subarray(whole)];
      pendingBytes = chunk.length - whole;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}
