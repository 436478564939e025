import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Log } from '../log.js';
import type { ProcessSpec } from './topology.js';

// One child process of the cluster: started with the same Node and tsx as the parent,
// its output read line by line, restarted with backoff when it dies unexpectedly
// (when supervised), stopped with SIGTERM and, if it does not go, SIGKILL.

const CLI_PATH = fileURLToPath(new URL('../cli.ts', import.meta.url));

export interface ManagedProcessOptions {
  env: NodeJS.ProcessEnv;
  log: Log;
  /** Every line the child prints (stdout and stderr). */
  onLine?: (name: string, line: string, stream: 'stdout' | 'stderr') => void;
  /** Restart when it exits without being asked to. */
  restart: boolean;
}

export class ManagedProcess {
  private child: ChildProcess | null = null;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartDelayMs = 100;
  private startedAtMs = 0;
  restarts = 0;
  private exitWaiters: Array<() => void> = [];

  constructor(
    readonly spec: ProcessSpec,
    private readonly options: ManagedProcessOptions,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Stopped on request (kill or stop) and not started since: the supervisor leaves it down. */
  get held(): boolean {
    return this.stopping && this.child === null;
  }

  /** How long the current child has run, or null when there is none. */
  get uptimeMs(): number | null {
    return this.child === null ? null : performance.now() - this.startedAtMs;
  }

  start(): void {
    if (this.child) throw new Error(`${this.spec.name} is already running`);
    // A restart after a crash may be pending: starting now replaces it, so that its
    // timer cannot later find the child running.
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.stopping = false;
    this.startedAtMs = performance.now();
    const child = spawn(process.execPath, [...(this.spec.v8Flags ?? []), '--import', 'tsx', CLI_PATH, ...this.spec.args], {
      env: { ...this.options.env, OLYMPIX_SUPERVISED: '1' },
      // stdin stays open as a lifeline: the child exits when it closes (the supervisor died).
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    for (const [stream, name] of [[child.stdout!, 'stdout'], [child.stderr!, 'stderr']] as const) {
      createInterface({ input: stream }).on('line', (line) => this.options.onLine?.(this.spec.name, line, name));
    }
    child.on('error', (error) => this.options.log('child.error', { name: this.spec.name, error: error.message }));
    child.on('exit', (code, signal) => {
      this.child = null;
      const waiters = this.exitWaiters;
      this.exitWaiters = [];
      for (const resolve of waiters) resolve();
      if (this.stopping) return;
      this.options.log('child.exited', { name: this.spec.name, code, signal, restart: this.options.restart });
      if (!this.options.restart) return;
      // A child that ran for a while gets a quick restart; one that keeps dying backs off.
      if (performance.now() - this.startedAtMs > 10_000) this.restartDelayMs = 100;
      const delayMs = this.restartDelayMs;
      this.restartDelayMs = Math.min(this.restartDelayMs * 2, 5000);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.stopping) return;
        this.restarts++;
        this.options.log('child.restarting', { name: this.spec.name, restarts: this.restarts });
        this.start();
      }, delayMs);
    });
    this.options.log('child.started', { name: this.spec.name, pid: child.pid, url: this.spec.url });
  }

  private exited(): Promise<void> {
    if (!this.child) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** Sends a signal (e.g. SIGKILL for a fault, SIGSTOP/SIGCONT for a pause). A supervised child is then restarted. */
  signal(signal: NodeJS.Signals): boolean {
    return this.child?.kill(signal) ?? false;
  }

  /** Kills without restarting and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const exited = this.exited();
    this.child?.kill(signal);
    await exited;
  }

  /** Starts it again on request (a fault control) after a kill or stop; counted as a restart. */
  startAgain(): void {
    if (this.child) throw new Error(`${this.spec.name} is already running`);
    this.restarts++;
    this.options.log('child.restarting', { name: this.spec.name, restarts: this.restarts, requested: true });
    this.start();
  }

  /** Asks the child to stop (SIGTERM), then kills it if it has not gone after graceMs. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (!this.child) return;
    const exited = this.exited();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
