// The login page for an officer whose key is SM2 (国密密钥（命令行签名）): WebCrypto has no SM2,
// so the page fetches a challenge (POST /login/challenge), checks it names this page's own
// origin, shows it as one line with the `tongban login sign` command, and posts the proof the
// officer pastes back (POST /login) once it answers that very challenge at this origin
// (clisign.js). The page never holds the key; the node checks the proof as any other.

import { Refused } from "./canonical.js";
import { base64, challengeText, checkPastedProof, loginCommand, nextPage } from "./clisign.js";
import { problemText, rememberCsrf } from "./session.js";

const form = document.getElementById("cli-login");
const status = document.getElementById("cli-status");
const steps = document.getElementById("cli-steps");
const bodyField = document.getElementById("cli-body-id");
const officerField = document.getElementById("cli-officer-id");
const commandBox = document.getElementById("login-command");
let challenge = null; // as the node sent it: {origin, nonce (hex), issued_at, expires_at}
let text = "";

function say(message) {
  status.textContent = message;
}

function showCommand() {
  if (!text) return;
  commandBox.value = loginCommand(text, { bodyId: bodyField.value.trim(), officerId: officerField.value.trim() });
}

async function fetchChallenge() {
  say("正在取得登录挑战……");
  const answer = await fetch("/login/challenge", { method: "POST" });
  if (!answer.ok) return say(`无法取得登录挑战：${await problemText(answer)}`);
  const fetched = await answer.json();
  if (fetched.origin !== location.origin) {
    challenge = null;
    steps.hidden = true;
    return say(`节点地址 ${fetched.origin} 与本页地址 ${location.origin} 不一致，不显示挑战（wrong_origin）。`);
  }
  challenge = fetched;
  text = challengeText(challenge);
  document.getElementById("challenge-text").value = text;
  const until = new Date(challenge.expires_at / 1000).toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai" });
  document.getElementById("challenge-expiry").textContent =
    `有效至北京时间 ${until}；过期后请重新取得挑战。挑战只能用一次。`;
  document.getElementById("pasted-proof").value = "";
  showCommand();
  steps.hidden = false;
  say("请在终端运行下面的命令，把输出的登录证明粘贴到下方并提交。");
}

async function submitProof() {
  if (!challenge) return say("请先取得登录挑战。");
  let proof;
  try {
    proof = checkPastedProof(document.getElementById("pasted-proof").value, challenge, location.origin);
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    return say(`不能提交：${error.message}`);
  }
  say("正在登录……");
  const sent = await fetch("/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ proof: base64(proof) }),
  });
  if (!sent.ok) return say(`登录未成功：${await problemText(sent)}`);
  rememberCsrf((await sent.json()).csrf_token);
  say("登录成功，正在打开待办案件……");
  location.assign(nextPage(location.search));
}

document.getElementById("cli-challenge").addEventListener("click", () => {
  fetchChallenge().catch((error) => say(`无法取得登录挑战：${error.message}`));
});
document.getElementById("pasted-proof").addEventListener("input", () => say(""));
bodyField.addEventListener("input", showCommand);
officerField.addEventListener("input", showCommand);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  submitProof().catch((error) => say(`登录失败：${error.message}`));
});
