// coachgen: the dashboard's "Send an update" panel. The client ticks what they did, logs
// today's numbers and writes a note; this script checks them, writes a message a person can
// read with one sealed block that coachgen can import (the protocol is coachgen/checkin.py's
// docstring), and offers it as a mailto: link and as text to copy. It remembers on this device
// which updates were sent (their ids and dates, never their words) until the site shows them
// as received. Works on every site: where WebCrypto is missing (plain http:// on a non-local
// address) the HMAC is computed by the small SHA-256 below.
(function () {
  "use strict";
  var form = document.querySelector("form[data-checkin]");
  var configEl = document.querySelector("script[data-checkin-config]");
  if (!form || !configEl) return;
  var config = JSON.parse(configEl.textContent);
  var panel = form.closest(".checkin") || document;
  var BEGIN = "-----BEGIN COACHGEN CHECK-IN-----";
  var END = "-----END COACHGEN CHECK-IN-----";
  var MAX_NOTE = 4000;
  var CURRENCIES = { "£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY" };
  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  // ---------------------------------------------------------------- bytes and the seal

  function fromB64url(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function toB64url(bytes) {
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function concat(a, b) {
    var out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }

  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  function ror(x, n) { return (x >>> n) | (x << (32 - n)); }

  // SHA-256 (FIPS 180-4) of a Uint8Array, for browsers that give a plain http:// page no WebCrypto
  function sha256(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var length = bytes.length;
    var padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    var bits = length * 8, end = padded.length;
    var high = Math.floor(bits / 0x100000000), low = bits >>> 0;
    padded[end - 8] = high >>> 24; padded[end - 7] = (high >>> 16) & 255; padded[end - 6] = (high >>> 8) & 255; padded[end - 5] = high & 255;
    padded[end - 4] = low >>> 24; padded[end - 3] = (low >>> 16) & 255; padded[end - 2] = (low >>> 8) & 255; padded[end - 1] = low & 255;
    var w = new Array(64);
    for (var off = 0; off < end; off += 64) {
      for (var t = 0; t < 16; t++) {
        var i = off + t * 4;
        w[t] = (padded[i] << 24) | (padded[i + 1] << 16) | (padded[i + 2] << 8) | padded[i + 3];
      }
      for (t = 16; t < 64; t++) {
        var s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >>> 3);
        var s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (t = 0; t < 64; t++) {
        var t1 = (k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
        var t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
    }
    var out = new Uint8Array(32);
    for (i = 0; i < 8; i++) {
      out[i * 4] = h[i] >>> 24; out[i * 4 + 1] = (h[i] >>> 16) & 255; out[i * 4 + 2] = (h[i] >>> 8) & 255; out[i * 4 + 3] = h[i] & 255;
    }
    return out;
  }
  // HMAC (RFC 2104) with the SHA-256 above
  function hmacPlain(key, data) {
    if (key.length > 64) key = sha256(key);
    var inner = new Uint8Array(64), outer = new Uint8Array(64);
    for (var i = 0; i < 64; i++) {
      var byte = i < key.length ? key[i] : 0;
      inner[i] = byte ^ 0x36;
      outer[i] = byte ^ 0x5c;
    }
    return sha256(concat(outer, sha256(concat(inner, data))));
  }
  function hmac(key, data) {
    var subtle = window.crypto && window.crypto.subtle;
    if (!subtle) return Promise.resolve(hmacPlain(key, data));
    return subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
      .then(function (k) { return subtle.sign("HMAC", k, data); })
      .then(function (mac) { return new Uint8Array(mac); })
      .catch(function () { return hmacPlain(key, data); });
  }
  // base64url(payload) "." base64url(HMAC-SHA256(token, payload)), wrapped at 64 characters
  function seal(payload) {
    var body = new TextEncoder().encode(JSON.stringify(payload));
    return hmac(fromB64url(config.token), body).then(function (mac) {
      var sealed = toB64url(body) + "." + toB64url(mac);
      var lines = [BEGIN];
      for (var i = 0; i < sealed.length; i += 64) lines.push(sealed.slice(i, i + 64));
      lines.push(END);
      return lines.join("\n");
    });
  }
  function newId() {
    var random = new Uint8Array(22), id = "";
    window.crypto.getRandomValues(random);
    for (var i = 0; i < random.length; i++) id += ALPHABET[random[i] & 63];
    return id;
  }

  // ---------------------------------------------------------------- dates

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function localDay(date) { return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()); }
  // 20 March 2026 · 20. März 2026, as the site writes its dates (the browser's Intl knows
  // the same CLDR names Babel does)
  function longDay(iso) {
    var p = iso.split("-");
    var date = new Date(Date.UTC(+p[0], +p[1] - 1, +p[2]));
    try {
      return new Intl.DateTimeFormat(config.locale, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(date);
    } catch (err) { return iso; }
  }
  function number(n) {
    try { return new Intl.NumberFormat(config.locale).format(n); } catch (err) { return String(n); }
  }
  // the page's words (see _checkin.html), each {name} filled in
  function say(key, values) {
    return String(config.words[key]).replace(/\{(\w+)\}/g, function (all, name) {
      return values && name in values ? String(values[name]) : all;
    });
  }

  // ---------------------------------------------------------------- what was sent from this device

  var storeKey = "coachgen:" + config.site + ":check-ins";
  var received = {};
  (config.received || []).forEach(function (id) { received[id] = true; });
  function loadSent() {
    try {
      var list = JSON.parse(localStorage.getItem(storeKey) || "[]");
      return Array.isArray(list) ? list.filter(function (e) { return e && typeof e.id === "string"; }) : [];
    } catch (err) { return []; }
  }
  function saveSent(list) {
    try {
      if (list.length) localStorage.setItem(storeKey, JSON.stringify(list));
      else localStorage.removeItem(storeKey);
    } catch (err) { /* private browsing or storage off: nothing is remembered */ }
  }
  var sentList = panel.querySelector("[data-checkin-sent]");
  function showSent(list, seen) {
    sentList.textContent = "";
    seen.concat(list).forEach(function (entry) {
      var li = document.createElement("li");
      var isSeen = seen.indexOf(entry) >= 0;
      li.className = "checkin-sent-item " + (isSeen ? "checkin-seen" : "checkin-unseen");
      li.setAttribute("data-checkin-id", entry.id);
      li.textContent = say(isSeen ? "sentSeen" : "sentUnseen", { date: longDay(entry.date) });
      sentList.appendChild(li);
    });
    sentList.hidden = !sentList.children.length;
  }
  // an update the site now lists as received is shown so once, then forgotten
  var stored = loadSent();
  var seenNow = stored.filter(function (e) { return received[e.id]; });
  var pending = stored.filter(function (e) { return !received[e.id]; });
  if (seenNow.length) saveSent(pending);
  showSent(pending, seenNow);

  // ---------------------------------------------------------------- reading the form

  var problem = form.querySelector("[data-checkin-problem]");
  var out = panel.querySelector("[data-checkin-out]");
  var message = panel.querySelector("textarea[data-checkin-message]");
  var send = panel.querySelector("a[data-checkin-send]");
  var copy = panel.querySelector("[data-checkin-copy]");
  var copied = panel.querySelector("[data-checkin-copied]");
  var noteBox = form.querySelector("[data-checkin-note]");

  function errorFor(input) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/);
    for (var i = 0; i < ids.length; i++) {
      var el = document.getElementById(ids[i]);
      if (el && el.hasAttribute("data-checkin-field-error")) return el;
    }
    return null;
  }
  function markField(input, text) {
    var el = errorFor(input);
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (el) { el.textContent = text || ""; el.hidden = !text; }
  }

  // a value as text the importer reads, or {error}: number with a dot, the rest whole numbers.
  // Either mark is read as the decimal point; "1,234" where the language writes 1,5 (or
  // "1.234" where it writes 1.5) could be a thousand, so it is asked about.
  var MARK = config.decimal === "," ? "," : ".";
  var OTHER = MARK === "," ? "." : ",";
  var AMBIGUOUS = new RegExp("^[+-]?\\d{1,3}\\" + OTHER + "\\d{3}$");
  function judge(metric, raw) {
    var text = raw.replace(/\s+/g, "");
    if (text === "") return { empty: true };
    if (metric.kind === "number") {
      if (AMBIGUOUS.test(text)) {
        return { error: say("ambiguous", { whole: text.replace(OTHER, ""), fraction: text.replace(OTHER, MARK) }) };
      }
      if (text.indexOf(".") < 0) text = text.replace(/,/, ".");
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return { error: say("number") };
      if (text.length > 30) return { error: say("tooLong") };
      return { value: text.replace(/^\+/, "") };
    }
    var whole = /^\d{1,9}$/.test(text) ? parseInt(text, 10) : null;
    if (metric.kind === "rating") {
      if (whole === null || whole < 1 || whole > metric.scale) return { error: say("rating", { scale: metric.scale }) };
    } else if (metric.kind === "habit") {
      if (whole === null || whole > 7) return { error: say("habit") };
    } else if (whole === null) {
      return { error: say("count") };
    }
    return { value: String(whole) };
  }
  // a value as the site writes it: 81,2 kg · £7,250 · 7.250 £ · 5 of 7 days
  function shown(metric, value) {
    if (metric.kind === "habit") return say("habitValue", { num: value });
    if (metric.kind === "rating") return value + "/" + metric.scale;
    var money = CURRENCIES[metric.unit];
    if (money) {
      try {
        var cents = value.indexOf(".") >= 0 ? 2 : 0;  // £7,250 but £7,250.50
        return new Intl.NumberFormat(config.locale, { style: "currency", currency: money, currencyDisplay: "narrowSymbol",
          minimumFractionDigits: cents, maximumFractionDigits: 2 }).format(+value);
      } catch (err) { /* written as typed below */ }
    }
    return value.replace(".", MARK) + (metric.unit ? " " + metric.unit : "");
  }

  function read() {
    var done = [], values = {}, lines = [], bad = [];
    config.actions.forEach(function (action) {
      var box = form.querySelector('input[data-action="' + CSS.escape(action.key) + '"]');
      if (box && box.checked) done.push({ key: action.key, text: action.text, due: action.due || null });
    });
    config.metrics.forEach(function (metric) {
      var input = form.querySelector('input[data-metric="' + CSS.escape(metric.key) + '"]');
      if (!input) return;
      var result = judge(metric, input.value);
      markField(input, result.error);
      if (result.error) bad.push(input);
      else if (!result.empty) {
        values[metric.key] = result.value;
        lines.push("- " + metric.label + ": " + shown(metric, result.value));
      }
    });
    var note = noteBox ? noteBox.value.replace(/\r\n?/g, "\n").replace(/^\s+\n|\s+$/g, "") : "";
    var noteError = note.length > MAX_NOTE ? say("noteLong", { count: number(note.length), max: number(MAX_NOTE) })
      : note.indexOf("COACHGEN CHECK-IN") >= 0 ? say("noteBlock") : "";
    if (noteBox) markField(noteBox, noteError);
    if (noteError) bad.push(noteBox);
    return { done: done, values: values, valueLines: lines, note: note, bad: bad };
  }

  function compose(update, id, day) {
    var text = [say("greeting", { coach: config.coach }), "", say("intro", { date: longDay(day) }), ""];
    if (update.done.length) {
      text.push(say("done"));
      update.done.forEach(function (d) { text.push("- " + d.text); });
      text.push("");
    }
    if (update.valueLines.length) text = text.concat([say("numbers")], update.valueLines, [""]);
    if (update.note) text.push(say("note"), update.note, "");
    var payload = { v: 1, site: config.site, id: id, date: day, done: update.done, values: update.values, note: update.note };
    return seal(payload).then(function (block) {
      text.push(block, say("keepBlock"));
      return text.join("\n");
    });
  }

  function mailto(subject, body) {
    var address = encodeURIComponent(config.email || "").replace(/%40/g, "@");
    return "mailto:" + address + "?subject=" + encodeURIComponent(subject) +
      "&body=" + encodeURIComponent(body.replace(/\n/g, "\r\n"));
  }

  var visitEntry = null;  // resubmitting in one visit replaces this visit's entry: one update, corrected
  var busy = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    problem.hidden = true;
    var update = read();
    if (update.bad.length) {
      problem.textContent = say(update.bad.length === 1 ? "fixOne" : "fixMany");
      problem.hidden = false;
      out.hidden = true;
      update.bad[0].focus();
      return;
    }
    if (!update.done.length && !update.valueLines.length && !update.note) {
      problem.textContent = say("empty");
      problem.hidden = false;
      out.hidden = true;
      return;
    }
    busy = true;
    var id = newId(), day = localDay(new Date());
    compose(update, id, day).then(function (text) {
      message.value = text;
      var subject = say("subject", { client: config.client, date: longDay(day) });
      send.href = mailto(subject, text);
      copied.textContent = "";
      out.hidden = false;
      var list = loadSent().filter(function (e) { return !visitEntry || e.id !== visitEntry.id; });
      visitEntry = { id: id, date: day };
      list.push(visitEntry);
      saveSent(list);
      showSent(list.filter(function (e) { return !received[e.id]; }), []);
      out.focus({ preventScroll: true });
      var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      out.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "start" });
    }).catch(function () {
      problem.textContent = say("failed");
      problem.hidden = false;
    }).then(function () { busy = false; });
  });

  form.addEventListener("input", function (event) {
    // a corrected field loses its mark as soon as it is valid
    var input = event.target;
    if (input.getAttribute("aria-invalid") !== "true") return;
    var key = input.getAttribute("data-metric");
    var metric = key && config.metrics.filter(function (m) { return m.key === key; })[0];
    if (metric && !judge(metric, input.value).error) markField(input, "");
    if (input === noteBox && noteBox.value.length <= MAX_NOTE) markField(input, "");
  });

  copy.addEventListener("click", function () {
    var done = function () { copied.textContent = say("copied"); };
    var fallback = function () {
      message.focus();
      message.select();
      try {
        if (document.execCommand("copy")) { done(); return; }
      } catch (err) { /* fall through */ }
      copied.textContent = say("select");
    };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(message.value).then(done, fallback);
    else fallback();
  });
})();
