import { readFileSync, rmSync } from 'node:fs';

// Reads a V8 heap snapshot (the file v8.writeHeapSnapshot() writes) and totals its
// objects by kind: objects and closures by constructor name, strings together, other
// node types by type (and name for hidden and array nodes). The file is deleted.

export type HeapTotals = Record<string, { count: number; bytes: number }>;

interface HeapSnapshotFile {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function heapByConstructor(file: string): HeapTotals {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshotFile;
  rmSync(file, { force: true });
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const totals: HeapTotals = {};
  for (let i = 0; i < snapshot.nodes.length; i += stride) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const name = snapshot.strings[snapshot.nodes[i + nameAt]!]!;
    const key =
      type === 'object' || type === 'closure'
        ? `${type} ${name}`
        : type.includes('string')
          ? 'strings'
          : type === 'hidden' || type === 'array'
            ? `${type} ${name.slice(0, 40)}`
            : type;
    const entry = (totals[key] ??= { count: 0, bytes: 0 });
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt]!;
  }
  return totals;
}

/** Per connection: what grew between two totals, largest first. */
export function growthPerConnection(before: HeapTotals, after: HeapTotals, connections: number): Array<{ key: string; count: number; bytes: number }> {
  return Object.entries(after)
    .map(([key, entry]) => ({ key, count: (entry.count - (before[key]?.count ?? 0)) / connections, bytes: (entry.bytes - (before[key]?.bytes ?? 0)) / connections }))
    .sort((a, b) => b.bytes - a.bytes);
}
