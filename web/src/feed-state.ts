// The browser's copy of the board, as a pure reducer: snapshots replace the data of
// the topics they cover, changes are applied once each in sequence order, and the
// position (epoch, seq) is what a reconnecting page sends to resume. No I/O here, so
// the same bookkeeping is unit-tested in Node and runs unchanged in the browser.

import {
  applyChange,
  emptyTally,
  medalTopic,
  RAFFLE_TOPIC,
  scoreTopic,
  type BoardData,
  type Catalog,
  type Change,
} from '../../shared/board.js';
import type {
  ChangeMessage,
  RaffleState,
  ResumePoint,
  SnapshotMessage,
  WelcomeMessage,
} from '../../shared/client-protocol.js';

export interface BoardState {
  /** Teams and events as the serving node announced them; null before the first welcome. */
  readonly catalog: Catalog | null;
  /** The change log's epoch this copy follows; null before the first snapshot. */
  readonly epoch: string | null;
  /** The highest sequence number applied (or covered by the last snapshot). */
  readonly seq: number;
  readonly data: BoardData;
  /** The raffle's state when the page follows the raffle topic and the node published it. */
  readonly raffle: RaffleState | null;
  /** The last change applied, so that a view can highlight what just moved. */
  readonly lastChange: Change | null;
  /** How many changes were applied and how many were ignored as already seen. */
  readonly appliedCount: number;
  readonly duplicateCount: number;
}

export function initialBoardState(): BoardState {
  return {
    catalog: null,
    epoch: null,
    seq: 0,
    data: { medals: {}, scores: {} },
    raffle: null,
    lastChange: null,
    appliedCount: 0,
    duplicateCount: 0,
  };
}

/** The topics a page follows for a catalog: every team's medals, every event's score, and the raffle when asked. */
export function topicsForCatalog(catalog: Catalog, options: { raffle: boolean }): string[] {
  const topics = [...catalog.teams.map(medalTopic), ...catalog.events.map(scoreTopic)];
  if (options.raffle) topics.push(RAFFLE_TOPIC);
  return topics;
}

/** Where this copy stands, to send as `resume`; undefined when it never had a snapshot. */
export function resumePointOf(state: BoardState): ResumePoint | undefined {
  return state.epoch === null ? undefined : { epoch: state.epoch, seq: state.seq };
}

/** A node greeted the page: take its catalog. The position stays the one this copy has applied. */
export function reduceWelcome(state: BoardState, welcome: WelcomeMessage): BoardState {
  return { ...state, catalog: welcome.catalog };
}

const MEDAL_PREFIX = medalTopic('');
const SCORE_PREFIX = scoreTopic('');

/**
 * A snapshot replaces the data of the topics it answers (all medal and score topics
 * when `topics` is undefined, as after a refresh) and sets the position to its own,
 * even when that is lower than ours: a snapshot is the whole truth at its seq, and
 * the changes after it follow.
 */
export function reduceSnapshot(state: BoardState, snapshot: SnapshotMessage, topics?: readonly string[]): BoardState {
  const medals: BoardData['medals'] = { ...state.data.medals };
  const scores: BoardData['scores'] = { ...state.data.scores };
  if (topics === undefined) {
    for (const team of Object.keys(medals)) delete medals[team];
    for (const event of Object.keys(scores)) delete scores[event];
  } else {
    for (const topic of topics) {
      if (topic.startsWith(MEDAL_PREFIX)) delete medals[topic.slice(MEDAL_PREFIX.length)];
      else if (topic.startsWith(SCORE_PREFIX)) delete scores[topic.slice(SCORE_PREFIX.length)];
    }
  }
  for (const [team, tally] of Object.entries(snapshot.data.medals)) medals[team] = tally;
  for (const [event, eventScores] of Object.entries(snapshot.data.scores)) scores[event] = eventScores;
  return { ...state, epoch: snapshot.epoch, seq: snapshot.seq, data: { medals, scores } };
}

export const ChangeOutcome = {
  /** Applied; the position moved to the change's seq. */
  applied: 'applied',
  /** Its seq is at or below the position: already shown, ignored. */
  duplicate: 'duplicate',
  /** From another epoch than this copy's (or before any snapshot): ignored; the page should ask for a fresh snapshot. */
  epochMismatch: 'epoch-mismatch',
} as const;
export type ChangeOutcome = (typeof ChangeOutcome)[keyof typeof ChangeOutcome];

export function reduceChange(state: BoardState, message: ChangeMessage): { state: BoardState; outcome: ChangeOutcome } {
  if (state.epoch === null || message.epoch !== state.epoch) {
    return { state, outcome: ChangeOutcome.epochMismatch };
  }
  const change = message.change;
  if (change.seq <= state.seq) {
    return { state: { ...state, duplicateCount: state.duplicateCount + 1 }, outcome: ChangeOutcome.duplicate };
  }
  // Copy only what the change touches, then let the shared applyChange (the one the
  // nodes use) write into the copy: same semantics on both sides, no mutation of the old state.
  const data: BoardData = { medals: { ...state.data.medals }, scores: { ...state.data.scores } };
  if (change.kind === 'medal') {
    data.medals[change.team] = { ...(state.data.medals[change.team] ?? emptyTally()) };
  } else {
    data.scores[change.event] = { ...(state.data.scores[change.event] ?? {}) };
  }
  applyChange(data, change);
  return {
    state: { ...state, seq: change.seq, data, lastChange: change, appliedCount: state.appliedCount + 1 },
    outcome: ChangeOutcome.applied,
  };
}

export function reduceRaffle(state: BoardState, raffle: RaffleState): BoardState {
  return { ...state, raffle };
}

/** The teams an event card shows: the catalog's, then any others the data names. */
export function teamsOfEvent(state: BoardState, event: string): string[] {
  const teams = [...(state.catalog?.teams ?? [])];
  for (const team of Object.keys(state.data.scores[event] ?? {})) {
    if (!teams.includes(team)) teams.push(team);
  }
  return teams;
}
