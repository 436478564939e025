import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { MemberId, Output, StateMachine } from '../../server/algorithms/machine.js';
import {
  TotalOrderMulticast,
  ViewCoordinator,
  type MulticastEvent,
  type MulticastWire,
  type TotalOrderMulticastOptions,
} from '../../server/algorithms/total-order-multicast.js';
import { Raffle } from '../../server/algorithms/raffle.js';
import { MULTICAST_BATCH_MAX, MulticastMessage, type MulticastPayload, type RaffleState } from '../../shared/peer/multicast.js';
import { Simulator, type SimMemberContext } from '../sim/simulator.js';

// Scenario tests of the total-order multicast: the simulator in manual mode holds every
// message until the test delivers or drops it, so that each test can say exactly which
// acknowledgement arrives when, which data is lost or duplicated, and when a member
// crashes or is cut off. The seeded runs are in multicast-sim.test.ts.

type Message = MulticastWire<MulticastPayload, RaffleState>;
type Event = MulticastEvent<MulticastPayload, RaffleState>;

// The machine's generic wire type and the schema's static type are the same type.
const wireIsSchema = (message: Message): MulticastMessage => message;
const schemaIsWire = (message: MulticastMessage): Message => message;
void wireIsSchema;
void schemaIsWire;

const nodes = ['node-1', 'node-2', 'node-3'];
const validMessage = TypeCompiler.Compile(MulticastMessage);

/** A node as the shell wires it: the multicast, and the raffle fed with its deliveries. */
class AppNode implements StateMachine<Message, Event> {
  readonly tom: TotalOrderMulticast<MulticastPayload, RaffleState>;
  raffle = new Raffle({ every: 2 });

  constructor(options: TotalOrderMulticastOptions) {
    this.tom = new TotalOrderMulticast<MulticastPayload, RaffleState>(options);
  }

  step(from: MemberId, message: Message): void {
    this.tom.step(from, message);
  }

  tick(): void {
    this.tom.tick();
  }

  peerUp(peer: MemberId): void {
    this.tom.peerUp(peer);
  }

  peerDown(peer: MemberId): void {
    this.tom.peerDown(peer);
  }

  drain(): Output<Message, Event> {
    const messages: Output<Message, Event>['messages'] = [];
    const events: Event[] = [];
    for (;;) {
      const output = this.tom.drain();
      for (const outgoing of output.messages) {
        assert.ok(validMessage.Check(outgoing.message), `invalid ${outgoing.message.type}: ${JSON.stringify([...validMessage.Errors(outgoing.message)][0])}`);
      }
      messages.push(...output.messages);
      if (output.events.length === 0) break;
      for (const event of output.events) {
        events.push(event);
        if (event.type === 'deliver') this.raffle.apply(event.payload, event.index, event.sender);
        if (event.type === 'view' && event.joined) {
          this.raffle = new Raffle({ every: 2 });
          if (event.appState !== undefined) this.raffle.restore(event.appState);
        }
        if (event.type === 'view' && event.transferTo.length > 0) this.tom.transferState(event.viewId, this.raffle.snapshot());
      }
    }
    return { messages, events };
  }
}

interface Setup {
  leader?: MemberId;
  withStore?: boolean;
  options?: Partial<TotalOrderMulticastOptions>;
  manual?: boolean;
  seed?: number;
  lossRate?: number;
  duplicateRate?: number;
}

function makeSim(setup: Setup = {}): Simulator<Message, Event> {
  const leader = setup.leader ?? 'store';
  const withStore = setup.withStore ?? leader === 'store';
  return new Simulator<Message, Event>({
    seed: setup.seed ?? 1,
    members: withStore ? ['store', ...nodes] : nodes,
    manual: setup.manual ?? true,
    tickMs: 10,
    lossRate: setup.lossRate ?? 0,
    duplicateRate: setup.duplicateRate ?? 0,
    create: (ctx: SimMemberContext) =>
      ctx.id === 'store'
        ? new ViewCoordinator<MulticastPayload, RaffleState>({ id: ctx.id, group: nodes, leader, term: 1, settleTicks: 1 })
        : new AppNode({
            id: ctx.id,
            group: nodes,
            joining: ctx.incarnation > 0,
            leader,
            term: 1,
            retransmitTicks: 3,
            coordinator: { settleTicks: 1 },
            ...setup.options,
          }),
  });
}

const node = (sim: Simulator<Message, Event>, id: MemberId): AppNode => sim.machine(id) as unknown as AppNode;
const tom = (sim: Simulator<Message, Event>, id: MemberId) => node(sim, id).tom;

function ticket(client: string): MulticastPayload {
  return { kind: 'read', client };
}

/** Multicasts tickets on a node and lets its tick send them. */
function send(sim: Simulator<Message, Event>, id: MemberId, ...clients: string[]): void {
  for (const client of clients) assert.ok(tom(sim, id).multicast(ticket(client)));
  sim.tick(id);
}

function delivered(sim: Simulator<Message, Event>, id: MemberId): string[] {
  const result: string[] = [];
  for (const { member, event } of sim.events) {
    if (member !== id || event.type !== 'deliver') continue;
    result.push('client' in event.payload ? event.payload.client : event.payload.kind);
  }
  return result;
}

function deliveries(sim: Simulator<Message, Event>, id: MemberId) {
  return sim.events.flatMap(({ member, event }) => (member === id && event.type === 'deliver' ? [event] : []));
}

const isType = (type: Message['type']) => ({ where: (message: Message) => message.type === type });

/** Ticks everyone and delivers everything, a number of times (manual mode). */
function settle(sim: Simulator<Message, Event>, rounds = 20): void {
  for (let i = 0; i < rounds; i++) {
    sim.tickAll();
    sim.deliverAll();
  }
}

test('concurrent senders: every node delivers in the same (timestamp, sender) order', () => {
  // Each node stamps three tickets 1..3 at the same time; the total order interleaves them
  // by timestamp, ties broken by sender id, on every node alike.
  const sim = makeSim({ leader: 'node-1' });
  send(sim, 'node-3', 'c0', 'c1', 'c2');
  send(sim, 'node-1', 'a0', 'a1', 'a2');
  send(sim, 'node-2', 'b0', 'b1', 'b2');
  sim.deliverAll();
  const expected = ['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'c2'];
  for (const id of nodes) assert.deepEqual(delivered(sim, id), expected, id);
  for (const id of nodes) {
    const events = deliveries(sim, id);
    assert.deepEqual(events.map((event) => event.index), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(events.map((event) => event.timestamp), [1, 1, 1, 2, 2, 2, 3, 3, 3]);
  }
});

test('delivery waits until every other member has acknowledged receiving the ticket', () => {
  // node-1 multicasts; the data reaches node-2 and node-3, whose acks are then released one
  // sender at a time. A node delivers once all the others have acknowledged.
  const sim = makeSim({ leader: 'node-1' });
  send(sim, 'node-1', 'x');
  assert.equal(sim.deliver({ from: 'node-1', ...isType('multicast.data') }), 2);
  for (const id of nodes) assert.deepEqual(delivered(sim, id), [], `${id} delivered before any ack`);
  sim.deliver({ from: 'node-2', ...isType('multicast.ack') });
  assert.deepEqual(delivered(sim, 'node-3'), ['x'], 'node-3 has it and node-2 acked: deliverable');
  assert.deepEqual(delivered(sim, 'node-1'), [], 'node-1 still waits for node-3');
  assert.deepEqual(delivered(sim, 'node-2'), [], 'node-2 still waits for node-3');
  sim.deliver({ from: 'node-3', ...isType('multicast.ack') });
  for (const id of nodes) assert.deepEqual(delivered(sim, id), ['x'], id);
});

test('a later timestamp alone does not deliver: a concurrent smaller ticket is waited for', () => {
  // node-2 sends b (timestamp 1) but its data to node-1 is held back; node-3 sends c
  // (timestamp 1 too, sender after node-2). node-1 must not deliver c before b.
  const sim = makeSim({ leader: 'node-1' });
  send(sim, 'node-2', 'b');
  send(sim, 'node-3', 'c');
  sim.deliver({ from: 'node-3' });
  sim.deliver({ to: 'node-3' });
  sim.deliverAll((held) => !(held.from === 'node-2' && held.to === 'node-1' && held.message.type === 'multicast.data'));
  assert.deepEqual(delivered(sim, 'node-1'), [], 'node-1 lacks b, which orders before c');
  sim.deliverAll();
  for (const id of nodes) assert.deepEqual(delivered(sim, id), ['b', 'c'], id);
});

test('a lost batch is resent: by a nack on the gap, or by the sender after its timeout', () => {
  const sim = makeSim({ leader: 'node-1', options: { maxBatch: 1 } });
  // The first batch to node-2 is lost, the second arrives: node-2 nacks the gap.
  send(sim, 'node-1', 'p');
  assert.equal(sim.drop({ from: 'node-1', to: 'node-2', ...isType('multicast.data') }), 1);
  sim.deliverAll((held) => !(held.from === 'node-1' && held.to === 'node-2'));
  send(sim, 'node-1', 'q');
  sim.deliver({ from: 'node-1', to: 'node-2', ...isType('multicast.data') });
  assert.equal(sim.messagesInFlight().filter((held) => held.message.type === 'multicast.nack').length, 1, 'node-2 nacks');
  sim.deliverAll();
  for (const id of nodes) assert.deepEqual(delivered(sim, id), ['p', 'q'], id);

  // The only batch to node-3 is lost and nothing follows it: the sender resends on its own.
  send(sim, 'node-2', 'r');
  assert.equal(sim.drop({ from: 'node-2', to: 'node-3', ...isType('multicast.data') }), 1);
  sim.deliverAll();
  assert.deepEqual(delivered(sim, 'node-3'), ['p', 'q']);
  settle(sim, 5);
  for (const id of nodes) assert.deepEqual(delivered(sim, id), ['p', 'q', 'r'], id);
});

test('lost acknowledgements are asked for again by a member that waits', () => {
  const sim = makeSim({ leader: 'node-1' });
  send(sim, 'node-1', 'x');
  sim.deliver(isType('multicast.data'));
  // Every ack is lost: nobody can deliver.
  sim.drop(isType('multicast.ack'));
  sim.deliverAll();
  settle(sim, 6);
  for (const id of nodes) assert.deepEqual(delivered(sim, id), ['x'], id);
});

test('duplicates and stale copies of a batch are delivered once', () => {
  const sim = makeSim({ leader: 'node-1' });
  send(sim, 'node-1', 'x', 'y');
  const copy = sim.messagesInFlight().find((held) => held.to === 'node-2' && held.message.type === 'multicast.data')!;
  sim.deliverAll();
  sim.inject('node-2', 'node-1', copy.message);
  sim.inject('node-2', 'node-1', copy.message);
  // A copy from another view is ignored too.
  sim.inject('node-2', 'node-1', { ...copy.message, view: 7 } as Message);
  settle(sim, 3);
  for (const id of nodes) assert.deepEqual(delivered(sim, id), ['x', 'y'], id);
});

test('queues are bounded: a full send window holds tickets back, a full queue refuses them', () => {
  const sim = makeSim({ leader: 'node-1', options: { maxBatch: 2, maxUnstable: 2, maxPending: 4 } });
  const sender = tom(sim, 'node-1');
  const accepted = [1, 2, 3, 4, 5, 6, 7].map((n) => sender.multicast(ticket(`t${n}`)));
  assert.deepEqual(accepted, [true, true, true, true, true, true, false], 'the 7th is refused');
  const status = sender.status();
  assert.equal(status.unstable, 2, 'two in flight: the window');
  assert.equal(status.pending, 4, 'four queued: the bound');
  settle(sim, 10);
  for (const id of nodes) assert.deepEqual(delivered(sim, id), ['t1', 't2', 't3', 't4', 't5', 't6'], id);
  assert.equal(sender.status().pending, 0);
  assert.throws(
    () => new TotalOrderMulticast({ id: 'node-1', group: nodes, maxUnstable: 100, maxHoldBack: 299 }),
    /maxHoldBack/,
    'the hold-back bound must cover every sender window',
  );
  assert.throws(() => new TotalOrderMulticast({ id: 'node-1', group: nodes, maxBatch: MULTICAST_BATCH_MAX + 1 }), /maxBatch/);
  assert.doesNotThrow(() => new TotalOrderMulticast({ id: 'node-1', group: nodes, maxBatch: MULTICAST_BATCH_MAX }));
  assert.throws(() => new TotalOrderMulticast({ id: 'node-9', group: nodes }), /not in the group/);
});

test('under load the hold-back queue and the local queue stay within their bounds', () => {
  // Automatic mode with loss and reordering; every node offers far more than the window.
  const sim = makeSim({ leader: 'node-1', manual: false, seed: 7, lossRate: 0.05, duplicateRate: 0.05, options: { maxBatch: 4, maxUnstable: 16, maxPending: 32 } });
  let refused = 0;
  sim.afterStep(() => {
    for (const id of nodes) {
      const status = tom(sim, id).status();
      assert.ok(status.holdBack <= 3 * 16, `${id} holds back ${status.holdBack}`);
      assert.ok(status.pending <= 32 && status.unstable <= 16, `${id}: ${JSON.stringify(status)}`);
    }
  });
  for (let round = 0; round < 50; round++) {
    for (const id of nodes) for (let i = 0; i < 10; i++) if (!tom(sim, id).multicast(ticket(`${id}-${round}-${i}`))) refused++;
    sim.runFor(10);
  }
  assert.ok(refused > 0, 'the offered load exceeds the bounds');
  assert.ok(sim.runUntil(() => nodes.every((id) => tom(sim, id).status().pending === 0 && tom(sim, id).status().holdBack === 0), 10_000));
  const order = delivered(sim, 'node-1');
  assert.equal(order.length, 50 * 3 * 10 - refused);
  for (const id of nodes) assert.deepEqual(delivered(sim, id), order, id);
});

test('a member that dies mid-stream: the store installs a view without it, the survivors deliver the same union', () => {
  const sim = makeSim({ leader: 'store' });
  settle(sim, 2);
  // node-3's ticket reaches node-1 only; node-1's reaches node-3 only; then node-3 dies.
  send(sim, 'node-3', 'from-3');
  sim.deliver({ from: 'node-3', to: 'node-1', ...isType('multicast.data') });
  sim.drop({ from: 'node-3' });
  send(sim, 'node-1', 'from-1');
  sim.deliver({ from: 'node-1', to: 'node-3', ...isType('multicast.data') });
  sim.crash('node-3');
  sim.deliverAll();
  assert.deepEqual(delivered(sim, 'node-1'), [], 'node-3 never acknowledged: nothing is deliverable yet');
  settle(sim, 10);
  for (const id of ['node-1', 'node-2']) {
    // from-3 has timestamp 1; node-1 stamped from-1 after receiving it, with 2.
    assert.deepEqual(delivered(sim, id), ['from-3', 'from-1'], `${id} delivers the union, node-3's ticket included`);
    assert.deepEqual(tom(sim, id).status().viewMembers, ['node-1', 'node-2']);
    assert.equal(tom(sim, id).status().viewId, 1);
  }
  // The new view works: both deliver new tickets.
  send(sim, 'node-2', 'after');
  settle(sim, 2);
  for (const id of ['node-1', 'node-2']) assert.deepEqual(delivered(sim, id), ['from-3', 'from-1', 'after'], id);
});

test('a node that restarts rejoins: it gets the delivered count and the raffle, and continues the order', () => {
  const sim = makeSim({ leader: 'store' });
  settle(sim, 2);
  send(sim, 'node-1', 'a', 'b', 'c');
  settle(sim, 2);
  sim.crash('node-3');
  settle(sim, 10);
  send(sim, 'node-2', 'd');
  settle(sim, 2);
  sim.restart('node-3');
  const restartedAt = sim.events.length;
  settle(sim, 15);
  const status = tom(sim, 'node-3').status();
  assert.ok(status.ready, JSON.stringify(status));
  assert.deepEqual(status.viewMembers, nodes);
  assert.equal(status.delivered, 4, 'it starts after the four tickets delivered before it joined');
  assert.deepEqual(node(sim, 'node-3').raffle.snapshot(), node(sim, 'node-1').raffle.snapshot(), 'same raffle state');
  send(sim, 'node-3', 'e', 'f');
  settle(sim, 3);
  const late = sim.events.slice(restartedAt).flatMap(({ member, event }) => (member === 'node-3' && event.type === 'deliver' ? [event] : []));
  assert.deepEqual(late.map((event) => [event.index, event.payload.kind === 'read' ? event.payload.client : '']), [[4, 'e'], [5, 'f']]);
  assert.deepEqual(delivered(sim, 'node-1'), ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.deepEqual(node(sim, 'node-3').raffle.snapshot(), node(sim, 'node-1').raffle.snapshot());
  assert.deepEqual(node(sim, 'node-3').raffle.entries.map((entry) => entry.client), ['b', 'd', 'f']);
});

test('the coordinator may be a node: it runs the view change through itself', () => {
  const sim = makeSim({ leader: 'node-1' });
  send(sim, 'node-2', 'x');
  sim.deliverAll();
  sim.crash('node-3');
  settle(sim, 10);
  for (const id of ['node-1', 'node-2']) {
    assert.deepEqual(delivered(sim, id), ['x'], id);
    assert.deepEqual(tom(sim, id).status().viewMembers, ['node-1', 'node-2']);
  }
  const installs = sim.events.filter(({ event }) => event.type === 'view-installing');
  assert.equal(installs.length, 1);
  assert.equal(installs[0]!.member, 'node-1');
});

test('a node cut off from the others blocks, then rejoins; its tickets are delivered once', () => {
  const sim = makeSim({ leader: 'store' });
  settle(sim, 2);
  send(sim, 'node-1', 'before');
  settle(sim, 2);
  sim.isolate('node-3');
  send(sim, 'node-3', 'cut-off-1', 'cut-off-2');
  settle(sim, 10);
  assert.deepEqual(delivered(sim, 'node-3'), ['before'], 'the minority delivers nothing new');
  assert.deepEqual(tom(sim, 'node-1').status().viewMembers, ['node-1', 'node-2']);
  send(sim, 'node-1', 'majority');
  settle(sim, 2);
  sim.heal();
  settle(sim, 20);
  const order = delivered(sim, 'node-1');
  assert.deepEqual(order, ['before', 'majority', 'cut-off-1', 'cut-off-2'], 'resent after the rejoin, once');
  assert.deepEqual(delivered(sim, 'node-2'), order);
  assert.deepEqual(tom(sim, 'node-3').status().viewMembers, nodes);
  assert.equal(tom(sim, 'node-3').status().delivered, 4);
  assert.deepEqual(node(sim, 'node-3').raffle.snapshot(), node(sim, 'node-1').raffle.snapshot());
});

test('a leader cut off from the majority installs no view', () => {
  const sim = makeSim({ leader: 'node-1' });
  send(sim, 'node-1', 'x');
  sim.isolate('node-1');
  settle(sim, 30);
  assert.equal(sim.events.filter(({ event }) => event.type === 'view-change' || event.type === 'view-installing').length, 0);
  assert.deepEqual(delivered(sim, 'node-1'), []);
  assert.equal(tom(sim, 'node-1').status().viewId, 0);
});

test('a new leader of a higher term takes over a view change left half done', () => {
  // The store freezes the view for a change, then loses its leadership before installing:
  // node-2 (term 2) finishes it.
  const sim = makeSim({ leader: 'store' });
  settle(sim, 2);
  send(sim, 'node-1', 'x');
  sim.deliverAll();
  sim.crash('node-3');
  sim.tickAll();
  sim.deliver(isType('multicast.prepare'));
  sim.drop(isType('multicast.flush'));
  assert.ok(tom(sim, 'node-1').status().frozen && tom(sim, 'node-2').status().frozen);
  for (const id of ['node-1', 'node-2']) tom(sim, id).setLeader('node-2', 2);
  (sim.machine('store') as unknown as ViewCoordinator).setLeader('node-2', 2);
  settle(sim, 10);
  for (const id of ['node-1', 'node-2']) {
    const status = tom(sim, id).status();
    assert.ok(!status.frozen && status.ready, JSON.stringify(status));
    assert.deepEqual(status.viewMembers, ['node-1', 'node-2']);
    assert.deepEqual(delivered(sim, id), ['x']);
  }
});

test('a cluster started with every node joining begins with an empty first view', () => {
  const sim = new Simulator<Message, Event>({
    seed: 3,
    members: ['store', ...nodes],
    manual: true,
    create: (ctx) =>
      ctx.id === 'store'
        ? new ViewCoordinator<MulticastPayload, RaffleState>({ id: ctx.id, group: nodes, leader: 'store', term: 1, settleTicks: 1 })
        : new AppNode({ id: ctx.id, group: nodes, joining: true, leader: 'store', term: 1 }),
  });
  settle(sim, 6);
  for (const id of nodes) {
    const status = tom(sim, id).status();
    assert.ok(status.ready, JSON.stringify(status));
    assert.deepEqual(status.viewMembers, nodes);
  }
  send(sim, 'node-2', 'first');
  settle(sim, 2);
  for (const id of nodes) assert.deepEqual(delivered(sim, id), ['first']);
});

test('the raffle closes through the multicast: every node draws the same winner', () => {
  const sim = makeSim({ leader: 'node-1', manual: false, seed: 11, lossRate: 0.05 });
  for (let i = 0; i < 30; i++) {
    for (const id of nodes) tom(sim, id).multicast(ticket(`${id}/${i}`));
    sim.runFor(5);
  }
  tom(sim, 'node-2').multicast({ kind: 'close', seed: 12345, by: 'node-2' });
  for (const id of nodes) tom(sim, id).multicast(ticket(`${id}/late`));
  assert.ok(sim.runUntil(() => nodes.every((id) => node(sim, id).raffle.winner !== null && tom(sim, id).status().holdBack === 0 && tom(sim, id).status().pending === 0), 5000));
  const winner = node(sim, 'node-1').raffle.winner;
  assert.ok(winner !== null && winner.entry !== null);
  for (const id of nodes) assert.deepEqual(node(sim, id).raffle.snapshot(), node(sim, 'node-1').raffle.snapshot(), id);
  assert.equal(winner.entries, node(sim, 'node-1').raffle.entries.length);
});
