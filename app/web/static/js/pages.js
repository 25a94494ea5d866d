// Small helpers for the pages; everything works without them.
(function () {
  "use strict";
  // Place pickers (street → community → grid): show only the children of the chosen parent.
  function filterChildren(select) {
    var parentSelect = document.getElementById(select.dataset.parentSelect);
    if (!parentSelect) return;
    var parent = parentSelect.value;
    Array.prototype.forEach.call(select.options, function (option) {
      if (!option.value) return;
      var show = !parent || option.dataset.parent === parent;
      option.hidden = !show;
      option.disabled = !show;
      if (!show && option.selected) select.value = "";
    });
    select.dispatchEvent(new Event("change"));
  }
  document.querySelectorAll("select[data-parent-select]").forEach(function (select) {
    var parentSelect = document.getElementById(select.dataset.parentSelect);
    if (!parentSelect) return;
    parentSelect.addEventListener("change", function () { filterChildren(select); });
    filterChildren(select);
  });
})();
