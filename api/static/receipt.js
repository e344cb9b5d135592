// The 收件回执's one-time code (api/static/ratingcode.js): the receive page kept it in this tab
// (sessionStorage); it is shown only when it opens the commitment the signed step holds, and
// only once: it is then forgotten, so the next person at this counter cannot read it.
import { codeCommitment } from "./ratingcode.js";

const slot = document.getElementById("rating-code");
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

async function show() {
  if (!slot) return;
  const code = sessionStorage.getItem(`rating-code:${slot.dataset.case}`);
  if (!code) return;
  if (hex(await codeCommitment(slot.dataset.case, code)) !== slot.dataset.commitment) return;
  slot.textContent = code;
  sessionStorage.removeItem(`rating-code:${slot.dataset.case}`);
}

show().catch(() => {});
