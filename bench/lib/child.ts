import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

// A bench helper process (a reference server) started with this Node and tsx, its
// stdout read as JSON lines so that the bench can wait for "listening", and stopped
// with SIGTERM, then SIGKILL after a grace period.

export interface ScriptProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the first JSON line for which match is true; rejects after timeoutMs or on exit. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  stop(graceMs?: number): Promise<void>;
}

export function startScript(
  scriptPath: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[]; echo?: boolean } = {},
): ScriptProcess {
  // stdin stays open as a lifeline: the script exits when it closes (this process died).
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', scriptPath, ...args], {
    env: { ...(options.env ?? process.env), BENCH_SUPERVISED: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${scriptPath}`);
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let exited = false;
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (options.echo) process.stderr.write(`[${scriptPath}] ${line}\n`);
    if (!line.startsWith('{')) return;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      wake();
    } catch {
      // not one of ours
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`[${scriptPath}] ${line}\n`));
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      wake();
      resolve();
    }),
  );
  return {
    child,
    pid: child.pid,
    waitForLine(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match);
          if (found) return done(() => resolve(found));
          if (exited) return done(() => reject(new Error(`${scriptPath} exited before the expected line`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${scriptPath}: no expected line within ${timeoutMs} ms`))), timeoutMs);
        const done = (finish: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          finish();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 5000) {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}
