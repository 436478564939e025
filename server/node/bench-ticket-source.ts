// A ticket source inside a node, for the multicast benchmark only (routes exist when
// OLYMPIX_BENCH_HOOKS=1): it offers synthetic tickets at a fixed rate or as fast as the
// multicast accepts them, each carrying its arrival time on CLOCK_MONOTONIC (shared by
// the processes of one host), and records for every delivered synthetic ticket the
// time from its arrival to its delivery here, by position in the total order.

export interface BenchTicket {
  kind: 'read';
  client: string;
  detail: string;
}

const PREFIX = 'bench:';
const SAMPLES_MAX = 4_000_000;

export function monotonicNowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export class BenchTicketSource {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  offered = 0;
  refused = 0;
  private indices = new Float64Array(1024);
  private latencies = new Float64Array(1024);
  private count = 0;

  constructor(
    private readonly nodeId: string,
    private readonly offer: (ticket: BenchTicket) => boolean,
  ) {}

  /** Offers tickets for durationMs: ratePerS of them a second, or as many as accepted when ratePerS is 0. */
  start(ratePerS: number, durationMs: number): void {
    this.stop();
    this.running = true;
    this.offered = 0;
    this.refused = 0;
    const startMs = performance.now();
    const ticket = (): BenchTicket => ({ kind: 'read', client: `bench-${this.nodeId}`, detail: PREFIX + monotonicNowMs().toFixed(3) });
    if (ratePerS > 0) {
      this.timer = setInterval(() => {
        const elapsedMs = performance.now() - startMs;
        if (elapsedMs >= durationMs) return this.stop();
        const due = Math.floor((elapsedMs * ratePerS) / 1000) - this.offered;
        for (let i = 0; i < due; i++) {
          this.offered++;
          if (!this.offer(ticket())) this.refused++;
        }
      }, 2);
      return;
    }
    // Saturation: offer until the multicast refuses, then yield to the event loop.
    const pump = () => {
      if (!this.running) return;
      if (performance.now() - startMs >= durationMs) return this.stop();
      for (let i = 0; i < 2000; i++) {
        this.offered++;
        if (!this.offer(ticket())) {
          this.refused++;
          break;
        }
      }
      setImmediate(pump);
    };
    setImmediate(pump);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Called for every delivered ticket; records the synthetic ones. */
  delivered(index: number, detail: string | undefined): void {
    if (detail === undefined || !detail.startsWith(PREFIX) || this.count >= SAMPLES_MAX) return;
    if (this.count === this.indices.length) {
      const grow = (array: Float64Array) => {
        const bigger = new Float64Array(array.length * 2);
        bigger.set(array);
        return bigger;
      };
      this.indices = grow(this.indices);
      this.latencies = grow(this.latencies);
    }
    this.indices[this.count] = index;
    this.latencies[this.count] = monotonicNowMs() - Number(detail.slice(PREFIX.length));
    this.count++;
  }

  /** The samples recorded since the last take, and forgets them. */
  take(): { indices: number[]; latenciesMs: number[] } {
    const result = { indices: Array.from(this.indices.subarray(0, this.count)), latenciesMs: Array.from(this.latencies.subarray(0, this.count), (ms) => Math.round(ms * 1000) / 1000) };
    this.count = 0;
    return result;
  }
}
