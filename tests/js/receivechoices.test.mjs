// The 收件 page's choices (api/static/receivechoices.js): the item filter, the home and origin
// bodies suggested for an item, the origin bodies chosen. Run by tests/unit/test_pages_js.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  chosenOrigins,
  homeCandidates,
  itemShown,
  originCandidates,
  suggestedJurisdiction,
} from "../../api/static/receivechoices.js";

const pension = {
  search: "城乡居民基本养老保险关系转移接续 人力资源社会保障厅 510000/1/8",
  batch: "1",
};

test("every word of the filter must be in the item, in any case, and the batch must match", () => {
  assert.equal(itemShown(pension), true);
  assert.equal(itemShown(pension, { text: "养老  人力资源" }), true);
  assert.equal(itemShown(pension, { text: "510000/1/8" }), true);
  assert.equal(itemShown(pension, { text: "养老 公安" }), false);
  assert.equal(itemShown(pension, { batch: "1" }), true);
  assert.equal(itemShown(pension, { text: "养老", batch: "2" }), false);
  assert.equal(itemShown({ search: "abc 510000/2/23", batch: "2" }, { text: "ABC" }), true);
});

const bodies = [
  { id: "510104-RS", region: "510000", sector: "人力资源社会保障", level: "county", division: "510104" },
  { id: "510100-RS", region: "510000", sector: "人力资源社会保障", level: "city", division: "510100" },
  { id: "320105-RS", region: "320000", sector: "人力资源社会保障", level: "county", division: "320105" },
  { id: "510104-GA", region: "510000", sector: "公安", level: "county", division: "510104" },
];
const item = { region: "510000", sectors: ["人力资源社会保障", "财政"] };

test("home bodies are handlers of the item's region and sectors", () => {
  assert.deepEqual(homeCandidates(bodies, item).map((b) => b.id), ["510104-RS", "510100-RS"]);
});

test("origin bodies are of the item's sectors in any region, the home body left out", () => {
  assert.deepEqual(
    originCandidates(bodies, item, "510104-RS").map((b) => b.id),
    ["510100-RS", "320105-RS"],
  );
});

test("the origins chosen are the ticked ones and the typed lines, each once", () => {
  assert.deepEqual(chosenOrigins(["320105-RS"], " 330100-RS \n\n320105-RS\n"), ["320105-RS", "330100-RS"]);
  assert.deepEqual(chosenOrigins([], ""), []);
});

test("a county home body suggests its division as the jurisdiction, a city none", () => {
  assert.equal(suggestedJurisdiction(bodies[0]), "510104");
  assert.equal(suggestedJurisdiction(bodies[1]), "");
  assert.equal(suggestedJurisdiction(undefined), "");
});
