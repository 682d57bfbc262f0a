/** The suggestion store: version and position matching, newest wins, stale notifications dropped. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Cursor, type SuggestionParams, SuggestionStore, idOrder } from "../../src/suggestions";

const uri = "file:///w/a.py";
const at = (line: number, character: number): Cursor => ({ uri, version: 3, position: { line, character } });
const s = (over: Partial<SuggestionParams>): SuggestionParams => ({
  uri, version: 3, position: { line: 1, character: 4 }, id: "s1", text: "x", stage: "draft", done: false, final: false, ...over,
});

test("a growing suggestion for the cursor asks for a redraw each time its text changes", () => {
  const store = new SuggestionStore();
  assert.equal(store.accept(s({ text: "re" }), at(1, 4)), "redraw");
  assert.equal(store.accept(s({ text: "return" }), at(1, 4)), "redraw");
  assert.equal(store.lookup(at(1, 4))?.text, "return");
});

test("the same text again (a stage's done flag) does not redraw", () => {
  const store = new SuggestionStore();
  store.accept(s({ text: "return x" }), at(1, 4));
  assert.equal(store.accept(s({ text: "return x", done: true }), at(1, 4)), "unchanged");
});

test("a refined text replaces the draft in place", () => {
  const store = new SuggestionStore();
  store.accept(s({ text: "return x" }), at(1, 4));
  assert.equal(store.accept(s({ text: "return total", stage: "refined" }), at(1, 4)), "redraw");
  assert.equal(store.lookup(at(1, 4))?.stage, "refined");
});

test("a suggestion for another position is kept but never shown there", () => {
  const store = new SuggestionStore();
  assert.equal(store.accept(s({}), at(1, 5)), "stored");
  assert.equal(store.lookup(at(1, 5)), undefined);
  assert.equal(store.lookup(at(1, 4))?.id, "s1");
});

test("a suggestion for an older document version is dropped", () => {
  const store = new SuggestionStore();
  const cursor: Cursor = { uri, version: 4, position: { line: 1, character: 5 } };
  assert.equal(store.accept(s({ version: 3 }), cursor), "stale");
  assert.equal(store.latest(uri), undefined);
});

test("a late notification of an older request does not replace a newer one", () => {
  const store = new SuggestionStore();
  store.accept(s({ id: "s9", version: 5, text: "new" }), undefined);
  assert.equal(store.accept(s({ id: "s8", version: 5, text: "old" }), undefined), "stale");
  assert.equal(store.accept(s({ id: "s7", version: 4, text: "older" }), undefined), "stale");
  assert.equal(store.latest(uri)?.text, "new");
});

test("typing forgets what was held for the older version", () => {
  const store = new SuggestionStore();
  store.accept(s({}), at(1, 4));
  store.documentChanged(uri, 4);
  assert.equal(store.latest(uri), undefined);
});

test("ids order by their number", () => {
  assert.ok(idOrder("s10") > idOrder("s9"));
  assert.ok(Number.isNaN(idOrder("x")));
});
