// For tests/e2e/test_offline_verifier_agrees.py: the verdicts of api/static/offline-verify.js
// on texts, from a node's own lists. stdin: {keys (GET /keys' keys), trust_lists, status_lists
// (base64 of the signed bytes), now (µs), texts: {name: text}}; stdout: {name: verdict}.
import { OfflineCache, fromBase64 } from "../../api/static/offline-verify.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const given = JSON.parse(input);
const cache = new OfflineCache();
await cache.setKeys(given.keys, given.now);
const [own, ...peers] = given.trust_lists;
cache.ownRegion = (await cache.addTrustList(fromBase64(own), given.now)).region;
for (const raw of peers) await cache.addTrustList(fromBase64(raw), given.now);
for (const raw of given.status_lists) await cache.addStatusList(fromBase64(raw), given.now);
const verdicts = {};
for (const [name, text] of Object.entries(given.texts)) {
  verdicts[name] = await cache.verify(text, { now: given.now });
}
process.stdout.write(JSON.stringify(verdicts));
