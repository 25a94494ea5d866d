// 附件: refuse too-large files before they are sent (the server checks again, by content too).
(function () {
  "use strict";
  document.querySelectorAll("input.file-input[data-max-bytes]").forEach(function (input) {
    if (input.dataset.sizeChecked) return;
    input.dataset.sizeChecked = "1";
    input.addEventListener("change", function () {
      var max = Number(input.dataset.maxBytes);
      var big = Array.prototype.filter.call(input.files || [], function (f) { return f.size > max; });
      if (big.length) {
        var mb = Math.round(max / 1024 / 1024);
        input.setCustomValidity("文件超过 " + mb + " MB / larger than " + mb + " MB: " +
          big.map(function (f) { return f.name; }).join(", "));
        input.reportValidity();
      } else {
        input.setCustomValidity("");
      }
    });
  });
})();
