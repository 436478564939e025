import { readFileSync } from 'node:fs';

// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self and
// inclusive time per function, and self time per area (a package, a Node module, a
// file of ours), optionally only within a time window. V8 stamps samples with its
// monotonic clock in microseconds, which on Linux is CLOCK_MONOTONIC, the clock of
// process.hrtime.bigint(): a bench can cut the profile to its measured phase.

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  sampledMs: number;
  /** By self time. */
  functions: ProfileRow[];
  /** By inclusive time (JavaScript functions only). */
  inclusive: ProfileRow[];
  areas: Array<{ area: string; selfMs: number }>;
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const main = url.indexOf('/main/');
  if (main >= 0) return url.slice(main + '/main/'.length);
  return url.replace(/^file:\/\//, '');
}

function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (url.startsWith('node:')) return url.split('/').slice(0, 3).join('/');
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return shortUrl(url);
}

function nameOf(frame: CallFrame): string {
  const fn = frame.functionName || '(anonymous)';
  return frame.url === '' ? fn : `${fn} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

/** Summarises a profile; window in microseconds of CLOCK_MONOTONIC (hrtime ns / 1000). */
export function summarizeCpuProfile(path: string, window?: { fromUs: number; toUs: number }, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areas = new Map<string, number>();
  let sampledMs = 0;
  let timeUs = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    timeUs += profile.timeDeltas[i]!;
    if (window && (timeUs < window.fromUs || timeUs > window.toUs)) continue;
    const durationMs = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i]!) / 1000;
    const leaf = byId.get(profile.samples[i]!)!;
    if (leaf.callFrame.functionName === '(idle)') continue;
    sampledMs += durationMs;
    const leafName = nameOf(leaf.callFrame);
    self.set(leafName, (self.get(leafName) ?? 0) + durationMs);
    const area = areaOf(leaf.callFrame);
    areas.set(area, (areas.get(area) ?? 0) + durationMs);
    const onStack = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parentOf.get(id)) {
      const name = nameOf(byId.get(id)!.callFrame);
      if (onStack.has(name)) continue;
      onStack.add(name);
      total.set(name, (total.get(name) ?? 0) + durationMs);
    }
  }
  const rows = [...new Set([...self.keys(), ...total.keys()])]
    .filter((name) => name !== '(root)')
    .map((name) => ({ name, selfMs: self.get(name) ?? 0, totalMs: total.get(name) ?? 0 }));
  return {
    sampledMs,
    functions: [...rows].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
    inclusive: rows.filter((row) => !row.name.startsWith('(')).sort((a, b) => b.totalMs - a.totalMs).slice(0, top),
    areas: [...areas].map(([area, selfMs]) => ({ area, selfMs })).sort((a, b) => b.selfMs - a.selfMs).slice(0, 15),
  };
}
