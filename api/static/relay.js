// A step of a case homed on another node, posted to this node, which relays it (docs/relay.md):
// the answer in words for the clerk. Accepted: the home node's receipt (its ledger index);
// queued: this node's signed relay receipt, the step waits and is delivered, never re-signed;
// held: the home node refused this node's authentication, an operator must fix it.

const when = (micros) =>
  new Date(Number(micros) / 1000).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" });
const short = (b64) => (b64 ? `${b64.slice(0, 16)}…` : "");

/** The clerk's sentence for a relayed answer, or null when the step was not relayed. */
export function relayedAnswer(status, document) {
  const relay = document && document.relay;
  if (!relay) return null;
  const where = `主办台账 ${relay.home_ledger}，第 ${relay.seq} 步`;
  if (status === 202 && document.state === "held") {
    return (
      `未被受理：主办节点拒绝了本节点的身份认证（${where}）。该步骤已暂存于本节点` +
      `（转递回执 ${short(relay.relay_receipt)}，${when(relay.relayed_at)}），不会重新签名；` +
      `请联系本节点管理员。${document.detail ?? ""}`
    );
  }
  if (status === 202) {
    return (
      `主办节点尚未受理：该步骤已在本节点排队（${where}；本节点转递回执 ` +
      `${short(relay.relay_receipt)}，${when(relay.relayed_at)}），将自动送达，不会重新签名。`
    );
  }
  return (
    `已由本节点转递，主办节点已受理（${where}，主办台账序号 ${document.index}；` +
    `主办节点回执 ${short(document.receipt)}）。`
  );
}
