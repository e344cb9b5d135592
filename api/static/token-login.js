// The login page's token form: an auditor, a supervisor or the administrator, who sign nothing,
// log in with their API token (POST /login/token). The node keeps a session; this page keeps
// only the session's CSRF token, never the API token (the field is cleared at once).

import { problemText, rememberCsrf } from "./session.js";

const form = document.getElementById("token-login");
const status = document.getElementById("token-status");
const field = document.getElementById("api-token");

// The pages a token session may be sent back to after login: supervision, the administrator's
// key page and the auditors' (a body's id may hold `.` and `:`).
const RETURNS = /^\/pages\/(supervision|keys|audit(\/[A-Za-z0-9._:\/-]*)?)(\?[A-Za-z0-9=&_%.:-]*)?$/;

/** After login: the page of this node asked for, else an auditor's page for an auditor and
 * the supervision page for a supervisor or the administrator. */
function next(kind) {
  const wanted = new URLSearchParams(location.search).get("next") ?? "";
  if (RETURNS.test(wanted) && !wanted.includes("..")) return wanted;
  return kind === "auditor" ? "/pages/audit" : "/pages/supervision";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = field.value.trim();
  field.value = "";
  status.textContent = "正在登录……";
  try {
    const sent = await fetch("/login/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    if (!sent.ok) {
      status.textContent = `登录未成功：${await problemText(sent)}`;
      return;
    }
    const session = await sent.json();
    rememberCsrf(session.csrf_token);
    status.textContent = "登录成功，正在打开页面……";
    location.assign(next(session.kind));
  } catch (error) {
    status.textContent = `登录失败：${error.message}`;
  }
});
