/* The scan box keeps the focus, for a keyboard-wedge scanner (it types the code and Enter). A click on the
   page's background gives it back; the pages work without this file (autofocus, plain form posts). */
(function () {
  var box = document.querySelector("input[data-scan]");
  if (!box) { return; }
  box.focus();
  document.addEventListener("click", function (event) {
    if (!event.target.closest("input, select, textarea, button, a, label")) { box.focus(); }
  });
  window.addEventListener("pageshow", function () { box.focus(); });
}());
