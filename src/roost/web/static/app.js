// Flutter web app: the buttons call Roost's JSON API with the session cookie and the
// page's CSRF token. No framework, no build step.
"use strict";

const csrf = document.querySelector('meta[name="roost-csrf"]').content;
const me = document.body.dataset.user;

function newKey() {
  // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, x => x.toString(16).padStart(2, "0")).join("");
}

async function api(method, path, body, extra) {
  const headers = {"X-Roost-CSRF": csrf, ...(extra || {})};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {method, headers, credentials: "same-origin",
                               body: body === undefined ? undefined : JSON.stringify(body)});
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const d = data && data.detail;
    const msg = Array.isArray(d) ? d.map(x => x.msg).join("; ") : (d || r.statusText);
    throw new Error(`${r.status}: ${msg}`);
  }
  return data;
}

async function like(button) {
  const id = button.dataset.id;
  button.disabled = true;
  try {
    await api("POST", "/events", {events: [{user_id: me, item_id: id, kind: "like"}]},
              {"Idempotency-Key": newKey()});
    button.textContent = "♥ Liked";
    button.classList.add("liked");
    const list = document.getElementById("likes");
    if (list) {
      const title = button.closest(".flit").querySelector("h3 a");
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
    button.title = e.message;
    alert(`Like failed: ${e.message}`);
  }
}

async function follow(button) {
  button.disabled = true;
  try {
    await api("PUT", "/follows", {follower: me, followee: button.dataset.bird});
    document.querySelectorAll(`button.follow[data-bird="${CSS.escape(button.dataset.bird)}"]`)
      .forEach(b => { b.textContent = "Following"; b.disabled = true; });
  } catch (e) {
    button.disabled = false;
    alert(`Follow failed: ${e.message}`);
  }
}

async function post(form) {
  const status = document.getElementById("post-status");
  const f = new FormData(form);
  const id = `flit-${newKey().slice(0, 12)}`;
  const tags = String(f.get("tags") || "").split(",").map(t => t.trim()).filter(Boolean);
  status.textContent = "posting…";
  try {
    await api("POST", "/items", {id, title: f.get("title"), text: f.get("text") || null,
                                 tags, category: "flit", author: me});
    status.innerHTML = "";
    const a = document.createElement("a");
    a.href = `/web/items/${encodeURIComponent(id)}`;
    a.textContent = `Posted “${f.get("title")}”`;
    a.id = "posted";
    status.appendChild(a);
    form.reset();
  } catch (e) {
    status.textContent = `Not posted: ${e.message}`;
  }
}

async function pointAlias(form) {
  const f = new FormData(form);
  const status = document.getElementById("alias-status");
  try {
    await api("PUT", `/aliases/${encodeURIComponent(f.get("name"))}`, {version: f.get("version")});
    location.reload();
  } catch (e) { status.textContent = e.message; }
}

async function rollback(button) {
  try {
    await api("POST", `/aliases/${encodeURIComponent(button.dataset.alias)}/rollback`);
    location.reload();
  } catch (e) { alert(`Rollback failed: ${e.message}`); }
}

document.addEventListener("click", e => {
  const b = e.target.closest("button");
  if (!b) return;
  if (b.classList.contains("like") && b.dataset.id) like(b);
  else if (b.classList.contains("follow")) follow(b);
  else if (b.classList.contains("rollback")) rollback(b);
});

document.addEventListener("submit", e => {
  if (e.target.id === "post") { e.preventDefault(); post(e.target); }
  if (e.target.id === "alias-form") { e.preventDefault(); pointAlias(e.target); }
});

const map = document.getElementById("map");
if (map) {
  const info = document.getElementById("info");
  map.addEventListener("mouseover", e => {
    const c = e.target.closest("circle");
    if (c) info.textContent = c.querySelector("title").textContent;
  });
}
