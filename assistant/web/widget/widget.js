/*
 * shopassist support widget: a dependency-free chat bubble for any store page.
 *
 *   <script src="https://assistant.example/widget.js"
 *           data-api="https://assistant.example" data-token="SIGNED_SHOPPER_TOKEN" defer></script>
 *
 * data-api   base URL of the assistant (default: the origin this script was served from)
 * data-token a shopper token signed by the store's backend (omit for anonymous visitors)
 * data-title header text (default "Need help?", or the widget language's own)
 * data-lang  the widget's language: "en" or "zh" (tags such as "zh-CN" too); without it, the
 *            page's <html lang>. Its labels are in that language, and each message is sent
 *            with it, so the assistant answers in it. "auto": labels follow the page, and
 *            replies follow each message's language.
 *
 * The header shows the shopper's cart (count and total, from /api/cart; click it for the
 * lines); product cards have an "Add to cart" button. An anonymous visitor's cart belongs to
 * the chat's session, as their conversation does.
 *
 * Everything the server sends is rendered with textContent, never innerHTML, so a reply can
 * never inject markup into the host page. Styles live in a shadow root so neither page nor
 * widget restyles the other.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__shopassistWidget) return;
  window.__shopassistWidget = true;

  // The widget's words per language: filled in by the server from assistant/web/locales/.
  var STRINGS = /*SHOPASSIST_STRINGS*/{};

  // "zh-CN", "zh_Hans", "ZH" -> "zh"; a language with no strings -> null.
  function pickLang(value) {
    var head = String(value || "").trim().toLowerCase().replace(/_/g, "-").split("-")[0];
    return head && STRINGS[head] ? head : null;
  }
  var wanted = (script.getAttribute("data-lang") || "").trim();
  var auto = wanted.toLowerCase() === "auto";
  var chosen = auto ? null : pickLang(wanted) || pickLang(document.documentElement.lang);
  var lang = chosen || pickLang(document.documentElement.lang) || "en";

  function t(key, values) {
    var table = STRINGS[lang] || {};
    var text = key in table ? table[key] : (STRINGS.en || {})[key];
    if (text == null) return key;
    return String(text).replace(/\{(\w+)\}/g, function (all, name) {
      return values && name in values ? String(values[name]) : all;
    });
  }

  var api = (script.getAttribute("data-api") || new URL(script.src).origin).replace(/\/+$/, "");
  var token = script.getAttribute("data-token") || "";
  var title = script.getAttribute("data-title") || t("title");
  var sessionId = null;
  var busy = false;

  var CSS = [
    ":host{all:initial;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;}",
    ".bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;",
    "border:none;background:#2563eb;color:#fff;cursor:pointer;display:flex;",
    "align-items:center;justify-content:center;",
    "box-shadow:0 6px 18px rgba(0,0,0,.25);z-index:2147483000;}",
    ".bubble:focus-visible{outline:3px solid #93c5fd;outline-offset:2px;}",
    ".panel{position:fixed;right:20px;bottom:88px;width:min(380px,calc(100vw - 24px));",
    "height:min(560px,calc(100vh - 110px));background:#fff;border-radius:14px;display:none;",
    "flex-direction:column;overflow:hidden;box-shadow:0 12px 40px rgba(0,0,0,.28);",
    "z-index:2147483000;color:#111827;}",
    ".panel.open{display:flex;}",
    ".head{background:#2563eb;color:#fff;padding:12px 14px;}",
    ".head b{display:block;font-size:15px;}",
    ".who{font-size:12px;opacity:.9;}",
    ".log{flex:1;overflow-y:auto;padding:12px;background:#f8fafc;display:flex;",
    "flex-direction:column;gap:8px;}",
    ".msg{max-width:85%;padding:8px 11px;border-radius:12px;font-size:14px;line-height:1.4;",
    "white-space:pre-wrap;word-wrap:break-word;}",
    ".user{align-self:flex-end;background:#2563eb;color:#fff;border-bottom-right-radius:4px;}",
    ".bot{align-self:flex-start;background:#fff;border:1px solid #e5e7eb;",
    "border-bottom-left-radius:4px;}",
    ".err{align-self:center;background:#fef2f2;color:#991b1b;border:1px solid #fecaca;",
    "font-size:13px;}",
    ".cards{display:flex;flex-direction:column;gap:6px;align-self:stretch;}",
    ".card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:8px 10px;}",
    ".card .img{display:block;width:100%;max-height:120px;object-fit:contain;border-radius:6px;margin-bottom:4px;}",
    ".card .n{font-weight:600;font-size:13px;}",
    ".card .m{font-size:12px;color:#6b7280;margin-top:2px;}",
    ".card .p{font-weight:700;color:#047857;font-size:13px;}",
    ".card .r{font-size:12px;color:#374151;margin-top:3px;}",
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #e5e7eb;background:#fff;}",
    "input{flex:1;border:1px solid #d1d5db;border-radius:8px;padding:9px 10px;font-size:14px;}",
    "input:focus{outline:2px solid #93c5fd;border-color:#2563eb;}",
    "button.send{border:none;background:#2563eb;color:#fff;border-radius:8px;padding:0 14px;",
    "font-size:14px;cursor:pointer;}",
    "button.send:disabled{background:#93c5fd;cursor:default;}",
    ".head{display:flex;align-items:flex-start;justify-content:space-between;gap:8px;}",
    "button.cartbtn{border:1px solid rgba(255,255,255,.6);background:rgba(255,255,255,.15);",
    "color:#fff;border-radius:999px;padding:4px 10px;font-size:12px;cursor:pointer;",
    "white-space:nowrap;}",
    "button.cartbtn:focus-visible{outline:2px solid #fff;}",
    ".cartlist{display:none;border-bottom:1px solid #e5e7eb;background:#fff;padding:8px 12px;",
    "max-height:40%;overflow-y:auto;font-size:13px;}",
    ".cartlist.open{display:block;}",
    ".cline{display:flex;align-items:center;gap:6px;padding:4px 0;}",
    ".cline .cn{flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;}",
    ".cline .cq{color:#6b7280;white-space:nowrap;}",
    ".cline button,.card button.add{border:1px solid #2563eb;background:#fff;color:#2563eb;",
    "border-radius:6px;font-size:12px;padding:2px 8px;cursor:pointer;}",
    ".card button.add{margin-top:6px;background:#2563eb;color:#fff;}",
    ".card button.add:disabled{opacity:.6;cursor:default;}",
    ".ctotal{display:flex;justify-content:space-between;font-weight:700;padding-top:6px;",
    "border-top:1px solid #e5e7eb;margin-top:4px;}",
    ".cempty{color:#6b7280;}",
  ].join("");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = String(text);
    return node;
  }

  var host = el("div");
  host.id = "shopassist-widget";
  host.setAttribute("data-lang", lang);  // the language it shows (and sends, unless "auto")
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = CSS;
  var bubble = el("button", "bubble");
  // A speech-bubble icon built as SVG nodes: no emoji font needed, no markup parsing.
  var NS = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(NS, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", "26");
  icon.setAttribute("height", "26");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS(NS, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  icon.appendChild(path);
  bubble.appendChild(icon);
  bubble.setAttribute("aria-label", t("bubble"));
  bubble.setAttribute("data-testid", "widget-bubble");
  var panel = el("div", "panel");
  panel.setAttribute("lang", lang === "zh" ? "zh-CN" : lang);  // CJK fonts for Chinese
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  var head = el("div", "head");
  var heading = el("div");
  heading.appendChild(el("b", null, title));
  var who = el("span", "who", t("connecting"));
  who.setAttribute("data-testid", "widget-who");
  heading.appendChild(who);
  head.appendChild(heading);
  var cartBtn = el("button", "cartbtn", t("cart_zero"));
  cartBtn.type = "button";
  cartBtn.setAttribute("data-testid", "widget-cart");
  cartBtn.setAttribute("data-count", "0");
  cartBtn.setAttribute("aria-expanded", "false");
  head.appendChild(cartBtn);
  var cartList = el("div", "cartlist");
  cartList.setAttribute("data-testid", "widget-cart-lines");
  var log = el("div", "log");
  log.setAttribute("data-testid", "widget-log");
  log.setAttribute("aria-live", "polite");
  var form = el("form");
  var input = el("input");
  input.type = "text";
  input.maxLength = 2000;
  input.placeholder = t("placeholder");
  input.setAttribute("aria-label", t("message_aria"));
  input.setAttribute("data-testid", "widget-input");
  var send = el("button", "send", t("send"));
  send.type = "submit";
  send.setAttribute("data-testid", "widget-send");
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(cartList);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(style);
  root.appendChild(bubble);
  root.appendChild(panel);

  function headers(json) {
    var h = {};
    if (json) h["Content-Type"] = "application/json";
    if (token) h["Authorization"] = "Bearer " + token;
    return h;
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function addMessage(kind, text) {
    var m = el("div", "msg " + kind, text);
    log.appendChild(m);
    scrollDown();
    return m;
  }

  function money(x) {
    var n = Number(x);
    return isFinite(n) ? "$" + n.toFixed(2) : "";
  }

  // The cart -----------------------------------------------------------------------------
  function cartUrl(productId) {
    var url = api + "/api/cart" + (productId ? "/" + encodeURIComponent(productId) : "");
    return sessionId ? url + "?session_id=" + encodeURIComponent(sessionId) : url;
  }

  function showCart(cart) {
    if (!cart) return;
    if (cart.session_id && !sessionId) sessionId = cart.session_id;  // the chat goes on in it
    var count = Number(cart.count) || 0;
    cartBtn.textContent = count
      ? t("cart_badge", { count: count, total: money(cart.total) })
      : t("cart_zero");
    cartBtn.setAttribute("data-count", String(count));
    cartBtn.setAttribute("data-total", String(cart.total || 0));
    cartBtn.setAttribute("aria-label", t(count === 1 ? "cart_aria_one" : "cart_aria_many", { count: count }));
    cartList.textContent = "";
    var lines = cart.lines || [];
    if (!lines.length) {
      cartList.appendChild(el("div", "cempty", t("cart_empty")));
      return;
    }
    lines.forEach(function (ln) {
      var row = el("div", "cline");
      row.setAttribute("data-product-id", String(ln.product_id || ""));
      row.setAttribute("data-testid", "widget-cart-line");
      row.appendChild(el("span", "cn", ln.name));
      row.appendChild(el("span", "cq", ln.quantity + " \u00d7 " + money(ln.price)));
      var rm = el("button", null, t("remove"));
      rm.type = "button";
      rm.setAttribute("aria-label", t("remove_aria", { name: ln.name }));
      rm.addEventListener("click", function () { cartCall("DELETE", ln.product_id); });
      row.appendChild(rm);
      cartList.appendChild(row);
    });
    var total = el("div", "ctotal");
    total.appendChild(el("span", null, t("total")));
    total.appendChild(el("span", null, money(cart.total)));
    cartList.appendChild(total);
  }

  function refreshCart() {
    if (!token && !sessionId) {  // no cart yet: nothing to ask for
      showCart({ lines: [], count: 0, total: 0 });
      return Promise.resolve();
    }
    return fetch(cartUrl(), { headers: headers(false) })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(showCart)
      .catch(function () { /* the chat still works without the badge */ });
  }

  // POST adds one of `productId`; DELETE removes its line. Resolves true when it worked.
  function cartCall(method, productId) {
    var init = { method: method, headers: headers(method === "POST") };
    if (method === "POST") init.body = JSON.stringify({ product_id: productId, quantity: 1 });
    return fetch(cartUrl(method === "DELETE" ? productId : null), init)
      .then(function (resp) {
        return resp.json().catch(function () { return null; }).then(function (body) {
          if (!resp.ok) {
            addMessage("err", errorText(resp.status, body));
            return refreshCart().then(function () { return false; });
          }
          showCart(body);
          return true;
        });
      })
      .catch(function () {
        addMessage("err", t("cart_unreachable"));
        return false;
      });
  }

  cartBtn.addEventListener("click", function () {
    var open = cartList.classList.toggle("open");
    cartBtn.setAttribute("aria-expanded", String(open));
  });

  function addCards(products) {
    if (!products || !products.length) return;
    var box = el("div", "cards");
    products.slice(0, 6).forEach(function (p) {
      var card = el("div", "card");
      card.setAttribute("data-product-id", String(p.id || ""));
      card.setAttribute("data-testid", "widget-card");
      // The product's picture (imported stores): this browser loads it; only http(s) URLs.
      if (typeof p.image === "string" && /^https?:\/\//i.test(p.image)) {
        var img = document.createElement("img");
        img.className = "img";
        img.src = p.image;
        img.alt = p.name || "";
        img.loading = "lazy";
        img.referrerPolicy = "no-referrer";
        card.appendChild(img);
      }
      card.appendChild(el("div", "n", p.name));
      var meta = el("div", "m");
      meta.appendChild(el("span", "p", money(p.price)));
      meta.appendChild(document.createTextNode(" \u00b7 " + (p.sub_category || p.category || "")));
      card.appendChild(meta);
      if (p.reason) card.appendChild(el("div", "r", p.reason));
      var add = el("button", "add", t("add_to_cart"));
      add.type = "button";
      add.setAttribute("data-testid", "widget-add");
      add.setAttribute("aria-label", t("add_aria", { name: p.name || t("this_product") }));
      add.addEventListener("click", function () {
        add.disabled = true;
        cartCall("POST", String(p.id || "")).then(function (ok) {
          add.disabled = false;
          if (ok) add.textContent = t("added_again");
        });
      });
      card.appendChild(add);
      box.appendChild(card);
    });
    log.appendChild(box);
    scrollDown();
  }

  function loadIdentity() {
    fetch(api + "/api/me", { headers: headers(false) })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (me) {
        if (me && me.signed_in) who.textContent = t("signed_in_as", { name: me.name || me.user_id });
        else who.textContent = t("not_signed_in");
      })
      .catch(function () { who.textContent = t("offline"); });
  }

  function errorText(status, body) {
    var code = body && body.error ? body.error.code : null;
    if (lang !== "en") {  // the server's messages are English: say it in the widget's words
      if (code === "session_busy") return t("still_answering");
      if (status === 429 || status === 503) return t("busy");
      if (status === 413) return t("error_too_long");
      return t("error_status", { status: status });
    }
    if (body && body.error && body.error.message) return body.error.message;
    if (status === 429 || status === 503) return t("busy");
    return t("error_status", { status: status });
  }

  // Reads a text/event-stream body from fetch (EventSource can't POST or send headers).
  function readStream(resp, onEvent) {
    var reader = resp.body.getReader();
    var decoder = new TextDecoder();
    var buf = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buf += decoder.decode(chunk.value, { stream: true });
        var cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          var block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          var ev = "message", data = "";
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) ev = line.slice(6).trim();
            else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
          });
          try { onEvent(ev, JSON.parse(data)); } catch (e) { /* ignore a bad frame */ }
        }
        return pump();
      });
    }
    return pump();
  }

  function ask(text) {
    busy = true;
    send.disabled = true;
    addMessage("user", text);
    var bot = addMessage("bot", "\u2026");
    bot.setAttribute("data-testid", "widget-bot");
    var got = "";
    var body = { message: text, stream: true };
    if (sessionId) body.session_id = sessionId;
    if (chosen) body.lang = chosen;
    fetch(api + "/api/chat", { method: "POST", headers: headers(true), body: JSON.stringify(body) })
      .then(function (resp) {
        if (!resp.ok) {
          return resp.json().catch(function () { return null; }).then(function (b) {
            bot.className = "msg err";
            bot.textContent = errorText(resp.status, b);
          });
        }
        return readStream(resp, function (ev, data) {
          if (ev === "delta") {
            got += data.text || "";
            bot.textContent = got;
          } else if (ev === "reply") {
            sessionId = data.session_id || sessionId;
            bot.textContent = data.text || got;
            bot.setAttribute("data-intent", String(data.intent || ""));
            addCards(data.products);
            if (data.cart) showCart(data.cart);  // a cart command changed it
            refreshCart();  // and the store has the last word
          } else if (ev === "error") {
            bot.className = "msg err";
            bot.textContent = errorText(500, { error: data });
          }
          scrollDown();
        });
      })
      .catch(function () {
        bot.className = "msg err";
        bot.textContent = t("unreachable");
      })
      .then(function () {
        busy = false;
        send.disabled = false;
        input.focus();
      });
  }

  bubble.addEventListener("click", function () {
    var open = panel.classList.toggle("open");
    bubble.setAttribute("aria-expanded", String(open));
    if (open) {
      if (!log.childNodes.length) {
        addMessage("bot", t("greeting"));
        loadIdentity();
        refreshCart();
      }
      input.focus();
    }
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    ask(text);
  });

  function mount() { document.body.appendChild(host); }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
