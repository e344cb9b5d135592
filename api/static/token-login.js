// The login page's token form: an auditor, a supervisor or the administrator, who sign nothing,
// log in with their API token (POST /login/token). The node keeps a session; this page keeps
// only the session's CSRF token, never the API token (the field is cleared at once).

import { problemText, rememberCsrf } from "./session.js";

const form = document.getElementById("token-login");
const status = document.getElementById("token-status");
const field = document.getElementById("api-token");

/** After login: the supervision page or the administrator's key page of this node asked for
 * (a body's id may hold `.` and `:`), else the supervision page. */
function next() {
  const wanted = new URLSearchParams(location.search).get("next") ?? "";
  return /^\/pages\/(supervision|keys)(\?[A-Za-z0-9=&_.:%-]*)?$/.test(wanted) ? wanted : "/pages/supervision";
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
    rememberCsrf((await sent.json()).csrf_token);
    status.textContent = "登录成功，正在打开时限监督……";
    location.assign(next());
  } catch (error) {
    status.textContent = `登录失败：${error.message}`;
  }
});
