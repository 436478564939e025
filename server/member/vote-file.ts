import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ElectionPersisted } from '../../shared/peer/election.js';
import { check } from '../../shared/validate.js';

// The election's durable state (term and vote). It must be on disk before any
// message that depends on it is sent, or a restarted member could vote twice in one
// term: written to a temporary file, fsynced, then renamed over the old one, so that
// a crash leaves either the old state or the new, never half of one.

export function voteFilePath(dataDir: string, member: string): string {
  return join(dataDir, `election-${member}.json`);
}

export function readVote(path: string): ElectionPersisted | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON; remove it only if this member has not voted in the current term`);
  }
  const parsed = check(ElectionPersisted, json);
  if (!parsed.ok) throw new Error(`${path} is invalid at ${parsed.error}`);
  return parsed.value;
}

export function writeVote(path: string, state: ElectionPersisted): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  // The rename itself is made durable by syncing the directory.
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
