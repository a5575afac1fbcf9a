// sessions serve: live updates over Server-Sent Events, actions over fetch. No framework, no
// build step; compiled into the binary. Fragments come from the server already escaped.
"use strict";
(function () {
  const page = document.body.dataset.page;
  const id = document.body.dataset.id;
  const main = document.getElementById("main");
  const flash = document.getElementById("flash");
  const live = document.getElementById("live");

  function fragmentUrl() {
    if (page === "board") return "/fragment/board";
    if (page === "session") return "/fragment/s/" + encodeURIComponent(id);
    if (page === "agent") return "/fragment/a/" + encodeURIComponent(id);
    return null;
  }
  function target() {
    return page === "agent" ? document.getElementById("live-part") : main;
  }

  // Coalesces the events of one batch (they arrive together) into one fetch.
  let pending = null;
  let cards = new Set();
  let whole = false;
  function schedule() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      const one = cards;
      cards = new Set();
      if (whole || page !== "board") {
        whole = false;
        const url = fragmentUrl();
        if (url) swap(url, function (html) { target().innerHTML = html; });
        return;
      }
      one.forEach(function (sid) {
        swap("/fragment/card/" + encodeURIComponent(sid), function (html) {
          const old = document.querySelector('article[data-session="' + CSS.escape(sid) + '"]');
          if (old) old.outerHTML = html;
        });
      });
    }, 0);
  }
  function swap(url, put) {
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        put(html);
        document.body.dataset.refreshed = String(Date.now());
      })
      .catch(function () {});
  }
  function refresh() { whole = true; schedule(); }

  // On the board, a change inside one session (not its column) redraws only its card.
  function onBoard(ev) {
    const sid = ev.session;
    const known = sid && document.querySelector('article[data-session="' + CSS.escape(sid) + '"]');
    const moves = ev.event !== "session-updated" ||
      (ev.event === "session-updated" && ev.changes && ev.changes.status);
    if (known && !moves) { cards.add(sid); schedule(); } else { refresh(); }
  }

  function concerns(ev) {
    if (page === "session") return ev.session === id;
    if (page === "agent") return ev.run_id === id || ev.session !== undefined;
    return false;
  }

  const es = new EventSource("/events");
  es.addEventListener("open", function () { live.classList.add("on"); });
  es.addEventListener("error", function () { live.classList.remove("on"); });
  es.addEventListener("live", function (m) {
    let ev = {};
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    if (page === "board") onBoard(ev);
    else if (concerns(ev)) refresh();
  });
  es.addEventListener("tick", refresh);

  // Actions: the same forms work without script; with it, the answer shows in place.
  document.addEventListener("submit", function (e) {
    const form = e.target;
    if (!form.classList || !form.classList.contains("act")) return;
    e.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    flash.className = "";
    flash.textContent = "running…";
    fetch(form.action, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json().catch(function () { return { ok: false, stderr: "HTTP " + r.status }; }); })
      .then(function (o) {
        flash.className = o.ok ? "ok" : "err";
        const out = (o.command ? "$ " + o.command + "\n" : "") + (o.stdout || "") + (o.stderr || "");
        flash.textContent = out.trim() || (o.ok ? "done" : "failed");
        refresh();
      })
      .catch(function (err) { flash.className = "err"; flash.textContent = String(err); });
  });

  document.addEventListener("click", function (e) {
    const b = e.target.closest && e.target.closest("[data-copy]");
    if (!b) return;
    const el = document.getElementById(b.dataset.copy);
    if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent);
  });

  if (page !== "agent") return;
  // The agent's log: every line so far, then new ones as they arrive; the search box hides
  // lines that do not match and marks what does.
  const log = document.getElementById("log");
  const search = document.getElementById("search");
  const matches = document.getElementById("matches");
  function show(line) {
    const q = search.value;
    const text = line.dataset.text;
    if (!q) { line.textContent = text; line.classList.remove("hide"); return false; }
    const i = text.toLowerCase().indexOf(q.toLowerCase());
    if (i < 0) { line.classList.add("hide"); return false; }
    line.classList.remove("hide");
    line.textContent = "";
    line.append(text.slice(0, i));
    const m = document.createElement("mark");
    m.textContent = text.slice(i, i + q.length);
    line.append(m, text.slice(i + q.length));
    return true;
  }
  function filter() {
    let n = 0;
    for (const l of log.children) if (show(l)) n++;
    matches.textContent = search.value ? n + " matching line(s)" : "";
  }
  search.addEventListener("input", filter);
  const logs = new EventSource("/a/" + encodeURIComponent(id) + "/stream");
  followPane();
  logs.addEventListener("lines", function (m) {
    let lines = [];
    try { lines = JSON.parse(m.data); } catch (e) { return; }
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    for (const text of lines) {
      const div = document.createElement("div");
      div.dataset.text = text;
      show(div);
      log.append(div);
    }
    if (search.value) filter();
    log.dataset.lines = String(log.children.length);
    if (stick) log.scrollTop = log.scrollHeight;
  });
  // A tmux run's pane: its text as the server last saw it, in runs of styled text (put in
  // with textContent, never as HTML). Typing is off until the person ticks the box, for this page only: the server
  // knows this view by the id its stream sent first, and a reload is a new view with
  // typing off.
  function followPane() {
    const pane = document.getElementById("pane");
    if (!pane) return;
    const state = document.getElementById("pane-state");
    const toggle = document.getElementById("typing");
    const keys = document.getElementById("keys");
    const line = document.getElementById("keys-text");
    const base = "/a/" + encodeURIComponent(id) + "/pane/";
    let viewer = null;
    function typingOff(why) {
      if (toggle) { toggle.checked = false; toggle.disabled = !viewer; }
      if (keys) keys.hidden = true;
      pane.classList.remove("typing");
      state.classList.remove("typing");
      state.textContent = why;
    }
    function post(what, fields) {
      const body = new URLSearchParams(fields);
      body.set("viewer", viewer || "");
      return fetch(base + what, { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.json().catch(function () { return { ok: false, stderr: "HTTP " + r.status }; }); });
    }
    function failed(o) {
      flash.className = "err";
      flash.textContent = o.stderr || "failed";
    }
    typingOff("connecting…");
    const es = new EventSource(base + "stream");
    es.addEventListener("viewer", function (m) { viewer = m.data; typingOff("live · typing off"); });
    es.addEventListener("pane", function (m) {
      let runs = [];
      try { runs = JSON.parse(m.data); } catch (e) { return; }
      const stick = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 4;
      // Each run's class names are the server's own (f0–f15, g0–g15, b, d, i, u).
      const frag = document.createDocumentFragment();
      for (const run of runs) {
        if (!run[1]) { frag.append(run[0]); continue; }
        const span = document.createElement("span");
        span.className = run[1];
        span.textContent = run[0];
        frag.append(span);
      }
      pane.replaceChildren(frag);
      pane.dataset.updated = String(Date.now());
      if (stick) pane.scrollTop = pane.scrollHeight;
    });
    es.addEventListener("gone", function (m) { es.close(); viewer = null; typingOff(m.data); });
    es.addEventListener("error", function () {
      // The browser reconnects by itself; the new stream is a new view, with typing off.
      viewer = null;
      typingOff("reconnecting…");
    });
    if (!toggle) return;
    toggle.checked = false;
    toggle.addEventListener("change", function () {
      const on = toggle.checked;
      post("typing", { on: on ? "1" : "0" }).then(function (o) {
        if (!o.ok) { typingOff("typing off"); failed(o); return; }
        keys.hidden = !o.typing;
        pane.classList.toggle("typing", o.typing);
        state.classList.toggle("typing", o.typing);
        state.textContent = o.typing ? "live · typing ON: keys go to the agent" : "live · typing off";
        if (o.typing) line.focus();
      }).catch(function (err) { typingOff("typing off"); failed({ stderr: String(err) }); });
    });
    function send(fields) {
      return post("keys", fields).then(function (o) { if (!o.ok) failed(o); return o; })
        .catch(function (err) { failed({ stderr: String(err) }); });
    }
    keys.addEventListener("submit", function (e) {
      e.preventDefault();
      const text = line.value;
      line.value = "";
      send({ text: text, key: "enter" });
    });
    keys.addEventListener("click", function (e) {
      const b = e.target.closest && e.target.closest("[data-key]");
      if (!b) return;
      send({ key: b.dataset.key });
      line.focus();
    });
  }
})();
