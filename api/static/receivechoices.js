// The 收件 page's choices, as plain functions of the page's data (no DOM): which catalog items
// a filter shows, which bodies to suggest as the home body or as origin bodies of a joint item,
// and the origin bodies the clerk chose. api/static/receive.js wires them to the page; run by
// tests/unit/test_pages_js.py with `node --test` (tests/js/receivechoices.test.mjs).

/** Whether an item (its option's `search` text and `batch`) passes the filter: every word of
 * `text` (space-separated, any case) is in the item's text, and the batch is the one chosen
 * (or none is). */
export function itemShown(item, { text = "", batch = "" } = {}) {
  if (batch && item.batch !== batch) return false;
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  return words.every((word) => item.search.includes(word));
}

/** The bodies that may decide a case of the item (`region`, `sectors`): handlers of its region
 * and of one of its sectors, as the workflow's entitlement checks the home body. */
export function homeCandidates(bodies, { region, sectors }) {
  return bodies.filter((b) => b.region === region && sectors.includes(b.sector));
}

/** The bodies that may co-handle a joint case of the item: handlers of one of its sectors, of
 * any region (the applicant's file comes from anywhere); not the home body itself. */
export function originCandidates(bodies, { sectors }, homeBody = "") {
  return bodies.filter((b) => sectors.includes(b.sector) && b.id !== homeBody);
}

/** The origin bodies chosen: the ticked ones, then one per line of `others`, each once. */
export function chosenOrigins(ticked, others = "") {
  const typed = others.split("\n").map((line) => line.trim()).filter(Boolean);
  return [...new Set([...ticked, ...typed])];
}

/** The jurisdiction a home body suggests: a county's (or township's) own division code; a
 * city or province covers many places, so none. */
export function suggestedJurisdiction(body) {
  return body && (body.level === "county" || body.level === "township") ? body.division : "";
}
