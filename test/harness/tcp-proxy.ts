import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface TcpProxyOptions {
  targetPort: number;
  /** Default 127.0.0.1. */
  targetHost?: string;
  /** One-way latency added in each direction (a round trip grows by twice this); throughput is not otherwise limited. */
  delayMs?: number;
  /** Arms a cut at start: see TcpProxy.cutAfter. */
  cutAfterBytes?: number;
  /** False: the server's end or close never reaches the client (a server or middlebox that leaves it open). Default true. */
  passServerClose?: boolean;
}

export interface TcpProxy {
  /** Listening on 127.0.0.1. */
  readonly port: number;
  /** Client-to-server bytes forwarded since start. */
  readonly bytesUp: number;
  /** Server-to-client bytes forwarded since start. */
  readonly bytesDown: number;
  /** Connections accepted since start. */
  readonly connections: number;
  /**
   * Destroys every open connection once `bytes` more client-to-server bytes have been forwarded (exactly
   * that many: the chunk that crosses the mark is cut short). Fires once; `undefined` disarms.
   */
  cutAfter(bytes: number | undefined): void;
  /** Destroys every open connection, both sides. */
  cutNow(): void;
  /**
   * Stops listening for `ms` (a connection is then refused, as by a host whose sshd restarts), then
   * listens on the same port again. Open connections are left alone.
   */
  refuseFor(ms: number): void;
  close(): Promise<void>;
}

/**
 * Bytes queued per direction before the source is paused. Delayed bytes wait here as if on the wire, so
 * this bounds throughput to QUEUE_LIMIT / delayMs: 16 MiB allows 800 MB/s at 20 ms.
 */
const QUEUE_LIMIT = 16 * 1024 * 1024;

/** Which bytes a direction may still pass, and what to do once they have passed. */
interface Meter {
  room(): number;
  passed(bytes: number): void;
}

/** A TCP proxy on 127.0.0.1 that adds latency and cuts connections on demand. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const delayMs = options.delayMs ?? 0;
  const sockets = new Set<net.Socket>();
  let bytesUp = 0;
  let bytesDown = 0;
  let connections = 0;
  let cutRoom: number | undefined;

  const cutNow = () => {
    for (const socket of sockets) socket.destroy();
  };
  const up: Meter = {
    room: () => cutRoom ?? Infinity,
    passed(bytes) {
      bytesUp += bytes;
      if (cutRoom === undefined) return;
      cutRoom -= bytes;
      if (cutRoom > 0) return;
      cutRoom = undefined;
      cutNow();
    },
  };
  const down: Meter = {
    room: () => Infinity,
    passed(bytes) {
      bytesDown += bytes;
    },
  };

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const target = net.connect({ port: options.targetPort, host: options.targetHost ?? '127.0.0.1', allowHalfOpen: true });
    for (const socket of [client, target]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // Every failure ends in 'close', which the pipes pass on to the other side.
      socket.on('error', () => {});
    }
    delayedPipe(client, target, delayMs, up, true);
    delayedPipe(target, client, delayMs, down, options.passServerClose ?? true);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  cutRoom = options.cutAfterBytes;
  const { port } = server.address() as net.AddressInfo;
  let relisten: NodeJS.Timeout | undefined;

  return {
    port,
    get bytesUp() {
      return bytesUp;
    },
    get bytesDown() {
      return bytesDown;
    },
    get connections() {
      return connections;
    },
    cutAfter(bytes) {
      cutRoom = bytes;
    },
    cutNow,
    refuseFor(ms) {
      server.close();
      clearTimeout(relisten);
      relisten = setTimeout(() => server.listen(port, '127.0.0.1'), ms);
    },
    close() {
      clearTimeout(relisten);
      // Not listening (refusing): close() answers at once with an error, which is as good.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      cutNow();
      return closed;
    },
  };
}

type Event = Buffer | 'end' | 'destroy';

/**
 * One direction of a connection: what `from` sends (data, its end, or its abrupt close) reaches `to`
 * delayMs later, in order. One timed queue per direction, so chunks in flight do not wait for each other.
 */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number, meter: Meter, passClose: boolean): void {
  const queue: { at: number; event: Event }[] = [];
  let queuedBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let awaitingDrain = false;

  const push = (event: Event) => {
    queue.push({ at: performance.now() + delayMs, event });
    if (Buffer.isBuffer(event)) {
      queuedBytes += event.length;
      if (queuedBytes > QUEUE_LIMIT) from.pause();
    }
    if (timer === undefined) flush();
  };

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    while (queue.length > 0 && !awaitingDrain) {
      if (to.destroyed) {
        queue.length = 0;
        queuedBytes = 0;
        return;
      }
      const wait = queue[0].at - performance.now();
      if (wait > 0) {
        timer = setTimeout(flush, wait);
        break;
      }
      const { event } = queue.shift()!;
      if (event === 'end') to.end();
      else if (event === 'destroy') to.destroy();
      else {
        queuedBytes -= event.length;
        const chunk = event.subarray(0, meter.room());
        awaitingDrain = !to.write(chunk);
        meter.passed(chunk.length);
      }
    }
    if (queuedBytes <= QUEUE_LIMIT) from.resume();
  };

  from.on('data', (chunk: Buffer) => push(chunk));
  if (passClose) {
    from.on('end', () => push('end'));
    from.on('close', () => {
      if (!from.readableEnded || !from.writableFinished) push('destroy');
    });
  }
  to.on('drain', () => {
    awaitingDrain = false;
    flush();
  });
}
