// The clerk's sentence for a relayed step's answer (api/static/relay.js): accepted with the
// home receipt, queued with this node's relay receipt, held; nothing for a step of this node's
// own ledger. Run by tests/unit/test_pages_js.py with `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { relayedAnswer } from "../../api/static/relay.js";

const relay = {
  home_ledger: "tongban/510000",
  seq: 3,
  relay_receipt: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
  relayed_at: 1796655600000000, // microseconds since 1970, as the relay queue keeps it
};

test("a step of this node's own ledger is not a relayed answer", () => {
  assert.equal(relayedAnswer(201, { seq: 2, index: 7, receipt: "x", relay: null }), null);
  assert.equal(relayedAnswer(201, { seq: 2, index: 7, receipt: "x" }), null);
});

test("accepted: the home ledger, seq, index and the home receipt", () => {
  const text = relayedAnswer(201, { index: 42, receipt: "cmVjZWlwdC1vZi1zaWNodWFu", relay });
  assert.match(text, /主办节点已受理/);
  assert.match(text, /主办台账 tongban\/510000，第 3 步，主办台账序号 42/);
  assert.match(text, /主办节点回执 cmVjZWlwdC1vZi1z…/);
});

test("queued: not accepted, this node's relay receipt and its time", () => {
  const text = relayedAnswer(202, { state: "queued", detail: "down", relay });
  assert.match(text, /主办节点尚未受理：该步骤已在本节点排队/);
  assert.match(text, /本节点转递回执 AAECAwQFBgcICQoL…/);
  assert.match(text, /2026/);
  assert.doesNotMatch(text, /已受理（/);
});

test("held: the home node refused this node's authentication, the detail given", () => {
  const text = relayedAnswer(202, { state: "held", detail: "run tongban relay add-peer", relay });
  assert.match(text, /拒绝了本节点的身份认证/);
  assert.match(text, /run tongban relay add-peer/);
});
