// 历史回放: the step slider shows the step it points at while it moves and opens it when let go.
// Without scripts the slider is a plain GET form with a submit button (?step=k).
(function () {
  "use strict";
  var form = document.getElementById("step-form");
  if (!form) return;
  var slider = form.querySelector("input[type=range]");
  var output = form.querySelector("output");
  var opened = slider.value;

  slider.addEventListener("input", function () { output.textContent = slider.value; });
  slider.addEventListener("change", function () {
    if (slider.value === opened) return;
    opened = slider.value;
    form.dataset.state = "loading";
    form.submit();
  });
})();
