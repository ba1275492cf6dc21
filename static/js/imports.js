// salestrack imports: while a job runs, poll its status about once a second and move the
// progress bar; once it has finished, reload the page to show the report. Without this
// file the page refreshes itself every few seconds (a <noscript> meta refresh).
(function () {
  "use strict";

  var box = document.querySelector("[data-import-status-url]");
  if (!box || box.getAttribute("data-finished") === "1") return;
  var url = box.getAttribute("data-import-status-url");
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-import-progress-text]");
  var label = document.querySelector("[data-import-status-label]");
  var delay = 1000;

  function show(data) {
    if (data.percent === null || !data.rows_total) {
      // Total unknown: an indeterminate bar (no value attribute).
      bar.removeAttribute("value");
    } else {
      bar.max = data.rows_total;
      bar.value = data.status === "succeeded" ? data.rows_total : data.rows_done;
      bar.textContent = data.percent + " %";
    }
    if (text) text.textContent = data.progress_text;
    if (label) {
      label.textContent = data.status_label;
      label.className = "import-status status-" + data.status;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (data) {
        show(data);
        if (data.finished) {
          window.location.reload();
          return;
        }
        delay = 1000;
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        // The server is busy or restarting: ask again, less often.
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
