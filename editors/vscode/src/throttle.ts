/**
 * A trailing throttle: the first call runs at once, later calls within the interval collapse into one run at its end.
 *
 * Used to re-trigger VS Code's inline suggestion at most every `intervalMs` while a suggestion streams, without
 * losing the newest text (the trailing run). The clock and timers are injectable for tests.
 */

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class Throttle {
  private last = Number.NEGATIVE_INFINITY;
  private timer: unknown = undefined;

  constructor(
    private readonly run: () => void,
    private readonly intervalMs: () => number,
    private readonly clock: Clock = realClock,
  ) {}

  /** Ask for a run: now if the interval has passed, else once at the end of it. */
  request(): void {
    if (this.timer !== undefined) {
      return; // a trailing run is already due; it will see the newest state
    }
    const wait = this.last + this.intervalMs() - this.clock.now();
    if (wait <= 0) {
      this.fire();
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, wait);
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  cancel(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private fire(): void {
    this.last = this.clock.now();
    this.run();
  }
}
