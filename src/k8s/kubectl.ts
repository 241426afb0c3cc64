import { spawn } from 'node:child_process';
import { PushError } from '../errors.js';
import { type ChildExit, runChild } from '../transport/run-child.js';
import { lastLine, type RunOptions } from '../transport/transport.js';

export interface KubectlOptions {
  /** `--context`: a context of the kubeconfig other than the current one. */
  readonly context?: string | undefined;
  /** `--kubeconfig`: a kubeconfig file other than $KUBECONFIG / ~/.kube/config. */
  readonly kubeconfig?: string | undefined;
}

/** What `kubectl get ... -o json` answered: the object, or NotFound. */
export type GetResult = { readonly found: true; readonly object: unknown } | { readonly found: false };

/**
 * The user's own `kubectl` on PATH, so their kubeconfig, contexts and auth plugins apply unchanged.
 * Always spawned with an argument array; values of our flags go as `--flag=value`, so none is read
 * as another flag.
 */
export class Kubectl {
  constructor(private readonly options: KubectlOptions = {}) {}

  /** kubectl's arguments for `words`, our global flags first. */
  args(words: readonly string[]): string[] {
    return [
      ...(this.options.context ? [`--context=${this.options.context}`] : []),
      ...(this.options.kubeconfig ? [`--kubeconfig=${this.options.kubeconfig}`] : []),
      ...words,
    ];
  }

  /** Runs kubectl with `words`; stdin and abort as for a transport run. Resolves with kubectl's own exit. */
  run(words: readonly string[], options: RunOptions = {}): Promise<ChildExit> {
    const child = spawn('kubectl', this.args(words), { stdio: ['pipe', 'pipe', 'pipe'] });
    return runChild(child, options).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        throw new PushError('kubectl not found on PATH; --pvc and --pod run your kubectl (with your kubeconfig and context): install it or put it on PATH', {
          side: 'usage',
          cause: error,
        });
      }
      throw error;
    });
  }

  /** `kubectl get <words> -o json`; NotFound is an answer, any other failure an error naming the command. */
  async get(words: readonly string[]): Promise<GetResult> {
    const result = await this.run(['get', ...words, '-o', 'json']);
    const stderr = result.stderr.toString('utf8');
    if (result.code !== 0) {
      if (/\(NotFound\)/.test(stderr)) return { found: false };
      throw this.failure(['get', ...words, '-o', 'json'], result);
    }
    try {
      return { found: true, object: JSON.parse(result.stdout.toString('utf8')) as unknown };
    } catch (error) {
      throw new PushError(`kubectl get ${words.join(' ')} printed no JSON`, { side: 'remote', cause: error });
    }
  }

  /** The namespace of the current (or --context) context; `default` when it names none. */
  async currentNamespace(): Promise<string> {
    const result = await this.run(['config', 'view', '--minify', '-o', 'jsonpath={..namespace}']);
    const namespace = result.stdout.toString('utf8').trim();
    // With no current context (in-cluster, or an empty kubeconfig) there is nothing to minify: kubectl's default applies.
    return result.code === 0 && namespace !== '' ? namespace : 'default';
  }

  /** An error for a failed kubectl command: kubectl's last line says why (connection refused, Forbidden, ...). */
  failure(words: readonly string[], result: ChildExit): PushError {
    const last = lastLine(result.stderr) || (result.code === null ? `killed by ${result.signal}` : `exit ${result.code}`);
    return new PushError(`kubectl ${this.args(words).join(' ')} failed: ${last}`, { side: 'remote' });
  }
}
