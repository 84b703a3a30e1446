// Streams answers into the page: every turn still being written (`data-answer-stream`) opens a
// server-sent-events connection, appends text as it arrives (as text, never HTML), and when the
// answer is done swaps in the server-rendered turn with its citations. No inline script, so a
// strict Content-Security-Policy holds.
(function () {
  "use strict";

  function streamTurn(turn) {
    if (turn.dataset.streaming) return;
    turn.dataset.streaming = "1";
    var output = turn.querySelector(".answer-text");
    var thinking = turn.querySelector(".thinking");
    var source = new EventSource(turn.dataset.answerStream);
    var finished = false;

    function finish() {
      finished = true;
      source.close();
      if (thinking) thinking.remove();
    }

    source.addEventListener("delta", function (event) {
      var data = JSON.parse(event.data);
      output.appendChild(document.createTextNode(data.text));
      turn.dataset.chunks = String(Number(turn.dataset.chunks || 0) + 1);
    });
    source.addEventListener("done", function () {
      finish();
      htmx.ajax("GET", turn.dataset.answerFinal, { target: turn, swap: "outerHTML" });
    });
    source.addEventListener("error", function (event) {
      if (finished) return;
      var message = "The connection to the server was lost before the answer finished. Reload to see it.";
      if (event.data) message = JSON.parse(event.data).message;
      finish();
      var error = document.createElement("p");
      error.className = "error";
      error.setAttribute("role", "alert");
      error.setAttribute("data-testid", "answer-error");
      error.textContent = message;
      turn.appendChild(error);
    });
  }

  function streamAll(root) {
    (root || document).querySelectorAll("[data-answer-stream]").forEach(streamTurn);
  }

  document.addEventListener("DOMContentLoaded", function () { streamAll(document); });
  document.addEventListener("htmx:afterSettle", function () { streamAll(document); });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.matches && form.matches("form.ask") && event.detail.successful) form.reset();
  });
})();
