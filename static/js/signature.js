// The signature pad of the completion form: draw on a canvas with a finger, pen or mouse (pointer events);
// each finished stroke writes the drawing as a PNG data URL into the hidden input beside it. No inline script.
(function () {
  "use strict";

  function setUp(pad) {
    if (pad.dataset.signatureReady) { return; }
    pad.dataset.signatureReady = "1";
    var canvas = pad.querySelector("[data-signature-canvas]");
    var input = pad.querySelector("input[type=hidden]");
    var clear = pad.querySelector("[data-signature-clear]");
    if (!canvas || !input || !canvas.getContext) { return; }

    // Styles through the CSSOM (allowed by the CSP, unlike style attributes).
    canvas.style.display = "block";
    canvas.style.width = "100%";
    canvas.style.maxWidth = "600px";
    canvas.style.height = "180px";
    canvas.style.border = "1px solid #8a94a6";
    canvas.style.borderRadius = "4px";
    canvas.style.background = "#ffffff";
    canvas.style.touchAction = "none"; // drawing must not scroll the page

    var context = canvas.getContext("2d");
    var drawing = false;
    var drawn = false;

    function fit() {
      var width = Math.max(16, Math.round(canvas.clientWidth || 300));
      var height = Math.max(16, Math.round(canvas.clientHeight || 180));
      if (canvas.width === width && canvas.height === height) { return; }
      canvas.width = width;
      canvas.height = height;
      reset();
    }

    function reset() {
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.lineWidth = 2.5;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.strokeStyle = "#12263f";
      drawn = false;
      input.value = "";
    }

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return {
        x: (event.clientX - box.left) * (canvas.width / box.width),
        y: (event.clientY - box.top) * (canvas.height / box.height)
      };
    }

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      drawing = true;
      if (canvas.setPointerCapture) { canvas.setPointerCapture(event.pointerId); }
      var at = point(event);
      context.beginPath();
      context.moveTo(at.x, at.y);
      context.lineTo(at.x + 0.1, at.y + 0.1);
      context.stroke();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) { return; }
      event.preventDefault();
      var at = point(event);
      context.lineTo(at.x, at.y);
      context.stroke();
      drawn = true;
    });
    function finish() {
      if (!drawing) { return; }
      drawing = false;
      drawn = true;
      input.value = canvas.toDataURL("image/png");
    }
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    canvas.addEventListener("pointerleave", finish);

    if (clear) {
      clear.addEventListener("click", function () { reset(); });
    }
    fit();
    window.addEventListener("resize", function () { if (!drawn) { fit(); } });
  }

  function init() {
    document.querySelectorAll("[data-signature-pad]").forEach(setUp);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
