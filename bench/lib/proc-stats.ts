import { readFileSync } from 'node:fs';

// What the kernel says about a process: CPU time and resident memory, read from
// /proc so that the measured process needs no code of ours. Linux only.

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (USER_HZ: 100 on every Linux we run). */
export const CLOCK_TICKS_PER_S = 100;

/** User plus system CPU time of a process, in milliseconds (10 ms resolution). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
  const utimeTicks = Number(fields[11]);
  const stimeTicks = Number(fields[12]);
  return ((utimeTicks + stimeTicks) * 1000) / CLOCK_TICKS_PER_S;
}

/** Resident set size of a process, in KiB (VmRSS). */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** Sum of cpuMs over several processes. */
export function cpuMsOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += cpuMs(pid);
  return total;
}

/** Sum of rssKb over several processes. */
export function rssKbOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += rssKb(pid);
  return total;
}

/** CPU time the whole machine spent busy (all cores, not idle or iowait), in milliseconds. */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / CLOCK_TICKS_PER_S;
}
