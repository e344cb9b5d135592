// What every page of a logged-in officer shares: the CSRF token the login answer showed once
// (kept in this browser's localStorage until logout), requests that carry it, and logout.

const CSRF = "tongban-csrf";

export function rememberCsrf(token) {
  localStorage.setItem(CSRF, token);
}

export function csrfToken() {
  return localStorage.getItem(CSRF) ?? "";
}

/** A request to the node (same origin only) with the session's CSRF token. A session that
 * has ended (logout elsewhere, idle, the key revoked) sends the officer to the login page,
 * which brings them back here; what was typed is not kept, and nothing was signed. */
export async function send(path, { method = "POST", body, type } = {}) {
  const headers = { "X-CSRF-Token": csrfToken() };
  if (type) headers["Content-Type"] = type;
  const answer = await fetch(path, { method, headers, body, credentials: "same-origin" });
  if (answer.status === 401 && path !== "/logout") {
    location.assign(`/pages/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  return answer;
}

/** The problem the node answered, in one line (RFC 9457 detail, reason and field). */
export async function problemText(response) {
  try {
    const problem = await response.json();
    const where = problem.field ? `，字段 ${problem.field}` : "";
    return `${problem.detail ?? response.statusText}（${problem.reason ?? response.status}${where}）`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

async function logout() {
  await send("/logout");
  localStorage.removeItem(CSRF);
  location.assign("/pages/login");
}

const button = document.getElementById("logout");
if (button) button.addEventListener("click", () => logout());
