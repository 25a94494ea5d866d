// 工单导入 progress: poll the job (rows done / total) and reload the page with its results when it ends.
(function () {
  "use strict";
  var card = document.querySelector("[data-testid=import-job]");
  if (!card || (card.dataset.status !== "queued" && card.dataset.status !== "running")) return;
  var bar = card.querySelector("[data-testid=import-progress]");
  var text = card.querySelector("[data-testid=import-progress-text]");
  function poll() {
    fetch(card.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : Promise.reject(resp.status); })
      .then(function (job) {
        if (job.status === "done" || job.status === "failed") { window.location.reload(); return; }
        bar.max = job.total || 1;
        bar.value = job.done;
        text.firstChild.textContent = text.firstChild.textContent.replace(/\d+\s*\/\s*\d+/, job.done + " / " + job.total);
        card.querySelector("[data-testid=import-percent]").textContent = job.percent;
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
