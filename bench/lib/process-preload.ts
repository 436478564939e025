// What the bench needs inside a server process it did not write (olympix's nodes),
// without a line of their code: a module preloaded through NODE_OPTIONS as a data:
// URL (plain JavaScript, since it runs before tsx is registered). It makes SIGUSR2
// collect garbage (with --expose-gc) and, when BENCH_CPU_PROF_DIR is set, profiles
// the process from its start and writes CPU.<pid>.cpuprofile there at exit: the same
// file as `node --cpu-prof`, which Node 20 does not accept in NODE_OPTIONS.

const PRELOAD_SOURCE = `
process.on('SIGUSR2', () => globalThis.gc?.());
const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const { Session } = await import('node:inspector');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    // A session in the process's own thread answers synchronously, so this works in 'exit'.
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(dir + '/CPU.' + process.pid + '.cpuprofile', JSON.stringify(result.profile));
    });
  });
}
`;

/** The NODE_OPTIONS flags that load the preload (and expose gc). */
export function preloadNodeOptions(): string[] {
  return ['--expose-gc', `--import=data:text/javascript,${encodeURIComponent(PRELOAD_SOURCE.trim())}`];
}
