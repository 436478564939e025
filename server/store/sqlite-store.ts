import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  MEDALS,
  emptyTally,
  type BoardData,
  type Catalog,
  type Change,
  type Medal,
} from '../../shared/board.js';
import type { Write } from '../../shared/peer/store.js';
import { Errors } from '../errors.js';

// The data of record. One SQLite file in WAL mode; every write is one transaction
// that updates the tables and appends the change to an ordered log, so that the
// change's sequence number and its effect commit together or not at all.
// synchronous=FULL: an acknowledged write survives power loss, not only a crash of
// the process; the cost is one fsync per write (measured by bench/store.ts, see
// docs/BENCHMARKS.md and docs/SECURITY.md).

export interface StoreSnapshot {
  epoch: string;
  seq: number;
  catalog: Catalog;
  data: BoardData;
}

export class SqliteStore {
  private readonly db: Database.Database;
  readonly epoch: string;
  private catalogValue: Catalog;
  private seqValue: number;

  private readonly insertChange: Database.Statement;
  private readonly upsertMedal: Database.Statement;
  private readonly selectMedal: Database.Statement;
  private readonly upsertScore: Database.Statement;
  private readonly selectChangesAfter: Database.Statement;
  private readonly selectByWriteId: Database.Statement;

  private constructor(db: Database.Database, catalog: Catalog) {
    this.db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS teams (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS events (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS medals (
        team TEXT NOT NULL, medal TEXT NOT NULL, count INTEGER NOT NULL, updated_at REAL,
        PRIMARY KEY (team, medal));
      CREATE TABLE IF NOT EXISTS scores (
        event TEXT NOT NULL, team TEXT NOT NULL, score REAL NOT NULL, updated_at REAL,
        PRIMARY KEY (event, team));
      CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, write_id TEXT UNIQUE);
      CREATE TABLE IF NOT EXISTS raffle_entries (
        generation TEXT NOT NULL, round INTEGER NOT NULL, ordinal INTEGER NOT NULL, body TEXT NOT NULL,
        reported_by TEXT NOT NULL, PRIMARY KEY (generation, round, ordinal));
      CREATE TABLE IF NOT EXISTS raffle_draws (
        generation TEXT NOT NULL, round INTEGER NOT NULL, body TEXT NOT NULL, reported_by TEXT NOT NULL,
        PRIMARY KEY (generation, round));
    `);
    const epochRow = db.prepare(`SELECT value FROM meta WHERE key = 'epoch'`).get() as { value: string } | undefined;
    if (epochRow) {
      this.epoch = epochRow.value;
    } else {
      // A new database is a new history: clients that saw another epoch must take a snapshot.
      this.epoch = randomUUID();
      db.prepare(`INSERT INTO meta (key, value) VALUES ('epoch', ?)`).run(this.epoch);
    }
    this.insertChange = db.prepare(`INSERT INTO changes (seq, body, write_id) VALUES (?, ?, ?)`);
    this.selectByWriteId = db.prepare(`SELECT body FROM changes WHERE write_id = ?`);
    this.upsertMedal = db.prepare(
      `INSERT INTO medals (team, medal, count, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (team, medal) DO UPDATE SET count = excluded.count, updated_at = excluded.updated_at`,
    );
    this.selectMedal = db.prepare(`SELECT count FROM medals WHERE team = ? AND medal = ?`);
    this.upsertScore = db.prepare(
      `INSERT INTO scores (event, team, score, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (event, team) DO UPDATE SET score = excluded.score, updated_at = excluded.updated_at`,
    );
    this.selectChangesAfter = db.prepare(`SELECT body FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`);
    this.catalogValue = this.mergeCatalog(catalog);
    const last = db.prepare(`SELECT MAX(seq) AS seq FROM changes`).get() as { seq: number | null };
    this.seqValue = last.seq ?? 0;
  }

  /**
   * Opens (or creates) the store in dataDir; ":memory:" keeps it in memory, for tests.
   * synchronous NORMAL exists for the durability benchmark only (bench/store.ts).
   */
  static open(dataDir: string, catalog: Catalog, options: { synchronous?: 'FULL' | 'NORMAL' } = {}): SqliteStore {
    let db: Database.Database;
    if (dataDir === ':memory:') {
      db = new Database(':memory:');
    } else {
      mkdirSync(dataDir, { recursive: true });
      db = new Database(join(dataDir, 'olympix.sqlite3'));
      db.pragma('journal_mode = WAL');
    }
    db.pragma(`synchronous = ${options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    db.pragma('foreign_keys = ON');
    return new SqliteStore(db, catalog);
  }

  get seq(): number {
    return this.seqValue;
  }

  get catalog(): Catalog {
    return this.catalogValue;
  }

  /**
   * Teams and events are data: the configured catalog is merged into the stored one.
   * A name that the configuration no longer lists is kept, with its results, since
   * dropping data of record because of a configuration edit would lose it silently.
   */
  private mergeCatalog(configured: Catalog): Catalog {
    const merge = this.db.transaction((table: 'teams' | 'events', names: string[]) => {
      const existing = (this.db.prepare(`SELECT name FROM ${table} ORDER BY position`).all() as { name: string }[]).map(
        (row) => row.name,
      );
      const insert = this.db.prepare(`INSERT INTO ${table} (name, position) VALUES (?, ?)`);
      let position = existing.length;
      for (const name of names) {
        if (!existing.includes(name)) {
          insert.run(name, position++);
          existing.push(name);
        }
      }
      return existing;
    });
    const teams = merge('teams', configured.teams);
    const events = merge('events', configured.events);
    return { teams, events };
  }

  /**
   * Commits a write and returns the change it made, with its sequence number. Throws
   * OlympixError on bad input; nothing is written then. A writeId seen before returns
   * the change it made the first time: resending after a lost link is safe.
   */
  write(writeId: string, write: Write, updatedAt: number, node: string): { change: Change; duplicate: boolean } {
    return this.db.transaction(() => {
      const earlier = this.selectByWriteId.get(writeId) as { body: string } | undefined;
      if (earlier) return { change: JSON.parse(earlier.body) as Change, duplicate: true };
      return { change: this.applyWrite(writeId, write, updatedAt, node), duplicate: false };
    })();
  }

  private applyWrite(writeId: string, write: Write, updatedAt: number, node: string): Change {
      const seq = this.seqValue + 1;
      let change: Change;
      if (write.kind === 'medal') {
        if (!this.catalogValue.teams.includes(write.team)) throw Errors.unknownTeam(write.team);
        if (write.delta === 0) throw Errors.badBody('delta must not be 0');
        const row = this.selectMedal.get(write.team, write.medal) as { count: number } | undefined;
        const count = (row?.count ?? 0) + write.delta;
        if (count < 0) {
          throw Errors.conflict(`${write.team} has ${row?.count ?? 0} ${write.medal} medals; cannot take back ${-write.delta}`);
        }
        this.upsertMedal.run(write.team, write.medal, count, updatedAt);
        change = { kind: 'medal', seq, team: write.team, medal: write.medal, count, delta: write.delta, updatedAt, node };
      } else {
        if (!this.catalogValue.events.includes(write.event)) throw Errors.unknownEvent(write.event);
        for (const team of Object.keys(write.scores)) {
          if (!this.catalogValue.teams.includes(team)) throw Errors.unknownTeam(team);
        }
        for (const [team, score] of Object.entries(write.scores)) {
          if (!Number.isFinite(score)) throw Errors.badBody(`scores.${team} must be a finite number`);
          this.upsertScore.run(write.event, team, score, updatedAt);
        }
        change = { kind: 'score', seq, event: write.event, scores: { ...write.scores }, updatedAt, node };
      }
      this.insertChange.run(seq, JSON.stringify(change), writeId);
      // Only advance once the transaction body succeeded; a throw rolls back and leaves seq as it was.
      this.seqValue = seq;
      return change;
  }

  /** The committed changes after seq, in order, at most limit of them. */
  changesAfter(seq: number, limit: number): Change[] {
    return (this.selectChangesAfter.all(seq, limit) as { body: string }[]).map((row) => JSON.parse(row.body) as Change);
  }

  snapshot(): StoreSnapshot {
    const data: BoardData = { medals: {}, scores: {} };
    for (const team of this.catalogValue.teams) data.medals[team] = emptyTally();
    for (const event of this.catalogValue.events) {
      const scores: BoardData['scores'][string] = {};
      for (const team of this.catalogValue.teams) scores[team] = { value: 0, updatedAt: null };
      data.scores[event] = scores;
    }
    const medals = this.db.prepare(`SELECT team, medal, count, updated_at FROM medals`).all() as {
      team: string;
      medal: Medal;
      count: number;
      updated_at: number | null;
    }[];
    for (const row of medals) {
      if (!MEDALS.includes(row.medal)) continue;
      const tally = (data.medals[row.team] ??= emptyTally());
      tally[row.medal] = { value: row.count, updatedAt: row.updated_at };
    }
    const scores = this.db.prepare(`SELECT event, team, score, updated_at FROM scores`).all() as {
      event: string;
      team: string;
      score: number;
      updated_at: number | null;
    }[];
    for (const row of scores) {
      (data.scores[row.event] ??= {})[row.team] = { value: row.score, updatedAt: row.updated_at };
    }
    return { epoch: this.epoch, seq: this.seqValue, catalog: this.catalogValue, data };
  }

  /**
   * Keeps a raffle entry. Every node reports every entry it delivers; they must all
   * agree, so the first report is kept and a different one is a divergence, which the
   * caller logs loudly (it would mean the total order was broken).
   */
  recordRaffle(
    table: 'raffle_entries' | 'raffle_draws',
    key: { generation: string; round: number; ordinal?: number },
    body: unknown,
    reportedBy: string,
  ): 'kept' | 'same' | 'conflict' {
    const text = JSON.stringify(body);
    const entries = table === 'raffle_entries';
    const where = entries ? 'generation = ? AND round = ? AND ordinal = ?' : 'generation = ? AND round = ?';
    const params = entries ? [key.generation, key.round, key.ordinal] : [key.generation, key.round];
    return this.db.transaction(() => {
      const existing = this.db.prepare(`SELECT body FROM ${table} WHERE ${where}`).get(...params) as { body: string } | undefined;
      if (existing) return existing.body === text ? 'same' : 'conflict';
      if (entries) {
        this.db
          .prepare(`INSERT INTO raffle_entries (generation, round, ordinal, body, reported_by) VALUES (?, ?, ?, ?, ?)`)
          .run(key.generation, key.round, key.ordinal, text, reportedBy);
      } else {
        this.db.prepare(`INSERT INTO raffle_draws (generation, round, body, reported_by) VALUES (?, ?, ?, ?)`).run(key.generation, key.round, text, reportedBy);
      }
      return 'kept';
    })();
  }

  /** The kept raffle entries and draws, newest first. */
  raffle(limit = 1000): { entries: unknown[]; draws: unknown[] } {
    const rows = (sql: string) => (this.db.prepare(sql).all(limit) as { generation: string; body: string }[]).map((row) => ({ generation: row.generation, ...(JSON.parse(row.body) as object) }));
    return {
      entries: rows(`SELECT generation, body FROM raffle_entries ORDER BY rowid DESC LIMIT ?`),
      draws: rows(`SELECT generation, body FROM raffle_draws ORDER BY rowid DESC LIMIT ?`),
    };
  }

  close(): void {
    this.db.close();
  }
}
