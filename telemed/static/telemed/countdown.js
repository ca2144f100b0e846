/* JL-C2 countdown: every [data-due] element shows the time left, red under two hours.
   A static file, not an inline script: the Content-Security-Policy allows scripts from 'self' only (JL-A2). */
(function () {
  "use strict";
  function start() {
    var nodes = document.querySelectorAll(".countdown[data-due]");
    if (!nodes.length) { return; }
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    function tick() {
      var now = Date.now();
      for (var i = 0; i < nodes.length; i++) {
        var node = nodes[i], left = Math.floor((Date.parse(node.getAttribute("data-due")) - now) / 1000);
        if (isNaN(left)) { continue; }
        node.classList.toggle("countdown-urgent", left < 7200);
        node.classList.toggle("countdown-overdue", left <= 0);
        if (left <= 0) { node.textContent = node.getAttribute("data-overdue-label"); continue; }
        node.textContent = node.getAttribute("data-left-label") + " " + Math.floor(left / 3600) + ":" + pad(Math.floor(left % 3600 / 60)) + ":" + pad(left % 60);
      }
    }
    tick();
    window.setInterval(tick, 1000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
