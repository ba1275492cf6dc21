// salestrack leaderboards: small enhancements. The page, its controls and the TV mode work without it
// (the TV mode then reloads through its <noscript> meta refresh).
(function () {
  "use strict";

  // --- the controls: show the team / territory / custom range fields only when they apply ---------
  document.querySelectorAll("form[data-leaderboard-controls]").forEach(function (form) {
    var scope = form.elements.scope;
    var period = form.elements.period;
    function fieldOf(input) {
      return input ? input.closest(".field") : null;
    }
    function update() {
      var team = fieldOf(form.elements.team);
      var territory = fieldOf(form.elements.territory);
      if (team) team.hidden = scope.value !== "team";
      if (territory) territory.hidden = scope.value !== "territory";
      var custom = period.value === "custom";
      [form.elements.from, form.elements.to].forEach(function (input) {
        var field = fieldOf(input);
        if (field) field.hidden = !custom;
      });
    }
    scope.addEventListener("change", update);
    period.addEventListener("change", update);
    // Typing a date means a custom range.
    [form.elements.from, form.elements.to].forEach(function (input) {
      if (!input) return;
      input.addEventListener("change", function () {
        if (input.value) period.value = "custom";
        update();
      });
    });
    // A field with an error stays visible, whatever the choice.
    update();
    form.querySelectorAll(".field.has-error").forEach(function (field) {
      field.hidden = false;
    });
  });

  // --- the ranked table: click a column title to sort by it (again to reverse) --------------------
  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    var body = table.tBodies[0];
    var headers = table.querySelectorAll("thead th");
    table.querySelectorAll("button[data-sort-key]").forEach(function (button) {
      button.addEventListener("click", function () {
        var th = button.closest("th");
        var index = Number(button.getAttribute("data-sort-key"));
        var numeric = button.getAttribute("data-sort-type") === "number";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var text = row.cells[index].getAttribute("data-sort-value") || "";
          if (!numeric) return text;
          // Empty (no value, not ranked before) sorts last either way.
          return text === "" ? null : parseFloat(text);
        }
        rows.sort(function (a, b) {
          var x = key(a);
          var y = key(b);
          if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
          var order = numeric ? x - y : String(x).localeCompare(String(y), document.documentElement.lang);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) {
          body.appendChild(row);
        });
        headers.forEach(function (other) {
          other.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      });
    });
  });

  // --- TV mode: fetch the board again every N seconds and swap it in --------------------------------
  // Only a good answer replaces the screen: when the server is down for a moment the TV keeps the
  // last board and tries again, instead of showing an error page forever (as a meta refresh would).
  var body = document.body;
  var seconds = Number(body.getAttribute("data-tv-refresh"));
  if (seconds > 0) {
    var schedule = function () {
      window.setTimeout(refresh, seconds * 1000);
    };
    var refresh = function () {
      fetch(window.location.href, { cache: "no-store", credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("status " + response.status);
          return response.text().then(function (html) {
            return { html: html, redirected: response.redirected };
          });
        })
        .then(function (answer) {
          var next = new DOMParser().parseFromString(answer.html, "text/html");
          var main = next.querySelector("main.tv-main");
          if (answer.redirected || !main) {
            // Signed out meanwhile (or another page came back): show it for real.
            window.location.reload();
            return;
          }
          document.querySelector("main.tv-main").replaceWith(document.adoptNode(main));
          document.title = next.title;
          body.setAttribute("data-refreshed", new Date().toISOString());
          schedule();
        })
        .catch(function () {
          schedule();
        });
    };
    schedule();
  }
})();
