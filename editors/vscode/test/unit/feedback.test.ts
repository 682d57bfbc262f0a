/** Acceptance feedback: one didShow per stage, whole and partial accepts, dismissals, each at most once. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Feedback, type Shown } from "../../src/feedback";

const shown = (over: Partial<Shown> = {}): Shown => ({
  id: "s1", uri: "file:///a.py", stage: "draft", text: "_discount(subtotal)", version: 2, position: { line: 9, character: 20 }, ...over,
});

function recorder(): { sent: [string, Record<string, unknown>][]; fb: Feedback } {
  const sent: [string, Record<string, unknown>][] = [];
  return { sent, fb: new Feedback((m, p) => sent.push([m, p])) };
}

test("didShow is sent once per suggestion and stage", () => {
  const { sent, fb } = recorder();
  fb.didShow(shown({ text: "_dis" }));
  fb.didShow(shown({ text: "_discount" }));
  fb.didShow(shown({ stage: "refined" }));
  assert.deepEqual(sent.map(([m, p]) => [m, p.stage]), [["srag/didShow", "draft"], ["srag/didShow", "refined"]]);
});

test("Tab's command sends one whole accept with the text", () => {
  const { sent, fb } = recorder();
  fb.didShow(shown());
  assert.equal(fb.documentChanged("file:///a.py", { line: 9, character: 20 }, 0, "_discount(subtotal)"), "whole");
  fb.didAcceptWhole("s1");
  fb.didAcceptWhole("s1");
  const accepts = sent.filter(([m]) => m === "srag/didAccept");
  assert.equal(accepts.length, 1);
  assert.deepEqual(accepts[0]![1], { id: "s1", uri: "file:///a.py", stage: "draft", text: "_discount(subtotal)", accepted: "_discount(subtotal)", partial: false });
});

test("inserting a prefix of the suggestion is a partial accept", () => {
  const { sent, fb } = recorder();
  fb.didShow(shown());
  assert.equal(fb.documentChanged("file:///a.py", { line: 9, character: 20 }, 0, "_discount"), "partial");
  const last = sent.at(-1)!;
  assert.equal(last[0], "srag/didAccept");
  assert.equal(last[1].accepted, "_discount");
  assert.equal(last[1].partial, true);
});

test("typing something else dismisses once", () => {
  const { sent, fb } = recorder();
  fb.didShow(shown());
  assert.equal(fb.documentChanged("file:///a.py", { line: 9, character: 20 }, 0, "x"), "dismissed");
  fb.dismiss();
  assert.deepEqual(sent.filter(([m]) => m === "srag/didDismiss").map(([, p]) => p), [{ id: "s1", uri: "file:///a.py", stage: "draft" }]);
});

test("a new suggestion replacing a shown one dismisses the old one", () => {
  const { sent, fb } = recorder();
  fb.didShow(shown());
  fb.didShow(shown({ id: "s2" }));
  assert.deepEqual(sent.map(([m, p]) => [m, p.id]), [["srag/didShow", "s1"], ["srag/didDismiss", "s1"], ["srag/didShow", "s2"]]);
});

test("changes in other documents are not about the suggestion", () => {
  const { sent, fb } = recorder();
  fb.didShow(shown());
  assert.equal(fb.documentChanged("file:///b.py", { line: 0, character: 0 }, 0, "y"), "none");
  assert.equal(sent.length, 1);
});
