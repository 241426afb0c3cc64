import { PushError, usageError } from '../errors.js';
import { closedError } from '../transport/run-child.js';
import type { RunOptions, RunResult, Transport } from '../transport/transport.js';
import type { Kubectl } from './kubectl.js';

/** A pod (and the container in it) that commands run in. */
export interface PodTarget {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
}

// kubectl exec ends its stderr with this line when the command in the pod exits non-zero, and exits with its status.
const EXIT_TRAILER = /(?:^|\n)command terminated with exit code (\d+)\n?$/;

/**
 * Runs the destination's `sh` command lines in a pod: `kubectl exec -i -c C -n NS POD -- sh -c '<command>'`,
 * for clusters whose nodes have no SSH (Talos, managed nodes). Each run is one exec stream; several run at once.
 */
export class KubectlExecTransport implements Transport {
  readonly label: string;
  readonly maxParallel = 8;
  /** Aborted by close(): ends every kubectl exec still running. */
  private readonly closing = new AbortController();

  constructor(
    private readonly kubectl: Kubectl,
    readonly target: PodTarget,
  ) {
    this.label = `pod ${target.namespace}/${target.pod}`;
  }

  /** Checks that the pod exists, runs, and has the container (by default, the one kubectl exec would pick). */
  static async open(kubectl: Kubectl, namespace: string, pod: string, container?: string): Promise<KubectlExecTransport> {
    const where = `${namespace}/${pod}`;
    const got = await kubectl.get(['pod', pod, '-n', namespace]);
    if (!got.found) throw usageError(`pod ${where} not found; check the name and namespace (kubectl get pods -A lists the pods)`);
    const object = got.object as PodJson;
    const names = (object.spec?.containers ?? []).map((c) => c.name).filter((n): n is string => typeof n === 'string');
    const chosen = container ?? object.metadata?.annotations?.['kubectl.kubernetes.io/default-container'] ?? names[0];
    if (chosen === undefined || !names.includes(chosen)) {
      throw usageError(`pod ${where} has no container ${JSON.stringify(chosen ?? '')}; it has: ${names.join(', ') || 'none'} (choose one with -c)`);
    }
    const phase = object.status?.phase;
    if (phase !== 'Running') {
      throw new PushError(`pod ${where} is ${phase ?? 'in no phase'}, not Running; wait for it (kubectl get pod -n ${namespace} ${pod} -w) and run again`, {
        side: 'remote',
      });
    }
    const transport = new KubectlExecTransport(kubectl, { namespace, pod, container: chosen });
    // One empty command first: RBAC on pods/exec, a container without sh, ... fail here with kubectl's reason.
    const probe = await transport.run('true');
    if (probe.code !== 0) {
      const last = probe.stderr.toString('utf8').trim().split('\n').filter(Boolean).pop() ?? `exit ${probe.code}`;
      throw new PushError(`kubectl exec into ${transport.label} (container ${chosen}) failed: ${last}`, { side: 'remote' });
    }
    return transport;
  }

  async run(command: string, options: RunOptions = {}): Promise<RunResult> {
    const { namespace, pod, container } = this.target;
    if (this.closing.signal.aborted) throw closedError(this.label);
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    const words = ['exec', '-i', '-c', container, '-n', namespace, pod, '--', 'sh', '-c', command];
    const result = await this.kubectl.run(words, { ...options, signal });
    if (this.closing.signal.aborted) throw closedError(this.label);
    const stderr = result.stderr.toString('utf8');
    const trailer = EXIT_TRAILER.exec(stderr);
    if (trailer) {
      // The command's own status and messages, without kubectl's line about them.
      return { code: Number(trailer[1]), stdout: result.stdout, stderr: Buffer.from(stderr.slice(0, trailer.index)) };
    }
    // kubectl failed itself (stream lost, pod gone, API unreachable): the command's status is unknown.
    if (result.code !== 0) return { ...result, code: null };
    return result;
  }

  async close(): Promise<void> {
    this.closing.abort();
  }
}

interface PodJson {
  metadata?: { annotations?: Record<string, string> };
  spec?: { containers?: { name?: unknown }[] };
  status?: { phase?: string };
}
