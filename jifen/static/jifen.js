/* The pages' few behaviours, in one file so the Content-Security-Policy needs no inline handlers.
   Each is switched on by a data- attribute:
   data-print (click: print the page), data-select (click: select the text), data-back (click: go
   back), data-confirm="question" (form submit or button click: ask first), data-autosubmit
   (change: submit the form), data-slug-form (submit: go to /t/<slug>/), data-submit-now (a form sent
   as soon as the page loads: the form kept through sign-in), data-compress-photos (a photo input: on
   submit the photos are shrunk on the phone to 1280 px JPEG and sent with a progress bar; without
   JavaScript, or a browser that can't, the form is sent as it is and the server shrinks them),
   data-stepper (a number input: − and + buttons beside it),
   data-read-aloud (a button shown only where the browser can speak: reads the page's main text, not
   its navigation, forms or buttons, in the page's language; pressed again, stops),
   data-unsent-confirm (the sign-out form: asks first when records captured offline on this phone were
   not sent, since signing out clears them; "{n}" is their number). */
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var el = e.target.closest("[data-print], [data-select], [data-back], button[data-confirm]");
    if (!el) return;
    if (el.hasAttribute("data-print")) { e.preventDefault(); window.print(); }
    else if (el.hasAttribute("data-select")) { el.select(); }
    else if (el.hasAttribute("data-back")) { e.preventDefault(); history.back(); }
    else if (!window.confirm(el.getAttribute("data-confirm"))) { e.preventDefault(); }
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      e.preventDefault();
    } else if (form.hasAttribute("data-unsent-confirm") && !form.hasAttribute("data-checked") && window.indexedDB) {
      e.preventDefault();  // signing out clears the phone's storage: records captured offline, not sent, go with it
      unsent().then(function (n) {
        if (n && !window.confirm(form.getAttribute("data-unsent-confirm").replace("{n}", n))) return;
        form.setAttribute("data-checked", "");
        HTMLFormElement.prototype.submit.call(form);
      });
    } else if (form.hasAttribute("data-slug-form")) {
      e.preventDefault();
      location.href = "/t/" + encodeURIComponent(form.elements.slug.value.trim()) + "/";
    } else if (photoInput(form)) {
      e.preventDefault();
      sendWithSmallPhotos(form, photoInput(form));
    }
  });

  var EDGE = 1280, QUALITY = 0.8;

  function photoInput(form) {
    var input = form.querySelector("input[type=file][data-compress-photos]");
    var able = input && input.files && input.files.length && window.createImageBitmap && window.FormData &&
      window.XMLHttpRequest && HTMLCanvasElement.prototype.toBlob;
    return able ? input : null;
  }

  function shrink(file) {
    // one photo as a JPEG no larger than EDGE on its longest side; the file itself if it can't be read
    if (!/^image\//.test(file.type)) return Promise.resolve(file);
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, EDGE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) bitmap.close();
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          resolve(blob && blob.size < file.size ? new File([blob], file.name.replace(/\.[^.]*$/, "") + ".jpg",
                                                           { type: "image/jpeg" }) : file);
        }, "image/jpeg", QUALITY);
      });
    }).catch(function () { return file; });
  }

  function sendWithSmallPhotos(form, input) {
    var bar = form.querySelector("progress.pt-progress");
    var button = form.querySelector("button:not([type=button])");
    if (button) button.disabled = true;
    if (bar) { bar.hidden = false; bar.removeAttribute("value"); }  // indeterminate while shrinking
    Promise.all(Array.prototype.map.call(input.files, shrink)).then(function (photos) {
      var data = new FormData(form);
      data.delete(input.name);
      photos.forEach(function (p) { data.append(input.name, p, p.name); });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.onprogress = function (ev) {
        if (bar && ev.lengthComputable) { bar.max = ev.total; bar.value = ev.loaded; }
      };
      xhr.onload = function () {
        if (xhr.responseURL && xhr.responseURL.split("#")[0] !== form.action) {
          location.href = xhr.responseURL;  // sent: the server's redirect, followed
          return;
        }
        // shown again (an error, or sign-in asked): the answer's page in place of this one
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        document.title = page.title;
        document.body.replaceWith(document.importNode(page.body, true));
        window.scrollTo(0, 0);
      };
      xhr.onerror = function () {  // the network dropped: send it the ordinary way (the server shrinks)
        if (button) button.disabled = false;
        if (bar) bar.hidden = true;
        HTMLFormElement.prototype.submit.call(form);
      };
      xhr.send(data);
    });
  }

  // data-stepper (a number input): − and + buttons of 44 px beside it, within its min and max; the
  // number stays typeable, and without JavaScript the box alone works
  Array.prototype.forEach.call(document.querySelectorAll("input[data-stepper]"), function (input) {
    if (input.disabled) return;
    var box = document.createElement("span");
    box.className = "or-step";
    input.parentNode.insertBefore(box, input);
    function button(text, label, delta) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.setAttribute("aria-label", label);
      b.addEventListener("click", function () {
        var value = (parseInt(input.value, 10) || 0) + delta;
        var max = parseInt(input.max, 10);
        if (!isNaN(max)) value = Math.min(value, max);
        input.value = Math.max(value, parseInt(input.min, 10) || 0) || "";
        input.dispatchEvent(new Event("input", { bubbles: true }));
      });
      return b;
    }
    box.appendChild(button("\u2212", input.getAttribute("data-less") || "-", -1));
    box.appendChild(input);
    box.appendChild(button("+", input.getAttribute("data-more") || "+", 1));
  });
  var synth = window.speechSynthesis;
  if (synth && window.SpeechSynthesisUtterance) {
    document.querySelectorAll("button[data-read-aloud]").forEach(function (b) { b.hidden = false; });
    document.addEventListener("click", function (e) {
      var button = e.target.closest("button[data-read-aloud]");
      if (!button) return;
      if (!button.dataset.label) button.dataset.label = button.textContent;
      if (synth.speaking || button.classList.contains("reading")) {
        synth.cancel();
        done(button);
        return;
      }
      var said = new SpeechSynthesisUtterance(readable(document.querySelector("main")));
      said.lang = document.documentElement.lang === "en" ? "en" : "zh-CN";
      said.onend = said.onerror = function () { done(button); };
      button.classList.add("reading");
      button.textContent = button.dataset.stopLabel;
      synth.speak(said);
    });
  }

  function done(button) {
    button.classList.remove("reading");
    button.textContent = button.dataset.label;
  }

  function readable(main) {
    // the text of `main` as it is read: a table cell with its column's name, a pause after each part
    var copy = main.cloneNode(true);
    copy.querySelectorAll("form, button, .button, script, style, thead, [hidden], .no-print").forEach(function (el) {
      el.remove();
    });
    copy.querySelectorAll("td[data-label]").forEach(function (td) {
      if (td.textContent.trim()) td.prepend(td.getAttribute("data-label") + " ");
    });
    copy.querySelectorAll("td, th").forEach(function (el) { el.append(", "); });
    copy.querySelectorAll("h1, h2, h3, p, li, tr, dt, dd, br").forEach(function (el) { el.after("\n"); });
    return copy.textContent.replace(/[ \t]+/g, " ").replace(/(, )?\s*\n\s*/g, "\n").trim();
  }

  // records of the offline capture (static/field.js) still on this phone and not sent: waiting or
  // refused; 0 where the app never ran (its database is not created here)
  function unsent() {
    return new Promise(function (resolve) {
      var req = indexedDB.open("jifen-field");
      req.onupgradeneeded = function () { req.transaction.abort(); };
      req.onerror = function () { resolve(0); };
      req.onsuccess = function () {
        var db = req.result;
        if (!db.objectStoreNames.contains("queue")) { db.close(); resolve(0); return; }
        var all = db.transaction("queue").objectStore("queue").getAll();
        all.onsuccess = function () {
          db.close();
          resolve(all.result.filter(function (r) { return r.state !== "sent"; }).length);
        };
        all.onerror = function () { db.close(); resolve(0); };
      };
    });
  }

  var now = document.querySelector("form[data-submit-now]");
  if (now) HTMLFormElement.prototype.submit.call(now);
  document.addEventListener("change", function (e) {
    if (e.target.hasAttribute && e.target.hasAttribute("data-autosubmit")) e.target.form.submit();
  });
})();
