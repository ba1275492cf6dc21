// salestrack: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  function selectedData(select, name) {
    var option = select.options[select.selectedIndex];
    return option ? option.getAttribute(name) : null;
  }

  // Activity forms: choosing a type fills in its default duration, unless the rep
  // has typed a duration of their own (then it is left alone).
  document.querySelectorAll("select[data-duration-source]").forEach(function (select) {
    var input = select.form && select.form.elements.duration_minutes;
    if (!input) return;
    var previous = selectedData(select, "data-default-duration");
    select.addEventListener("change", function () {
      var next = selectedData(select, "data-default-duration");
      if (next && (input.value === "" || input.value === previous)) input.value = next;
      previous = next;
    });
  });

  // Moving a deal: the closing date, amount and confirmation only matter for won/lost.
  document.querySelectorAll("select[data-stage-kind]").forEach(function (select) {
    var closing = select.form ? select.form.querySelectorAll("[data-closing-fields]") : [];
    function update() {
      var kind = selectedData(select, "data-kind");
      closing.forEach(function (element) {
        element.hidden = !(kind === "won" || kind === "lost");
      });
    }
    select.addEventListener("change", update);
    update();
  });

  // The compact menu of a phone: closed until its button opens it, and closed again by Escape.
  document.querySelectorAll("[data-menu-toggle]").forEach(function (button) {
    var small = window.matchMedia("(max-width: 759px)");
    function set(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    set(!small.matches);
    small.addEventListener("change", function () { set(!small.matches); });
    button.addEventListener("click", function () {
      set(button.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && small.matches && button.getAttribute("aria-expanded") === "true") {
        set(false);
        button.focus();
      }
    });
  });

  // The language switcher applies the choice at once.
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.submit();
    });
  });
})();

// Pickers that lead somewhere: choosing an option follows its URL, keeping the period.
(function () {
  "use strict";
  document.querySelectorAll("select[data-navigate]").forEach(function (select) {
    select.addEventListener("change", function () {
      var search = new URLSearchParams(window.location.search);
      var keep = new URLSearchParams();
      ["period", "from", "to"].forEach(function (name) {
        if (search.get(name)) keep.set(name, search.get(name));
      });
      var query = keep.toString();
      window.location.href = select.value + (query ? "?" + query : "");
    });
  });

  // Sortable tables: click a column heading to sort by its cells' data-value.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("th[data-sort]");
    headers.forEach(function (th, index) {
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      function sort() {
        var numeric = th.dataset.sort === "number";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (row) { return row.cells.length > index; });
        rows.sort(function (a, b) {
          var x = a.cells[index].dataset.value || "", y = b.cells[index].dataset.value || "";
          var result;
          if (numeric) {
            // Undefined figures ("—") sort last either way.
            if (x === "" || y === "") return x === y ? 0 : x === "" ? 1 : -1;
            result = parseFloat(x) - parseFloat(y);
          } else {
            result = x.localeCompare(y, document.documentElement.lang);
          }
          return ascending ? result : -result;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sort();
        }
      });
    });
  });
})();
