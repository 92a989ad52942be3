// coachgen: opens a password-protected site in the browser with WebCrypto.
// The password is turned into the site's master key (PBKDF2-SHA256, the iterations and
// salt named in each envelope's header); the key, never the password, is kept in
// sessionStorage for this visit, or in localStorage when "Remember on this device" is ticked.
// Each file has its own AES-256-GCM key (HKDF of the master key, its client and path), and
// the header is bound in as associated data, so a file moved to another page fails to open.
(function () {
  "use strict";
  var subtle = window.crypto && window.crypto.subtle;
  var script = document.currentScript;
  var root = script.src.slice(0, script.src.length - "assets/lock.js".length);
  var enc = new TextEncoder();

  function fromB64(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function toB64(bytes) {
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }
  function logicalPath(url) {
    var path = url.split("#")[0].split("?")[0];
    path = path.slice(root.length);
    return path === "" || path.slice(-1) === "/" ? path + "index.html" : path;
  }
  function storageKey(site) { return "coachgen:" + site + ":key"; }
  function savedKey(site) {
    var value = sessionStorage.getItem(storageKey(site)) || localStorage.getItem(storageKey(site));
    return value ? fromB64(value) : null;
  }
  function forget(site) {
    sessionStorage.removeItem(storageKey(site));
    localStorage.removeItem(storageKey(site));
  }

  function parse(envelope) {
    var parts = envelope.trim().split(".");
    if (parts.length !== 2) throw new Error("not an envelope");
    var head = fromB64(parts[0]);
    return { headBytes: head, header: JSON.parse(new TextDecoder().decode(head)), blob: fromB64(parts[1]) };
  }
  function deriveMaster(password, header) {
    if (header.v !== 1 || header.kdf !== "pbkdf2-sha256") throw new Error("unknown envelope version");
    return subtle.importKey("raw", enc.encode(password), "PBKDF2", false, ["deriveBits"]).then(function (base) {
      return subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: fromB64(header.salt), iterations: header.iter }, base, 256);
    }).then(function (bits) { return new Uint8Array(bits); });
  }
  function open(master, envelope, path) {
    var e = parse(envelope);
    if (e.header.path !== path) return Promise.reject(new Error("this file belongs to another page"));
    return subtle.importKey("raw", master, "HKDF", false, ["deriveKey"]).then(function (base) {
      var info = enc.encode("coachgen/v1|" + e.header.client + "|" + e.header.path);
      return subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: info },
        base, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
    }).then(function (key) {
      return subtle.decrypt({ name: "AES-GCM", iv: e.blob.slice(0, 12), additionalData: e.headBytes }, key, e.blob.slice(12));
    }).then(function (plain) { return new Uint8Array(plain); });
  }

  // ------------------------------------------------------------------ a locked page
  var sealed = document.getElementById("sealed");
  if (sealed) {
    var envelope = sealed.textContent;
    var header;
    try { header = parse(envelope).header; } catch (err) { header = null; }
    var form = document.getElementById("unlock");
    var error = document.getElementById("unlock-error");  // its data-* hold the messages, in the page's language
    var show = function (message) {
      form.hidden = false;
      if (message) { error.textContent = message; error.hidden = false; }
      document.getElementById("password").focus();
    };
    var write = function (plain) {
      var html = new TextDecoder().decode(plain);
      var replace = function () {
        document.open();
        document.write(html);
        document.close();
      };
      // replacing a document that is still loading would cancel its load event
      if (document.readyState === "complete") replace();
      else window.addEventListener("load", function () { setTimeout(replace, 0); });
    };
    var reveal = function (master) {
      return open(master, envelope, logicalPath(location.href)).then(write);
    };
    if (!subtle || !header) {
      show(error.dataset[!subtle ? "insecure" : "damaged"]);
      return;
    }
    var saved = savedKey(header.client);
    if (saved) {
      reveal(saved).catch(function () {
        forget(header.client);
        show(error.dataset.stale);
      });
    } else {
      show();
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      error.hidden = true;
      var password = document.getElementById("password").value;
      deriveMaster(password, header).then(function (master) {
        return open(master, envelope, logicalPath(location.href)).then(function (plain) {
          // kept only once the page opened with it: a wrong password is never stored
          var store = document.getElementById("remember").checked ? localStorage : sessionStorage;
          store.setItem(storageKey(header.client), toB64(master));
          write(plain);
        });
      }).catch(function () {
        button.disabled = false;
        show(error.dataset.wrong);
      });
    });
    return;
  }

  // ------------------------------------------------------------------ an opened page
  var site = document.querySelector('meta[name="coachgen-site"]');
  if (!site) return;
  var siteId = site.content;
  var master = savedKey(siteId);
  var logout = document.getElementById("logout");
  if (logout) {
    logout.hidden = false;
    logout.addEventListener("click", function () { forget(siteId); location.reload(); });
  }
  if (!master) return;
  // images and attachments are encrypted files beside their plain names (name + ".enc")
  var files = root + "assets/files/";
  var decryptTo = function (url, apply) {
    fetch(url + ".enc").then(function (r) { return r.text(); })
      .then(function (text) { return open(master, text, logicalPath(url)); })
      .then(function (bytes) { apply(URL.createObjectURL(new Blob([bytes]))); })
      .catch(function () { /* the image stays blank: nothing to show */ });
  };
  // encrypted images are named in data-src, so that the browser never asks for a plain file
  document.querySelectorAll("img[data-src]").forEach(function (img) {
    var url = new URL(img.getAttribute("data-src"), location.href).href;
    if (url.indexOf(files) === 0) decryptTo(url, function (blobUrl) { img.src = blobUrl; });
  });
  document.querySelectorAll("a[href]").forEach(function (a) {
    if (a.href.indexOf(files) === 0) decryptTo(a.href, function (blobUrl) { a.href = blobUrl; });
  });
})();
