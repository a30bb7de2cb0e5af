// Flutter web app: the buttons call Roost's JSON API with the session cookie and the
// page's CSRF token. No framework, no build step. Errors are shown in the page (next to
// the button, or in the flash line at the top), never as alerts; a button is disabled
// and marked busy while its request runs.
"use strict";

const csrf = document.querySelector('meta[name="roost-csrf"]').content;
const me = document.body.dataset.user;

function newKey() {
  // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, x => x.toString(16).padStart(2, "0")).join("");
}

async function api(method, path, body, extra) {
  const headers = {"X-Roost-CSRF": csrf, "Accept": "application/json", ...(extra || {})};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, {method, headers, credentials: "same-origin",
                           body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new Error("the server cannot be reached");
  }
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const d = data && data.detail;
    const msg = Array.isArray(d) ? d.map(x => x.msg).join("; ") : (d || r.statusText);
    throw new Error(r.status === 503 ? "the engine is loading; try again in a moment" : msg);
  }
  return data;
}

function flash(message, good) {
  const f = document.getElementById("flash");
  if (!f) return;
  f.textContent = message;
  f.classList.toggle("good", !!good);
  f.hidden = false;
}

function statusNear(el) {
  const card = el.closest(".flit, form, li, p");
  return card ? card.querySelector(".status") : null;
}

async function busy(button, work, label) {
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (label) button.textContent = label;
  try { return await work(); }
  finally {
    button.removeAttribute("aria-busy");
    if (label && button.textContent === label) button.textContent = before;
  }
}

async function like(button) {
  const id = button.dataset.id;
  const status = statusNear(button);
  try {
    await busy(button, () => api("POST", "/events",
      {events: [{user_id: me, item_id: id, kind: "like"}]}, {"Idempotency-Key": newKey()}));
    button.textContent = "♥ Liked";
    button.classList.add("liked");
    button.setAttribute("aria-pressed", "true");
    button.disabled = true;
    const list = document.getElementById("likes");
    if (list) {
      const title = button.closest(".flit").querySelector(".title a");
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = title.getAttribute("href");
      a.textContent = title.textContent;
      li.appendChild(a);
      list.prepend(li);
      const none = document.getElementById("no-likes");
      if (none) none.remove();
    }
  } catch (e) {
    button.disabled = false;
    if (status) { status.textContent = `Not liked: ${e.message}`; status.classList.add("error"); }
    else flash(`Not liked: ${e.message}`);
  }
}

async function follow(button) {
  const bird = button.dataset.bird;
  const name = button.dataset.name || bird;
  const on = button.getAttribute("aria-pressed") !== "true";
  try {
    await busy(button, () => on
      ? api("PUT", "/follows", {follower: me, followee: bird})
      : api("DELETE", `/follows/${encodeURIComponent(me)}/${encodeURIComponent(bird)}`));
    document.querySelectorAll(`button.follow[data-bird="${CSS.escape(bird)}"]`).forEach(b => {
      b.textContent = on ? "Following" : "Follow";
      b.setAttribute("aria-pressed", on ? "true" : "false");
      b.disabled = false;
    });
    flash(on ? `You follow ${name}: their new flits reach your timeline.` : `You no longer follow ${name}.`, true);
  } catch (e) {
    button.disabled = false;
    flash(`${on ? "Follow" : "Unfollow"} failed: ${e.message}`);
  }
}

async function post(form) {
  const status = document.getElementById("post-status");
  const button = form.querySelector("button[type=submit]");
  const f = new FormData(form);
  const id = `flit-${newKey().slice(0, 12)}`;
  const tags = String(f.get("tags") || "").split(",").map(t => t.trim()).filter(Boolean);
  status.classList.remove("error");
  status.textContent = "Posting…";
  try {
    await busy(button, () => api("POST", "/items", {id, title: f.get("title"),
      text: f.get("text") || null, tags, category: "flit", author: me}), "Posting…");
    button.disabled = false;
    status.innerHTML = "";
    const a = document.createElement("a");
    a.href = `/web/items/${encodeURIComponent(id)}`;
    a.textContent = `Posted “${f.get("title")}”`;
    a.id = "posted";
    status.appendChild(a);
    form.reset();
  } catch (e) {
    button.disabled = false;
    status.textContent = `Not posted: ${e.message}`;
    status.classList.add("error");
  }
}

async function pointAlias(form) {
  const f = new FormData(form);
  const status = document.getElementById("alias-status");
  const button = form.querySelector("button[type=submit]");
  status.classList.remove("error");
  status.textContent = "Moving the alias and reloading the engine (this takes a few seconds)…";
  try {
    await busy(button, () => api("PUT", `/aliases/${encodeURIComponent(f.get("name"))}`,
                                 {version: f.get("version")}), "Pointing…");
    location.reload();
  } catch (e) {
    button.disabled = false;
    status.textContent = `Not moved: ${e.message}`;
    status.classList.add("error");
  }
}

async function rollback(button) {
  const status = document.getElementById("rollback-status");
  status.textContent = `Rolling back ${button.dataset.alias} and reloading the engine…`;
  try {
    await busy(button, () => api("POST", `/aliases/${encodeURIComponent(button.dataset.alias)}/rollback`),
               "Rolling back…");
    location.reload();
  } catch (e) {
    button.disabled = false;
    status.textContent = `Not rolled back: ${e.message}`;
    status.classList.add("error");
  }
}

document.addEventListener("click", e => {
  const b = e.target.closest("button");
  if (b) {
    if (b.classList.contains("like") && b.dataset.id) like(b);
    else if (b.classList.contains("follow")) follow(b);
    else if (b.classList.contains("rollback")) rollback(b);
    return;
  }
  const dot = e.target.closest("#map circle[data-id]");
  if (dot) location.href = `/web/items/${encodeURIComponent(dot.dataset.id)}`;
});

document.addEventListener("submit", e => {
  if (e.target.id === "post") { e.preventDefault(); post(e.target); }
  if (e.target.id === "alias-form") { e.preventDefault(); pointAlias(e.target); }
  if (e.target.id === "map-form" || e.target.id === "diff-form") {
    const b = e.target.querySelector("button[type=submit]");
    if (b) { b.setAttribute("aria-busy", "true"); }
  }
});

const map = document.getElementById("map");
if (map) {
  const info = document.getElementById("info");
  const show = e => {
    const c = e.target.closest("circle");
    if (c) info.textContent = c.querySelector("title").textContent;
  };
  map.addEventListener("mouseover", show);
  map.addEventListener("focusin", show);
}

const progress = document.getElementById("map-progress");
if (progress) {
  const tick = async () => {
    try {
      const r = await fetch(progress.dataset.status, {credentials: "same-origin"});
      const s = await r.json();
      if (!r.ok) throw new Error(s.detail || r.statusText);
      if (s.done) { location.reload(); return; }
      progress.querySelector(".stage").textContent = s.stage;
      progress.querySelector(".seconds").textContent = s.seconds;
    } catch (e) {
      progress.textContent = `Lost track of the map: ${e.message}. Reload the page to try again.`;
      return;
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
}
