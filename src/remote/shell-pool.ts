import type { Transport } from '../transport/transport.js';
import { WarmShell } from './warm-shell.js';

/** Idle shells kept for the next program; more would only hold channels. */
const IDLE_MAX = 1;
/** How long closing waits for the shells it let go that may still be starting (a round trip, unless the link is gone). */
const RELEASE_WAIT_MS = 2000;

interface Waiter {
  readonly inTurn: boolean;
  /** It waits for a shell running a program in turn to come back rather than have one started. */
  readonly patient: boolean;
  resolve(shell: WarmShell): void;
  reject(error: unknown): void;
}

/**
 * The destination's shells (see WarmShell). A program takes an idle shell, or the first of the shells
 * starting that opens: work waits for a channel, not for one particular shell, so a shell that goes
 * idle meanwhile serves it and a channel held by an idle shell never holds anything up. A program that
 * runs in turn gives its shell back; every shell then started costs one login shell for many programs.
 */
export class ShellPool {
  private readonly idle: WarmShell[] = [];
  private readonly waiting: Waiter[] = [];
  private starting = 0;
  /** Programs in turn, running or waiting for a shell: each brings its shell back. */
  private inTurn = 0;
  /** Shells running a program in turn now. */
  private lent = 0;
  private keepWarm = false;
  private released = false;

  constructor(
    private readonly transport: Transport,
    private readonly command: string,
  ) {}

  /**
   * A shell to run one program in (`inTurn`: one that gives it back): idle, or the next to start or come
   * back. A `patient` program (a hash follower, which only reads later when it starts later) waits for a
   * program in turn to give its shell back, when one runs, instead of costing a login shell more.
   */
  async take(inTurn: boolean, patient = false): Promise<WarmShell> {
    this.released = false;
    // Counted from now: a program in turn brings its shell back, so no spare is started for it (warm).
    if (inTurn) this.inTurn++;
    let shell = this.idle.pop();
    while (shell && !shell.usable) shell = this.idle.pop();
    if (shell) {
      if (inTurn) this.lent++;
      this.warm();
      return shell;
    }
    const taken = new Promise<WarmShell>((resolve, reject) => this.waiting.push({ inTurn, patient, resolve, reject }));
    this.balance();
    return taken.catch((error: unknown) => {
      if (inTurn) this.inTurn--;
      throw error;
    });
  }

  /** Gives back a shell taken to run a program in turn, once the program is done. */
  giveBack(shell: WarmShell): void {
    this.inTurn--;
    this.lent--;
    if (shell.usable) this.ready(shell);
    this.balance();
  }

  /**
   * While on, one shell is kept ready for the next program: idle, starting, or running a program in
   * turn (which brings it back), so that the next program, say a manifest once the blobs are in, finds
   * its login shell done.
   */
  keepShellWarm(on: boolean): void {
    this.keepWarm = on;
    this.warm();
  }

  /**
   * Lets every idle shell go (at the end of a run). Resolves once those that never ran a program have
   * exited (at most after RELEASE_WAIT_MS): their login shell may still be starting, and closing the
   * connection would cut it off midway (and its CPU off the bench's count). One that ran a program has
   * started and waits on its stdin, whose end it reads at once: waiting for its exit would only keep
   * the run a round trip longer.
   */
  async release(): Promise<void> {
    this.keepWarm = false;
    this.released = true;
    const shells = this.idle.splice(0);
    for (const shell of shells) shell.release();
    const starting = shells.filter((shell) => !shell.startupDone);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, RELEASE_WAIT_MS)));
    await Promise.race([Promise.allSettled(starting.map((shell) => shell.ending)), late]);
    clearTimeout(timer);
  }

  /**
   * Starts a shell before any program wants it, unless one is idle or starting: its login shell then
   * runs while this side does other work (reads the local blobs). Resolves once its channel is open, or
   * it failed (the first program then starts another): the round trip measured on opening it is not
   * slowed by that work.
   */
  startAhead(): Promise<void> {
    if (this.idle.length + this.starting + this.inTurn > 0) return Promise.resolve();
    const shell = this.start();
    return new Promise((resolve) => {
      shell.whenStarted(resolve);
      shell.ending.then(() => resolve(), () => resolve());
    });
  }

  private warm(): void {
    if (this.keepWarm) void this.startAhead();
  }

  /** Starts a shell for each program waiting that no shell starting or coming back will serve. */
  private balance(): void {
    const comesBack = this.lent > 0 || this.waiting.some((w) => w.inTurn && !w.patient);
    const served = comesBack ? this.waiting.filter((w) => w.patient).length : 0;
    while (this.starting < this.waiting.length - served) this.start();
  }

  private start(): WarmShell {
    const shell = new WarmShell(this.transport, this.command);
    this.starting++;
    let opened = false;
    shell.whenStarted(() => {
      opened = true;
      this.starting--;
      this.ready(shell);
    });
    // One that never opened (the destination unreachable, the transport closed) fails the oldest wait.
    const failed = (error: unknown) => {
      if (opened) return;
      this.starting--;
      this.waiting.shift()?.reject(error);
      this.balance();
    };
    shell.ending.then(() => failed(new Error(`${this.transport.label}: a shell ended before it started`)), failed);
    return shell;
  }

  /** Gives a shell that opened or came back to the oldest program waiting, a patient one last. */
  private ready(shell: WarmShell): void {
    const urgent = this.waiting.findIndex((w) => !w.patient);
    const waiter = this.waiting.splice(Math.max(urgent, 0), 1)[0];
    if (waiter) {
      if (waiter.inTurn) this.lent++;
      waiter.resolve(shell);
      this.balance();
      // The next program (the next batch, the manifest) then finds its login shell done.
      this.warm();
    } else if (!this.released && this.idle.length < IDLE_MAX) this.idle.push(shell);
    else shell.release();
  }
}
