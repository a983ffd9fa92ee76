// Progressive enhancement only: every page works without this file.
// A run's page follows its progress: the panel marked data-poll is refreshed from
// the server every few seconds while the run is queued or running, and the page
// reloads once it has finished (to show the plan link and the decisions).
(function () {
  "use strict";
  var panel = document.querySelector("[data-poll]");
  if (!panel || !window.fetch) {
    return;
  }
  var url = panel.getAttribute("data-poll");
  var delay = 1000;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        panel.innerHTML = html;
        var inner = panel.querySelector("[data-finished]");
        if (inner && inner.getAttribute("data-finished") === "true") {
          window.location.reload();
          return;
        }
        delay = Math.min(delay * 1.5, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        // Keep the Refresh link as the way on; try again a little later.
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }
  window.setTimeout(poll, delay);
})();

// Move the focus to an error summary, so a keyboard or screen-reader user hears it first.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
})();

// A section marked data-refresh-after (scenarios still solving) reloads the page after
// that many seconds, unless the person has started filling in a form meanwhile.
(function () {
  "use strict";
  var section = document.querySelector("[data-refresh-after]");
  if (!section) {
    return;
  }
  var typing = false;
  document.addEventListener("input", function () {
    typing = true;
  });
  var seconds = parseFloat(section.getAttribute("data-refresh-after")) || 5;
  window.setTimeout(function () {
    if (!typing) {
      window.location.reload();
    }
  }, seconds * 1000);
})();
