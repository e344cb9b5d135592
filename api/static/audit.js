// The auditors' audit page (/pages/audit): starts the whole-ledger audit with the session's
// CSRF token (POST /audit/verify, the audit routes' own job) and, while a job runs, polls
// GET /audit/jobs/{id} to move the progress bar, reloading the page once the job has ended so
// the node renders its findings. Without this script the page still reads (a link reloads it).

import { problemText, send } from "./session.js";

const POLL_MS = 1000;

const form = document.getElementById("start-audit");
if (form) {
  const status = document.getElementById("start-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "正在启动审计……";
    try {
      const answer = await send("/audit/verify");
      if (!answer.ok) {
        status.textContent = `未能启动审计：${await problemText(answer)}`;
        return;
      }
      const job = await answer.json();
      location.assign(`/pages/audit?job=${encodeURIComponent(job.job_id)}`);
    } catch (error) {
      status.textContent = `未能启动审计：${error.message}`;
    }
  });
}

const section = document.getElementById("audit-job");
if (section && section.dataset.status === "running") {
  const jobId = section.dataset.job;
  const bar = document.getElementById("job-progress");
  const text = document.getElementById("job-progress-text");

  const poll = async () => {
    let job;
    try {
      const answer = await send(`/audit/jobs/${encodeURIComponent(jobId)}`, { method: "GET" });
      if (!answer.ok) {
        text.textContent = `无法读取审计进度：${await problemText(answer)}（可点击“刷新查看进度”）`;
        return;
      }
      job = await answer.json();
    } catch (error) {
      text.textContent = `无法读取审计进度：${error.message}（可点击“刷新查看进度”）`;
      return;
    }
    if (job.status !== "running") {
      location.reload();
      return;
    }
    bar.max = Math.max(job.total, job.checked, 1);
    bar.value = job.checked;
    text.textContent =
      `已核验 ${job.checked} 个案件对象，台账开始审计时共有 ${job.total} 个对象（含密钥登记记录）。`;
    setTimeout(poll, POLL_MS);
  };
  setTimeout(poll, POLL_MS);
}
