// JL-A2: warn before an idle session ends (telemed/sessions.py ends it on the server).
// The server is the authority: this only counts since the page was loaded and offers "continue",
// which makes one request so that the server's idle clock starts again.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("session-warning");
    if (!box) { return; }
    var idle = parseInt(box.getAttribute("data-idle-seconds"), 10) * 1000;
    var warn = parseInt(box.getAttribute("data-warn-seconds"), 10) * 1000;
    if (!(idle > 0) || !(warn > 0)) { return; }
    var warnState = box.querySelector('[data-state="warn"]');
    var endedState = box.querySelector('[data-state="ended"]');
    var button = box.querySelector('[data-action="keepalive"]');
    var timers = [];

    function clear() { timers.forEach(clearTimeout); timers = []; }
    function schedule() {
      clear();
      box.hidden = true;
      warnState.hidden = false;
      endedState.hidden = true;
      button.hidden = false;
      timers.push(setTimeout(function () { box.hidden = false; button.focus(); }, Math.max(idle - warn, 0)));
      timers.push(setTimeout(ended, idle));
    }
    function ended() {
      clear();
      box.hidden = false;
      warnState.hidden = true;
      endedState.hidden = false;
      button.hidden = true;
    }
    button.addEventListener("click", function () {
      fetch(box.getAttribute("data-keepalive-url"), { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status === 204) { schedule(); } else { window.location.href = box.getAttribute("data-login-url"); }
        })
        .catch(function () { /* offline: keep the warning; the next request will tell */ });
    });
    schedule();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
