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

  // The language switcher applies the choice at once.
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.submit();
    });
  });
})();
