/** The trailing throttle: at most one run per interval, the last request never lost. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Clock, Throttle } from "../../src/throttle";

class FakeClock implements Clock {
  t = 0;
  timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) {
        this.t = target;
        return;
      }
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
  }
}

test("the first request runs at once", () => {
  const clock = new FakeClock();
  let runs = 0;
  const t = new Throttle(() => runs++, () => 100, clock);
  t.request();
  assert.equal(runs, 1);
});

test("a burst within the interval runs once more at its end", () => {
  const clock = new FakeClock();
  const at: number[] = [];
  const t = new Throttle(() => at.push(clock.now()), () => 100, clock);
  t.request();
  for (let i = 0; i < 10; i++) {
    clock.advance(5);
    t.request();
  }
  assert.deepEqual(at, [0]);
  assert.ok(t.pending);
  clock.advance(100);
  assert.deepEqual(at, [0, 100]);
  assert.equal(t.pending, false);
});

test("requests spaced wider than the interval each run at once", () => {
  const clock = new FakeClock();
  let runs = 0;
  const t = new Throttle(() => runs++, () => 100, clock);
  for (let i = 0; i < 5; i++) {
    t.request();
    clock.advance(150);
  }
  assert.equal(runs, 5);
});

test("never more than one run per interval under a steady stream", () => {
  const clock = new FakeClock();
  const at: number[] = [];
  const t = new Throttle(() => at.push(clock.now()), () => 100, clock);
  for (let i = 0; i < 100; i++) {
    t.request();
    clock.advance(7);
  }
  clock.advance(200);
  for (let i = 1; i < at.length; i++) {
    assert.ok(at[i]! - at[i - 1]! >= 100, `runs at ${at[i - 1]} and ${at[i]}`);
  }
  assert.ok(at.length >= 7);
});

test("cancel drops the trailing run", () => {
  const clock = new FakeClock();
  let runs = 0;
  const t = new Throttle(() => runs++, () => 100, clock);
  t.request();
  t.request();
  t.cancel();
  clock.advance(500);
  assert.equal(runs, 1);
});
