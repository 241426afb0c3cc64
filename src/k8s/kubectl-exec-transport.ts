import { PushError, usageError } from '../errors.js';
import { readExitStatus, reportingExitStatus } from '../transport/exit-status.js';
import { ClosedError } from '../transport/run-child.js';
import { ConnectionLostError, lastLine, type RunOptions, type RunResult, type Transport } from '../transport/transport.js';
import type { Kubectl } from './kubectl.js';

/** A pod (and the container in it) that commands run in. */
export interface PodTarget {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
}

/**
 * Runs the destination's `sh` command lines in a pod: `kubectl exec -i -c C -n NS POD -- sh -c '<command>'`,
 * for clusters whose nodes have no SSH (Talos, managed nodes). Each run is one exec stream; several run at once.
 *
 * kubectl exits with the command's status, and ends its stderr with "command terminated with exit code N"
 * when that is not 0; its own failures (API server unreachable, pod gone, exec refused, stream broken)
 * exit 1 with kubectl's message; and when the stream drops it may exit 0 with no message at all
 * (kubernetes/kubectl#1208, #1726). So the command prints its status last on stderr (exit-status.ts):
 * with that line the run has the command's status, without it kubectl lost the command.
 */
export class KubectlExecTransport implements Transport {
  readonly label: string;
  readonly maxParallel = 8;
  /** Aborted by close(): ends every kubectl exec still running. */
  private readonly closing = new AbortController();
  /** Whether a command has run to its exit status here (see ConnectionLostError.reached). */
  private reached = false;

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
    const probe = await transport.run('true').catch((error: unknown) => {
      if (!(error instanceof ConnectionLostError)) throw error;
      throw new PushError(`kubectl exec into ${transport.label} (container ${chosen}) failed: ${error.detail}`, { side: 'remote', cause: error });
    });
    if (probe.code !== 0) {
      throw new PushError(`kubectl exec into ${transport.label} (container ${chosen}) failed: ${lastLine(probe.stderr) || `exit ${probe.code}`}`, { side: 'remote' });
    }
    return transport;
  }

  async run(command: string, options: RunOptions = {}): Promise<RunResult> {
    const { namespace, pod, container } = this.target;
    if (this.closing.signal.aborted) throw new ClosedError(this.label);
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    const words = ['exec', '-i', '-c', container, '-n', namespace, pod, '--', 'sh', '-c', reportingExitStatus(command)];
    const exit = await this.kubectl.run(words, { ...options, signal }).catch((error: unknown) => {
      if (this.closing.signal.aborted) throw new ClosedError(this.label);
      throw error;
    });
    if (this.closing.signal.aborted) throw new ClosedError(this.label);
    const status = readExitStatus(exit.stderr);
    if (!status) {
      const why = lastLine(exit.stderr) || (exit.code === null ? `kubectl was killed by ${exit.signal}` : `kubectl exited ${exit.code}: the exec stream ended before the command did`);
      throw new ConnectionLostError(this.label, why, { reached: this.reached });
    }
    this.reached = true;
    // The command's own status and messages, without kubectl's "command terminated" line after them.
    return { code: status.code, stdout: exit.stdout, stderr: status.stderr };
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
