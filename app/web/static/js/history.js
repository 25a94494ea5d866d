// 历史回放: stepping without reloading. The slider, the previous/next links and the links of the event
// list fetch only what changes (?step=k&partial=1: the step form and the step's detail), swap them in
// place, redraw the diagram's markers (WhistleDiagram.load) and push the step's address, so the back
// button walks the steps. The neighbouring steps are fetched ahead, so the next click is instant.
// Without scripts the slider is a plain GET form (?step=k) and the links are plain links.
(function () {
  "use strict";
  var form = document.getElementById("step-form");
  if (!form || !window.fetch || !window.DOMParser) return;
  var path = form.getAttribute("action");
  var cache = {};  // address → Promise of the fragment's text
  var shown = location.pathname + location.search;

  function fragmentUrl(address) {
    return address + (address.indexOf("?") < 0 ? "?" : "&") + "partial=1";
  }

  function fetchStep(address) {
    if (!cache[address]) {
      cache[address] = fetch(fragmentUrl(address), { credentials: "same-origin" }).then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.text();
      });
      cache[address].catch(function () { delete cache[address]; });
    }
    return cache[address];
  }

  function stepAddress(link) {
    var url = new URL(link, location.href);
    return url.pathname === path ? url.pathname + url.search : null;
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var hadFocus = document.activeElement && document.activeElement.id;
    Array.prototype.forEach.call(doc.querySelectorAll("[data-swap][id]"), function (fresh) {
      var old = document.getElementById(fresh.id);
      if (old) old.replaceWith(document.importNode(fresh, true));
    });
    form = document.getElementById("step-form");
    if (hadFocus && document.getElementById(hadFocus)) document.getElementById(hadFocus).focus();
    var diagramUrl = form && form.dataset.stepDiagram;
    var diagram = document.getElementById("case-diagram");
    if (diagram) diagram.hidden = !diagramUrl;
    if (diagramUrl && window.WhistleDiagram) window.WhistleDiagram.load(diagramUrl);
    prefetch();
  }

  function open(address, push) {
    if (address === shown) return;
    document.body.dataset.historyState = "loading";
    fetchStep(address).then(function (html) {
      shown = address;
      if (push) history.pushState({ step: address }, "", address);
      swap(html);
      document.body.dataset.historyState = "ready";
    }).catch(function () { location.href = address; });  // fall back to a plain page load
  }

  function prefetch() {
    ["step-prev", "step-next"].forEach(function (id) {
      var link = document.querySelector("[data-testid=" + id + "]");
      var address = link && stepAddress(link.getAttribute("href"));
      if (address) fetchStep(address);
    });
  }

  function sliderAddress(slider) {
    var params = new URLSearchParams(new FormData(slider.form));
    params.set("step", slider.value);
    return path + "?" + params.toString();
  }

  document.addEventListener("input", function (event) {
    if (event.target.id !== "step-slider") return;
    var output = event.target.form.querySelector("output");
    if (output) output.textContent = event.target.value;
  });
  document.addEventListener("change", function (event) {
    if (event.target.id === "step-slider") open(sliderAddress(event.target), true);
  });
  document.addEventListener("submit", function (event) {
    if (event.target.id !== "step-form") return;
    event.preventDefault();
    open(sliderAddress(event.target.querySelector("#step-slider")), true);
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || !link.closest("[data-swap]")) return;
    var address = stepAddress(link.getAttribute("href"));
    if (!address) return;
    event.preventDefault();
    open(address, true);
  });
  window.addEventListener("popstate", function () { open(location.pathname + location.search, false); });
  history.replaceState({ step: shown }, "", shown);
  prefetch();
})();
