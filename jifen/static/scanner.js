/* The store counter's scanner: the phone's camera reads a household's QR code and the find form is
   sent with what it read (the card's counter link; the server takes the code out of it). The
   browser's BarcodeDetector where it has one, else the vendored jsQR (vendor/jsqr) on video frames,
   loaded only when "Scan" is tapped. Without a camera or JavaScript the storekeeper types or pastes
   the code into the same box. */
(function () {
  "use strict";
  var box = document.querySelector("[data-scanner]");
  if (!box || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  var form = document.getElementById(box.getAttribute("data-form"));
  var input = form.querySelector("input[name=q]");
  var start = box.querySelector("button");
  var video = box.querySelector("video");
  var status = box.querySelector("[data-scan-status]");
  var stream = null;
  start.hidden = false;

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
  }

  function loadJsQR() {
    return new Promise(function (resolve, reject) {
      if (window.jsQR) return resolve(window.jsQR);
      var s = document.createElement("script");
      s.src = box.getAttribute("data-jsqr");
      s.onload = function () { resolve(window.jsQR); };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  function reader() {  // a function video -> Promise of the text read, or null
    if ("BarcodeDetector" in window) {
      try {
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        return Promise.resolve(function (v) {
          return detector.detect(v).then(function (r) { return r.length ? r[0].rawValue : null; });
        });
      } catch (e) { /* no QR support in this detector: jsQR below */ }
    }
    return loadJsQR().then(function (jsQR) {
      var canvas = document.createElement("canvas");
      var ctx = canvas.getContext("2d", { willReadFrequently: true });
      return function (v) {
        if (!v.videoWidth) return Promise.resolve(null);
        canvas.width = v.videoWidth;
        canvas.height = v.videoHeight;
        ctx.drawImage(v, 0, 0);
        var img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        var found = jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
        return Promise.resolve(found ? found.data : null);
      };
    });
  }

  start.addEventListener("click", function () {
    if (stream) { stop(); return; }
    status.textContent = box.getAttribute("data-starting");
    Promise.all([navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }), reader()])
      .then(function (got) {
        stream = got[0];
        var read = got[1];
        video.srcObject = stream;
        video.hidden = false;
        video.play();
        status.textContent = box.getAttribute("data-aim");
        (function tick() {
          if (!stream) return;
          read(video).then(function (text) {
            if (text) { stop(); input.value = text; form.submit(); } else { setTimeout(tick, 200); }
          }, function () { setTimeout(tick, 400); });
        })();
      }, function () {
        stop();
        status.textContent = box.getAttribute("data-no-camera");
      });
  });
})();
