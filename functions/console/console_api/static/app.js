// The Strongroom console: one ES module, no framework, no build step. Every element is built with
// the DOM (text through textContent, never innerHTML), so nothing the API returns becomes markup.
// It calls the API of its own origin with the session cookie; every mutation carries
// `X-Requested-With: strongroom` (the API refuses a cookie mutation without it: 403 csrf).

const CSRF = { "X-Requested-With": "strongroom" };
const main = document.getElementById("main");
const account = document.getElementById("account");
const crumbs = document.getElementById("crumbs");
let me = null; // the signed-in user ({id, email, …}) or null

// --------------------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || "";
    this.body = body;
  }
}

// Bumped by every route: a page's read that answers after the reader navigated away never
// settles, so the page it belonged to stops there and cannot draw over the page now shown.
let navigation = 0;

async function api(method, path, { body, headers = {} } = {}) {
  const started = navigation;
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (method !== "GET") Object.assign(init.headers, CSRF);
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const json = (response.headers.get("content-type") || "").includes("json") && text ? JSON.parse(text) : text;
  if (method === "GET" && started !== navigation) return new Promise(() => {});
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

const enc = encodeURIComponent;
const orgPath = (org) => `/v1/orgs/${enc(org)}`;
const projectPath = (org, project) => `${orgPath(org)}/projects/${enc(project)}`;
const envPath = (org, project, env) => `${projectPath(org, project)}/environments/${enc(env)}`;

// --------------------------------------------------------------------------- the DOM

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let fieldCount = 0;

// A labelled field: the label names the control (the tests and screen readers find it so).
function field(label, attrs = {}, kind = "input") {
  const id = `f${++fieldCount}`;
  const control = h(kind, { id, name: attrs.name || id, ...attrs });
  return { label: h("label", { for: id }, label, control), control };
}

function select(label, options, attrs = {}) {
  const f = field(label, attrs, "select");
  for (const [value, text] of options) f.control.append(h("option", { value }, text));
  return f;
}

const alertBox = () => h("p", { role: "alert" });
const statusBox = () => h("p", { role: "status" });

// The API's message; for a request it found invalid, also which fields and why (never the input).
function showError(box, err) {
  if (!(err instanceof ApiError)) {
    box.textContent = "Something went wrong; try again.";
    return;
  }
  const details = (err.body && err.body.error && err.body.error.details) || {};
  const fields = err.code === "validation_error" && Array.isArray(details.fields) ? details.fields.filter((f) => f.field) : [];
  box.textContent = fields.length ? `${err.message}: ${fields.map((f) => `${f.field} ${f.issue}`).join("; ")}` : err.message;
}

// Runs an action of a form: its errors go to `box` (role="alert"); the submit button is busy meanwhile.
function onSubmit(form, box, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    box.textContent = "";
    const button = form.querySelector("button[type=submit]");
    if (button) button.setAttribute("aria-busy", "true");
    try {
      await action();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return signIn();
      showError(box, err);
    } finally {
      if (button) button.removeAttribute("aria-busy");
    }
  });
}

function button(text, onclick, attrs = {}) {
  return h("button", { type: "button", ...attrs, onclick }, text);
}

// The handler of a button: its errors go to `box` (role="alert"), a 401 shows the sign-in.
function act(box, action) {
  return async () => {
    box.textContent = "";
    try {
      await action();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return signIn();
      showError(box, err);
    }
  };
}

// A GET whose 404 means "none yet" (a configuration not made): null instead of an error.
async function optional(path) {
  try {
    return await api("GET", path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

const commaList = (text) => text.split(",").map((item) => item.trim()).filter(Boolean);

function table(headers, rows, caption) {
  return h(
    "div",
    { class: "overflow-auto" },
    h(
      "table",
      {},
      caption ? h("caption", { class: "muted" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows),
    ),
  );
}

function when(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  return h("time", { datetime: iso, title: iso }, at.toLocaleString());
}

function render(title, ...children) {
  document.title = title ? `${title} · Strongroom` : "Strongroom";
  main.replaceChildren(...children.flat().filter(Boolean));
  main.focus({ preventScroll: true });
}

function setCrumbs(items) {
  if (!items.length) return crumbs.replaceChildren();
  crumbs.replaceChildren(
    h(
      "ul",
      {},
      items.map(([text, href], i) =>
        h("li", {}, i === items.length - 1 ? h("span", { "aria-current": "page" }, text) : h("a", { href }, text)),
      ),
    ),
  );
}

function setAccount() {
  if (!me) return account.replaceChildren();
  account.replaceChildren(
    h("li", { class: "muted" }, me.email),
    h("li", {}, h("a", { href: "#/account" }, "Account security")),
    h("li", {}, button("Sign out", signOut, { class: "secondary outline" })),
  );
}

// --------------------------------------------------------------------------- sign-in

async function signOut() {
  try {
    await api("POST", "/v1/auth/logout");
  } catch {
    // signed out already
  }
  me = null;
  location.hash = "#/";
  signIn();
}

async function loadMe() {
  try {
    me = await api("GET", "/v1/me");
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    me = null;
  }
  setAccount();
  return me;
}

// The sign-in page: email and password, then the TOTP code when the account asks for one; single
// sign-on for the email's domain when its org set it up. Afterwards the page it interrupted.
function signIn() {
  me = null;
  setAccount();
  setCrumbs([]);
  const box = alertBox();
  const email = field("Email", { type: "email", autocomplete: "username", required: true });
  const password = field("Password", { type: "password", autocomplete: "current-password" });
  const totp = field("Authentication code", { inputmode: "numeric", autocomplete: "one-time-code" });
  totp.label.hidden = true;
  const form = h(
    "form",
    { "aria-label": "Sign in" },
    email.label,
    password.label,
    totp.label,
    box,
    h("button", { type: "submit" }, "Sign in"),
  );
  onSubmit(form, box, async () => {
    const body = { email: email.control.value, password: password.control.value };
    if (!totp.label.hidden && totp.control.value) body.totp_code = totp.control.value;
    try {
      await api("POST", "/v1/auth/login", { body });
    } catch (err) {
      if (err instanceof ApiError && err.code === "totp_required") {
        totp.label.hidden = false;
        totp.control.focus();
        box.textContent = "Enter the code of your authenticator app (or a recovery code).";
        return;
      }
      if (err instanceof ApiError && err.status === 401) {
        box.textContent = err.code === "invalid_credentials" ? "Wrong email or password." : err.message;
        return;
      }
      throw err;
    }
    await loadMe();
    route();
  });
  const ssoBox = alertBox();
  const sso = button(
    "Use single sign-on",
    async () => {
      ssoBox.textContent = "";
      const domain = email.control.value.split("@")[1] || "";
      if (!domain) {
        ssoBox.textContent = "Enter your email first.";
        return;
      }
      try {
        const found = await api("GET", `/v1/sso/by-domain?domain=${enc(domain)}`);
        const back = location.pathname + location.search;
        location.assign(`/v1/sso/oidc/authorize?org=${enc(found.org_id)}&return_to=${enc(back)}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) ssoBox.textContent = `No single sign-on for ${domain}.`;
        else showError(ssoBox, err);
      }
    },
    { class: "secondary outline" },
  );
  const other = h("p", {}, "No account yet? ", button("Create an account", register, { class: "secondary outline" }));
  render("Sign in", h("article", {}, h("h1", {}, "Sign in to Strongroom"), form, h("hr"), sso, ssoBox, other));
  email.control.focus();
}

// Registration (a password account), then signed in; the page it interrupted afterwards.
function register() {
  const box = alertBox();
  const email = field("Email", { type: "email", autocomplete: "username", required: true });
  const password = field("Password", { type: "password", autocomplete: "new-password", required: true, minlength: 12, "aria-describedby": "password-help" });
  const form = h(
    "form",
    { "aria-label": "Create an account" },
    email.label,
    password.label,
    h("small", { id: "password-help", class: "muted" }, "At least 12 characters, hard to guess, not your email."),
    box,
    h("button", { type: "submit" }, "Create account"),
  );
  onSubmit(form, box, async () => {
    const body = { email: email.control.value, password: password.control.value };
    await api("POST", "/v1/auth/register", { body });
    try {
      await api("POST", "/v1/auth/login", { body });
    } catch (err) {
      // the same answer for a taken email (no enumeration): its own password signs it in
      if (err instanceof ApiError && err.status === 401) {
        box.textContent = "Could not sign in with this email and password.";
        return;
      }
      throw err;
    }
    await loadMe();
    route();
  });
  render(
    "Create an account",
    h("article", {}, h("h1", {}, "Create a Strongroom account"), form, h("p", {}, "Have an account? ", button("Sign in instead", signIn, { class: "secondary outline" }))),
  );
  email.control.focus();
}

// --------------------------------------------------------------------------- orgs, projects, environments

async function orgsPage() {
  setCrumbs([["Organizations", "#/"]]);
  const orgs = await api("GET", "/v1/orgs?limit=500");
  const box = alertBox();
  const name = field("Organization name", { required: true, maxlength: 100 });
  const form = h("form", { "aria-label": "New organization" }, name.label, box, h("button", { type: "submit" }, "Create organization"));
  onSubmit(form, box, async () => {
    const org = await api("POST", "/v1/orgs", { body: { name: name.control.value } });
    location.hash = `#/orgs/${enc(org.slug)}`;
  });
  render(
    "Organizations",
    h("h1", {}, "Organizations"),
    orgs.data.length
      ? h("ul", {}, orgs.data.map((o) => h("li", {}, h("a", { href: `#/orgs/${enc(o.slug)}` }, o.name), " ", h("small", { class: "muted" }, o.role))))
      : h("p", {}, "You belong to no organization yet."),
    h("details", {}, h("summary", {}, "New organization"), form),
  );
}

function orgNav(org, current, can) {
  const pages = [
    ["Projects", `#/orgs/${enc(org.slug)}`],
    ["Members", `#/orgs/${enc(org.slug)}/members`],
    ["Roles", `#/orgs/${enc(org.slug)}/roles`],
    can("shared_secrets.read") ? ["Shared secrets", `#/orgs/${enc(org.slug)}/shared-secrets`] : null,
    ["Service tokens", `#/orgs/${enc(org.slug)}/tokens`],
    ["Webhooks", `#/orgs/${enc(org.slug)}/webhooks`],
    can("integrations.manage") ? ["Integrations", `#/orgs/${enc(org.slug)}/integrations`] : null,
    ["Governance", `#/orgs/${enc(org.slug)}/governance`],
    can("sso.manage") || can("scim.manage") ? ["Single sign-on", `#/orgs/${enc(org.slug)}/sso`] : null,
    ["Audit log", `#/orgs/${enc(org.slug)}/audit`],
  ].filter(Boolean);
  return h(
    "nav",
    { "aria-label": "Organization" },
    h("ul", {}, pages.map(([text, href]) => h("li", {}, h("a", { href, "aria-current": text === current ? "page" : false }, text)))),
  );
}

// An org page's heading and navigation, and `can(permission)`: what the signed-in user holds in
// the org (GET /v1/me/permissions), so that pages hide what the API would refuse.
async function orgHeader(slug, current) {
  const [org, mine] = await Promise.all([api("GET", orgPath(slug)), api("GET", `/v1/me/permissions?org=${enc(slug)}`)]);
  const can = (permission) => Object.hasOwn(mine.permissions, permission);
  const trail = [["Organizations", "#/"], [org.name, `#/orgs/${enc(org.slug)}`]];
  if (current !== "Projects") trail.push([current, location.hash]);
  setCrumbs(trail);
  return { org, can, role: mine.role, header: [h("h1", {}, org.name), orgNav(org, current, can)] };
}

async function orgPage(slug) {
  const { org, header } = await orgHeader(slug, "Projects");
  const projects = await api("GET", `${orgPath(slug)}/projects?limit=500`);
  const box = alertBox();
  const name = field("Project name", { required: true, maxlength: 100 });
  const form = h("form", { "aria-label": "New project" }, name.label, box, h("button", { type: "submit" }, "Create project"));
  onSubmit(form, box, async () => {
    const project = await api("POST", `${orgPath(slug)}/projects`, { body: { name: name.control.value } });
    location.hash = `#/orgs/${enc(org.slug)}/projects/${enc(project.slug)}`;
  });
  render(
    org.name,
    header,
    h("h2", {}, "Projects"),
    projects.data.length
      ? h(
          "ul",
          {},
          projects.data.map((p) =>
            h("li", {}, h("a", { href: `#/orgs/${enc(org.slug)}/projects/${enc(p.slug)}` }, p.name), p.description ? ` — ${p.description}` : ""),
          ),
        )
      : h("p", {}, "No project yet."),
    h("details", {}, h("summary", {}, "New project"), form),
  );
}

async function projectPage(orgSlug, projectSlug) {
  const [org, project] = await Promise.all([api("GET", orgPath(orgSlug)), api("GET", projectPath(orgSlug, projectSlug))]);
  const base = `#/orgs/${enc(org.slug)}/projects/${enc(project.slug)}`;
  setCrumbs([["Organizations", "#/"], [org.name, `#/orgs/${enc(org.slug)}`], [project.name, base]]);
  const envs = (await api("GET", `${projectPath(orgSlug, projectSlug)}/environments?limit=500`)).data;
  const options = envs.map((e) => [e.slug, e.name]);
  const from = select("From", options);
  const to = select("To", options);
  if (envs.length > 1) to.control.value = envs[envs.length - 1].slug;
  const box = alertBox();
  const result = h("div", {});
  const done = statusBox();
  const promote = async (dryRun) => {
    const body = { from: from.control.value, to: to.control.value, dry_run: dryRun };
    const answer = await api("POST", `${projectPath(orgSlug, projectSlug)}/promote`, { body });
    if (answer.change_request) {
      done.textContent = `A change request was opened (${answer.change_request.id}): it applies once approved.`;
      return;
    }
    const changes = answer.changes || [];
    const changed = changes.filter((c) => c.action !== "unchanged");
    result.replaceChildren(
      table(
        ["Key", dryRun ? "Would" : "Done"],
        changes.map((c) => h("tr", {}, h("td", {}, h("code", {}, c.key)), h("td", {}, c.action))),
        `${from.control.value} → ${to.control.value}${dryRun ? " (dry run: nothing written)" : ""}`,
      ),
      dryRun && changed.length
        ? button(`Promote ${changed.length} change${changed.length === 1 ? "" : "s"}`, () => promote(false).catch((err) => showError(box, err)))
        : null,
    );
    done.textContent = dryRun ? (changed.length ? "" : "Nothing to promote.") : `Promoted ${changed.length} change(s).`;
  };
  const form = h("form", { "aria-label": "Compare environments" }, h("div", { class: "grid" }, from.label, to.label), box, h("button", { type: "submit" }, "Compare"));
  onSubmit(form, box, () => promote(true));
  render(
    project.name,
    h("h1", {}, project.name),
    project.description ? h("p", {}, project.description) : null,
    h("h2", {}, "Environments"),
    h(
      "ul",
      {},
      envs.map((e) =>
        h("li", {}, h("a", { href: `${base}/environments/${enc(e.slug)}` }, e.name), e.production ? h("small", { class: "muted" }, " production") : null),
      ),
    ),
    h("h2", {}, "Diff and promote"),
    form,
    done,
    result,
  );
}

// --------------------------------------------------------------------------- secrets

// A folder path's parent and its segments' paths ("/a/b" → "/a", ["/a", "/a/b"]).
const folderName = (path) => path.slice(path.lastIndexOf("/") + 1);
const folderJoin = (parent, name) => (parent === "/" ? `/${name}` : `${parent}/${name}`);
// A secret route at a folder; the root is the route without ?path= (its behaviour before folders).
const withPath = (url, folder) => (folder === "/" ? url : `${url}${url.includes("?") ? "&" : "?"}path=${enc(folder)}`);
const folderTrail = (path) => (path === "/" ? [] : path.split("/").slice(1).map((_, i, parts) => `/${parts.slice(0, i + 1).join("/")}`));

async function environmentPage(orgSlug, projectSlug, envSlug, params = new URLSearchParams()) {
  const folder = params.get("path") || "/";
  const atPath = `path=${enc(folder)}`;
  const inFolder = (url) => withPath(url, folder);
  const [org, project, env] = await Promise.all([
    api("GET", orgPath(orgSlug)),
    api("GET", projectPath(orgSlug, projectSlug)),
    api("GET", envPath(orgSlug, projectSlug, envSlug)),
  ]);
  const base = `#/orgs/${enc(org.slug)}/projects/${enc(project.slug)}`;
  const here = `${base}/environments/${enc(env.slug)}`;
  setCrumbs([["Organizations", "#/"], [org.name, `#/orgs/${enc(org.slug)}`], [project.name, base], [env.name, here]]);
  const path = envPath(orgSlug, projectSlug, envSlug);
  const box = alertBox();
  const done = statusBox();
  const rows = h("tbody", {});
  const folders = h("div", {});
  const client = env.encryption === "client";
  const folderHref = (p) => (p === "/" ? here : `${here}?path=${enc(p)}`);
  let known = new Set();

  async function load() {
    // Keys and versions only: a value reaches the page when its Reveal is pressed.
    const [list, sub] = await Promise.all([
      api("GET", inFolder(`${path}/secrets?values=false&limit=500`)),
      client ? { data: [] } : api("GET", inFolder(`${path}/folders?limit=500`)),
    ]);
    known = new Set(list.data.filter((secret) => !secret.inherited).map((secret) => secret.key));
    rows.replaceChildren(...list.data.map(row));
    if (!list.data.length) rows.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No secret yet.")));
    folders.replaceChildren(
      sub.data.length
        ? h("ul", { "aria-label": "Folders" }, sub.data.map(folderItem))
        : client
          ? null
          : h("p", { class: "muted" }, "No folder here."),
    );
  }

  function folderItem(f) {
    const name = folderName(f.path);
    const remove = button(
      "Delete folder",
      act(box, async () => {
        if (!confirm(`Delete the folder ${f.path}?`)) return;
        await api("DELETE", `${path}/folders/${enc(f.id)}`);
        done.textContent = `Folder ${f.path} deleted.`;
        await load();
      }),
      { class: "secondary outline", "aria-label": `Delete folder ${name}` },
    );
    // A rename or a move under another folder, with its subfolders and secrets, as one change.
    const move = button(
      "Move",
      act(box, async () => {
        const to = prompt(`New path of ${f.path} (a rename, or a move under another folder)`, f.path);
        if (to === null || to === f.path) return;
        const moved = await api("PATCH", `${path}/folders/${enc(f.id)}`, { body: { path: to } });
        done.textContent = `Folder ${f.path} moved to ${moved.path}.`;
        await load();
      }),
      { class: "secondary outline", "aria-label": `Move folder ${name}` },
    );
    return h(
      "li",
      {},
      h("a", { href: folderHref(f.path), "aria-label": `Folder ${name}` }, `${name}/`),
      " ",
      h("small", { class: "muted" }, `${f.secrets} secret${f.secrets === 1 ? "" : "s"}${f.inherited ? ` · from ${f.source}` : ""}`),
      " ",
      f.inherited ? null : h("span", { class: "actions" }, move, remove),
    );
  }

  async function value(key) {
    return (await api("GET", inFolder(`${path}/secrets/${enc(key)}`))).value;
  }

  function row(secret) {
    const cell = h("td", {}, h("span", { class: "hidden-value" }, "•••••••• hidden"));
    const tr = h("tr", { "data-key": secret.key });
    const reveal = button(
      "Reveal",
      async () => {
        if (reveal.textContent === "Hide") {
          cell.replaceChildren(h("span", { class: "hidden-value" }, "•••••••• hidden"));
          reveal.textContent = "Reveal";
          reveal.setAttribute("aria-label", `Reveal ${secret.key}`);
          return;
        }
        try {
          cell.replaceChildren(h("span", { class: "secret-value" }, await value(secret.key)));
          reveal.textContent = "Hide";
          reveal.setAttribute("aria-label", `Hide ${secret.key}`);
        } catch (err) {
          showError(box, err);
        }
      },
      { class: "secondary", "aria-label": `Reveal ${secret.key}` },
    );
    const copy = button(
      "Copy",
      async () => {
        try {
          await navigator.clipboard.writeText(await value(secret.key));
          done.textContent = `${secret.key} copied to the clipboard.`;
        } catch (err) {
          if (err instanceof ApiError) showError(box, err);
          else box.textContent = "The browser did not allow copying.";
        }
      },
      { class: "secondary outline", "aria-label": `Copy ${secret.key}` },
    );
    const edit = button("Edit", () => editRow(tr, secret), { class: "secondary outline", "aria-label": `Edit ${secret.key}` });
    const remove = button(
      "Delete",
      async () => {
        if (!confirm(`Delete ${secret.key}?`)) return;
        try {
          const answer = await api("DELETE", inFolder(`${path}/secrets/${enc(secret.key)}`), { headers: { "If-Match": String(secret.version) } });
          done.textContent = answer && answer.change_request ? `A change request was opened for ${secret.key}.` : `${secret.key} deleted.`;
          await load();
        } catch (err) {
          showError(box, err);
        }
      },
      { class: "secondary outline", "aria-label": `Delete ${secret.key}` },
    );
    tr.append(
      h("th", { scope: "row" }, h("code", {}, secret.key), secret.inherited ? h("small", { class: "muted" }, ` from ${secret.source}`) : null),
      cell,
      h("td", {}, h("a", { href: `${here}/secrets/${enc(secret.key)}${folder === "/" ? "" : `?${atPath}`}`, "aria-label": `History of ${secret.key}` }, `v${secret.version}`), " ", h("small", {}, when(secret.updated_at))),
      h("td", {}, h("div", { class: "actions" }, client ? [] : [reveal, copy, edit], remove)),
    );
    return tr;
  }

  function editRow(tr, secret) {
    editValueRow(tr, secret, {
      current: value,
      save: (v, ifMatch) => api("PUT", inFolder(`${path}/secrets/${enc(secret.key)}`), { body: { value: v }, headers: { "If-Match": ifMatch } }),
      saved: (answer) => {
        done.textContent = answer.change_request ? `A change request was opened for ${secret.key}.` : `${secret.key} saved (version ${answer.version}).`;
      },
      reload: () => load(),
      box,
      colspan: 4,
    });
  }

  const addBox = alertBox();
  const key = field("Key", { required: true, pattern: "[A-Za-z_][A-Za-z0-9_.\\-]{0,254}", autocomplete: "off", spellcheck: "false" });
  const val = field("Value", { rows: 3, required: true, spellcheck: "false" }, "textarea");
  const add = h("form", { "aria-label": "Add secret" }, key.label, val.label, addBox, h("button", { type: "submit" }, "Add secret"));
  onSubmit(add, addBox, async () => {
    const name = key.control.value;
    // PUT without If-Match overwrites: a key this page lists is refused here (edit it instead).
    if (known.has(name)) {
      addBox.textContent = `${name} exists already: edit it instead.`;
      return;
    }
    const answer = await api("PUT", inFolder(`${path}/secrets/${enc(name)}`), { body: { value: val.control.value } });
    done.textContent = answer.change_request ? `A change request was opened for ${name}.` : `${name} added.`;
    key.control.value = "";
    val.control.value = "";
    await load();
  });
  // A folder below the current path (its parents are created with it).
  const folderBox = alertBox();
  const newFolder = field("Folder name", { required: true, pattern: "[A-Za-z0-9_\\-][A-Za-z0-9_.\\-]{0,63}", autocomplete: "off", spellcheck: "false" });
  const folderForm = h("form", { "aria-label": "New folder" }, newFolder.label, folderBox, h("button", { type: "submit" }, "Create folder"));
  onSubmit(folderForm, folderBox, async () => {
    const made = await api("POST", `${path}/folders`, { body: { path: folderJoin(folder, newFolder.control.value) } });
    done.textContent = `Folder ${made.path} created.`;
    newFolder.control.value = "";
    await load();
  });
  // The path as a breadcrumb: the environment's root, then each folder down to this one.
  const trail = [["/", "/"], ...folderTrail(folder).map((p) => [p, folderName(p)])];
  const pathNav = h(
    "nav",
    { "aria-label": "Folder path" },
    h(
      "ul",
      {},
      trail.map(([p, text], i) =>
        h("li", {}, i === trail.length - 1 ? h("span", { "aria-current": "location" }, text) : h("a", { href: folderHref(p) }, text)),
      ),
    ),
  );
  render(
    `${folder === "/" ? "" : `${folder} · `}${env.name} · ${project.name}`,
    h("h1", {}, env.name, " ", h("small", { class: "muted" }, project.name)),
    env.production ? h("p", {}, h("mark", {}, "Production")) : null,
    client ? h("p", {}, "End-to-end encrypted: values are ciphertext to this page; read and write them with the CLI.") : null,
    client ? null : pathNav,
    box,
    done,
    client ? null : [h("h2", {}, "Folders"), folders, h("details", {}, h("summary", {}, "New folder"), folderForm)],
    h(
      "div",
      { class: "overflow-auto" },
      h("table", {}, h("caption", { class: "muted" }, "Secrets"), h("thead", {}, h("tr", {}, ["Key", "Value", "Version", "Actions"].map((t) => h("th", { scope: "col" }, t)))), rows),
    ),
    client ? null : h("article", {}, h("h2", {}, folder === "/" ? "Add a secret" : `Add a secret to ${folder}`), add),
  );
  await load();
}

async function secretPage(orgSlug, projectSlug, envSlug, key, params = new URLSearchParams()) {
  const folder = params.get("path") || "/";
  const atPath = `path=${enc(folder)}`;
  const inFolder = (url) => withPath(url, folder);
  const [org, project, env] = await Promise.all([
    api("GET", orgPath(orgSlug)),
    api("GET", projectPath(orgSlug, projectSlug)),
    api("GET", envPath(orgSlug, projectSlug, envSlug)),
  ]);
  const base = `#/orgs/${enc(org.slug)}/projects/${enc(project.slug)}`;
  const envRoot = `${base}/environments/${enc(env.slug)}`;
  const envHref = folder === "/" ? envRoot : `${envRoot}?${atPath}`;
  setCrumbs([["Organizations", "#/"], [org.name, `#/orgs/${enc(org.slug)}`], [project.name, base], [env.name, envRoot], [key, location.hash]]);
  const path = `${envPath(orgSlug, projectSlug, envSlug)}/secrets/${enc(key)}`;
  const box = alertBox();
  const done = statusBox();
  const body = h("div", {});
  async function load() {
    const versions = await api("GET", inFolder(`${path}/versions?limit=500`));
    const latest = versions.data.reduce((max, v) => Math.max(max, v.version), 0);
    body.replaceChildren(
      table(
        ["Version", "Change", "Comment", "When", "By", ""],
        versions.data.map((v) =>
          h(
            "tr",
            {},
            h("td", {}, `v${v.version}`),
            h("td", {}, v.action),
            h("td", {}, v.comment || "—"),
            h("td", {}, when(v.created_at)),
            h("td", {}, v.created_by),
            h(
              "td",
              {},
              v.action === "set" && v.version !== latest
                ? button(
                    `Roll back to v${v.version}`,
                    async () => {
                      try {
                        const answer = await api("POST", inFolder(`${path}/rollback`), { body: { version: v.version } });
                        done.textContent = answer.change_request ? "A change request was opened." : `Rolled back: version ${answer.version} has the value of v${v.version}.`;
                        await load();
                      } catch (err) {
                        showError(box, err);
                      }
                    },
                    { class: "secondary outline" },
                  )
                : "",
            ),
          ),
        ),
        "History (values are never shown here)",
      ),
    );
  }
  // The current value, fetched by Reveal and dropped by Hide (as on the environment page).
  const client = env.encryption === "client";
  const shown = h("p", {}, h("span", { class: "hidden-value" }, "•••••••• hidden"));
  const reveal = button(
    "Reveal",
    act(box, async () => {
      if (reveal.textContent === "Hide") {
        shown.replaceChildren(h("span", { class: "hidden-value" }, "•••••••• hidden"));
        reveal.textContent = "Reveal";
        reveal.setAttribute("aria-label", `Reveal ${key}`);
        return;
      }
      shown.replaceChildren(h("span", { class: "secret-value" }, (await api("GET", inFolder(path))).value));
      reveal.textContent = "Hide";
      reveal.setAttribute("aria-label", `Hide ${key}`);
    }),
    { class: "secondary", "aria-label": `Reveal ${key}` },
  );

  // Rotation (`?path=` names the key's folder): the policy, a random one set here, Rotate now and
  // Remove; other rotators are shown read-only (the CLI sets them).
  const rotation = h("div", {});
  const rotationPath = inFolder(`${path}/rotation`);
  function rotatorText(r) {
    if (r.type === "random") return `random, ${r.length} characters`;
    if (r.type === "postgres") return `postgres (users ${r.users.join(" and ")}, master ${r.master_username})`;
    if (r.type === "aws_iam_access_key") return `AWS IAM access key of ${r.user_name} (grace ${r.grace_period_hours} h)`;
    if (r.type === "webhook") return `webhook ${r.url}`;
    return r.type;
  }
  async function loadRotation() {
    const policy = await optional(rotationPath);
    const random = !policy || policy.rotator.type === "random";
    const formBox = alertBox();
    const days = field("Interval (days)", { type: "number", min: 1, max: 3650, required: true, value: policy ? policy.interval_days : 30 });
    const length = field("Length", { type: "number", min: 8, max: 4096, required: true, value: policy && random ? policy.rotator.length : 32 });
    const form = h(
      "form",
      { "aria-label": "Random rotation" },
      h("div", { class: "grid" }, days.label, length.label),
      formBox,
      h("button", { type: "submit" }, policy ? "Save rotation" : "Set rotation"),
    );
    onSubmit(form, formBox, async () => {
      const rotator = { type: "random", length: Number(length.control.value) };
      if (policy && random && policy.rotator.alphabet) rotator.alphabet = policy.rotator.alphabet;
      const set = await api("PUT", rotationPath, { body: { interval_days: Number(days.control.value), rotator } });
      done.textContent = `Rotation every ${set.interval_days} days; next `;
      done.append(when(set.next_rotation_at), ".");
      await loadRotation();
    });
    const rotateNow = button(
      "Rotate now",
      act(box, async () => {
        const after = await api("POST", inFolder(`${path}/rotate`));
        if (after.status === "failed") {
          box.textContent = `The rotation failed: ${after.last_error || "no reason given"}. The value is unchanged.`;
        } else {
          done.textContent = `Rotated: version ${after.version} holds the new value.`;
        }
        await Promise.all([load(), loadRotation()]);
      }),
    );
    const remove = button(
      "Remove rotation",
      act(box, async () => {
        if (!confirm(`Stop rotating ${key}?`)) return;
        await api("DELETE", rotationPath);
        done.textContent = "Rotation removed: the value stays as it is.";
        await loadRotation();
      }),
      { class: "secondary outline" },
    );
    rotation.replaceChildren(
      ...(policy
        ? [
            table(
              ["Rotator", "Every", "Status", "Next", "Last rotated", "Last error"],
              [
                h(
                  "tr",
                  {},
                  h("td", {}, rotatorText(policy.rotator)),
                  h("td", {}, `${policy.interval_days} days`),
                  h("td", {}, policy.status),
                  h("td", {}, when(policy.next_rotation_at)),
                  h("td", {}, when(policy.last_rotated_at), policy.version ? ` (v${policy.version})` : ""),
                  h("td", {}, policy.last_error || "—"),
                ),
              ],
              "Rotation policy",
            ),
            h("div", { class: "actions" }, rotateNow, remove),
          ]
        : [h("p", { class: "muted" }, "No rotation policy.")]),
      random ? h("details", {}, h("summary", {}, policy ? "Change the random rotation" : "Rotate with a random value"), form) : h("p", { class: "muted" }, "This rotator is set with the CLI."),
    );
  }

  render(
    `${key} · ${env.name}`,
    h("h1", {}, h("code", {}, key)),
    h("p", {}, "History in ", h("a", { href: envHref }, folder === "/" ? env.name : `${env.name} ${folder}`), folder === "/" ? null : [" · path ", h("code", {}, folder)]),
    box,
    done,
    client ? null : h("div", { class: "actions" }, shown, reveal),
    body,
    client ? null : [h("h2", {}, "Rotation"), rotation],
  );
  await Promise.all([load(), client ? null : loadRotation()]);
}

// --------------------------------------------------------------------------- shared secrets

// The org's shared secrets (`${shared.KEY}` in any environment): keys and versions listed, a value
// fetched by its Reveal; writes (shared_secrets.write) send If-Match with the version listed.
async function sharedSecretsPage(slug) {
  const { header, can } = await orgHeader(slug, "Shared secrets");
  const base = `${orgPath(slug)}/shared-secrets`;
  const writer = can("shared_secrets.write");
  const box = alertBox();
  const done = statusBox();
  const rows = h("tbody", {});
  const history = h("div", {});

  async function load() {
    const list = await api("GET", `${base}?limit=500`);
    rows.replaceChildren(...list.data.map(row));
    if (!list.data.length) rows.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No shared secret yet.")));
  }

  const value = async (key) => (await api("GET", `${base}/${enc(key)}`)).value;
  const hidden = () => h("span", { class: "hidden-value" }, "•••••••• hidden");

  function row(secret) {
    const cell = h("td", {}, hidden());
    const tr = h("tr", { "data-key": secret.key });
    const reveal = button(
      "Reveal",
      act(box, async () => {
        if (reveal.textContent === "Hide") {
          cell.replaceChildren(hidden());
          reveal.textContent = "Reveal";
          reveal.setAttribute("aria-label", `Reveal ${secret.key}`);
          return;
        }
        cell.replaceChildren(h("span", { class: "secret-value" }, await value(secret.key)));
        reveal.textContent = "Hide";
        reveal.setAttribute("aria-label", `Hide ${secret.key}`);
      }),
      { class: "secondary", "aria-label": `Reveal ${secret.key}` },
    );
    const versions = button(
      "Versions",
      act(box, async () => {
        const list = await api("GET", `${base}/${enc(secret.key)}/versions?limit=500`);
        history.replaceChildren(
          table(
            ["Version", "Change", "Comment", "When", "By"],
            list.data.map((v) => h("tr", {}, h("td", {}, `v${v.version}`), h("td", {}, v.action), h("td", {}, v.comment || "—"), h("td", {}, when(v.created_at)), h("td", {}, v.created_by))),
            `Versions of ${secret.key} (values are never shown here)`,
          ),
        );
      }),
      { class: "secondary outline", "aria-label": `Versions of ${secret.key}` },
    );
    const edit = button("Edit", () => editRow(tr, secret), { class: "secondary outline", "aria-label": `Edit ${secret.key}` });
    const remove = button(
      "Delete",
      act(box, async () => {
        if (!confirm(`Delete the shared secret ${secret.key}? Environments referencing it keep \${shared.${secret.key}} as written.`)) return;
        await api("DELETE", `${base}/${enc(secret.key)}`, { headers: { "If-Match": String(secret.version) } });
        done.textContent = `${secret.key} deleted.`;
        history.replaceChildren();
        await load();
      }),
      { class: "secondary outline", "aria-label": `Delete ${secret.key}` },
    );
    tr.append(
      h("th", { scope: "row" }, h("code", {}, secret.key)),
      cell,
      h("td", {}, `v${secret.version}`),
      h("td", {}, when(secret.updated_at)),
      h("td", {}, h("div", { class: "actions" }, reveal, versions, writer ? [edit, remove] : [])),
    );
    return tr;
  }

  function editRow(tr, secret) {
    editValueRow(tr, secret, {
      current: value,
      save: (v, ifMatch) => api("PUT", `${base}/${enc(secret.key)}`, { body: { value: v }, headers: { "If-Match": ifMatch } }),
      saved: (answer) => {
        done.textContent = `${secret.key} saved (version ${answer.version}).`;
      },
      reload: () => load(),
      box,
      colspan: 5,
    });
  }

  const addBox = alertBox();
  const key = field("Key", { required: true, pattern: "[A-Za-z_][A-Za-z0-9_.\\-]{0,254}", autocomplete: "off", spellcheck: "false" });
  const val = field("Value", { rows: 3, required: true, spellcheck: "false" }, "textarea");
  const comment = field("Comment", { maxlength: 500 });
  const add = h("form", { "aria-label": "Add shared secret" }, key.label, val.label, comment.label, addBox, h("button", { type: "submit" }, "Add shared secret"));
  onSubmit(add, addBox, async () => {
    const made = await api("POST", base, { body: { key: key.control.value, value: val.control.value, comment: comment.control.value } });
    done.textContent = `${made.key} added: environments reference it as \${shared.${made.key}}.`;
    key.control.value = "";
    val.control.value = "";
    comment.control.value = "";
    await load();
  });
  render(
    "Shared secrets",
    header,
    h("h2", {}, "Shared secrets"),
    h("p", { class: "muted" }, "Org-wide values any environment references as ${shared.KEY}."),
    box,
    done,
    h(
      "div",
      { class: "overflow-auto" },
      h("table", {}, h("caption", { class: "muted" }, "Shared secrets"), h("thead", {}, h("tr", {}, ["Key", "Value", "Version", "Updated", "Actions"].map((t) => h("th", { scope: "col" }, t)))), rows),
    ),
    history,
    writer ? h("article", {}, h("h2", {}, "Add a shared secret"), add) : null,
  );
  await load();
}

// --------------------------------------------------------------------------- integrations

const INTEGRATION_TYPES = [
  ["aws_secrets_manager", "AWS Secrets Manager"],
  ["aws_ssm_parameter_store", "AWS SSM Parameter Store"],
  ["github_actions", "GitHub Actions"],
];
const integrationType = (type) => (INTEGRATION_TYPES.find(([value]) => value === type) || [type, type])[1];

// Integrations of an org (integrations.manage): an environment's values pushed to AWS or GitHub
// after each change. The GitHub token is a password field, sent once, never shown back.
async function integrationsPage(slug) {
  const { header } = await orgHeader(slug, "Integrations");
  const { projects, name } = await orgNames(slug);
  const base = `${orgPath(slug)}/integrations`;
  const box = alertBox();
  const done = statusBox();
  const list = h("div", {});

  const target = (i) => (i.type === "github_actions" ? i.config.repository : `${i.config.region || ""} ${i.config.mode || ""} ${i.config.name || ""}`.trim());

  function row(i) {
    const label = `${integrationType(i.type)} ${target(i)}`;
    const status = h("td", {}, i.status);
    const synced = h("td", {}, when(i.last_synced_at), i.last_synced_revision === null || i.last_synced_revision === undefined ? "" : ` (revision ${i.last_synced_revision})`);
    const error = h("td", {}, i.last_error || "—");
    const show = (st) => {
      status.replaceChildren(st.status);
      synced.replaceChildren(when(st.last_synced_at), st.last_synced_revision === null || st.last_synced_revision === undefined ? "" : ` (revision ${st.last_synced_revision})`);
      error.replaceChildren(st.last_error || "—");
    };
    const refresh = button(
      "Status",
      act(box, async () => {
        show(await api("GET", `${base}/${enc(i.id)}/status`));
        done.textContent = `Status of ${label} refreshed.`;
      }),
      { class: "secondary outline", "aria-label": `Status of ${label}` },
    );
    const sync = button(
      "Sync now",
      act(box, async () => {
        show(await api("POST", `${base}/${enc(i.id)}/sync`));
        done.textContent = `Sync of ${label} requested: it runs in the background.`;
      }),
      { class: "secondary", "aria-label": `Sync ${label} now` },
    );
    const remove = button(
      "Delete",
      act(box, async () => {
        if (!confirm(`Delete the integration ${label}? What it pushed stays where it is.`)) return;
        await api("DELETE", `${base}/${enc(i.id)}`);
        done.textContent = `Integration ${label} deleted.`;
        await load();
      }),
      { class: "secondary outline", "aria-label": `Delete ${label}` },
    );
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, integrationType(i.type), " ", h("code", {}, target(i))),
      h("td", {}, `${name(i.project_id)} / ${name(i.environment_id)}`),
      status,
      synced,
      error,
      h("td", {}, h("div", { class: "actions" }, refresh, sync, remove)),
    );
  }

  async function load() {
    const items = (await api("GET", `${base}?limit=100`)).data;
    list.replaceChildren(
      items.length ? table(["Integration", "Environment", "Status", "Last synced", "Last error", ""], items.map(row), "Integrations") : h("p", { class: "muted" }, "No integration yet."),
    );
  }

  // A new integration: its type picks the fields shown (AWS: role, external id, region, mode,
  // name or prefix, KMS key; GitHub: repository, token).
  const formBox = alertBox();
  const type = select("Type", INTEGRATION_TYPES);
  const project = select("Project", projects.map((p) => [p.slug, p.name]));
  const env = select("Environment", []);
  const fill = () => {
    const chosen = projects.find((p) => p.slug === project.control.value);
    env.control.replaceChildren(...(chosen ? chosen.environments : []).map((e) => h("option", { value: e.slug }, e.name)));
  };
  project.control.addEventListener("change", fill);
  fill();
  const roleArn = field("Role ARN", { placeholder: "arn:aws:iam::123456789012:role/strongroom-sync", autocomplete: "off", spellcheck: "false" });
  const externalId = field("External ID", { autocomplete: "off", spellcheck: "false" });
  const region = field("Region", { placeholder: "eu-west-1", autocomplete: "off" });
  const mode = select("Mode", [["json", "One JSON object (json)"], ["per_key", "One per key (per_key)"]]);
  const awsName = field("Name or prefix", { autocomplete: "off", spellcheck: "false" });
  const kmsKey = field("KMS key ID", { autocomplete: "off", spellcheck: "false", placeholder: "alias/… (required for SSM)" });
  const repository = field("Repository", { placeholder: "owner/name", autocomplete: "off", spellcheck: "false" });
  const token = field("Token", { type: "password", autocomplete: "off" });
  const apiUrl = field("API URL", { type: "url", placeholder: "https://api.github.com (GitHub Enterprise: https://HOST/api/v3)", autocomplete: "off", spellcheck: "false" });
  const aws = h("fieldset", {}, h("legend", {}, "AWS"), h("div", { class: "grid" }, roleArn.label, externalId.label), h("div", { class: "grid" }, region.label, mode.label), h("div", { class: "grid" }, awsName.label, kmsKey.label));
  const github = h("fieldset", {}, h("legend", {}, "GitHub"), h("div", { class: "grid" }, repository.label, token.label), apiUrl.label);
  const toggle = () => {
    const isGithub = type.control.value === "github_actions";
    aws.hidden = isGithub;
    github.hidden = !isGithub;
  };
  type.control.addEventListener("change", toggle);
  toggle();
  const form = h(
    "form",
    { "aria-label": "New integration" },
    h("div", { class: "grid" }, type.label, project.label, env.label),
    aws,
    github,
    formBox,
    h("button", { type: "submit" }, "Create integration"),
  );
  onSubmit(form, formBox, async () => {
    let config;
    if (type.control.value === "github_actions") {
      config = { repository: repository.control.value, token: token.control.value };
      if (apiUrl.control.value) config.api_url = apiUrl.control.value;
    } else {
      config = { role_arn: roleArn.control.value, external_id: externalId.control.value, region: region.control.value, mode: mode.control.value, name: awsName.control.value };
      if (kmsKey.control.value) config.kms_key_id = kmsKey.control.value;
    }
    try {
      const made = await api("POST", base, { body: { type: type.control.value, project: project.control.value, environment: env.control.value, config } });
      done.textContent = `Integration ${integrationType(made.type)} ${target(made)} created (${made.status}): its first sync runs in the background.`;
    } finally {
      token.control.value = ""; // never kept in the page
    }
    await load();
  });

  render(
    "Integrations",
    header,
    h("h2", {}, "Integrations"),
    h("p", { class: "muted" }, "An environment's values pushed to AWS Secrets Manager, SSM Parameter Store or GitHub Actions after every change."),
    box,
    done,
    list,
    projects.length ? h("details", {}, h("summary", {}, "New integration"), form) : null,
  );
  await load();
}

// --------------------------------------------------------------------------- members and invitations

async function membersPage(slug) {
  const { header } = await orgHeader(slug, "Members");
  const box = alertBox();
  const done = statusBox();
  const members = h("div", {});
  const invitations = h("div", {});
  const roles = [["viewer", "Viewer"], ["developer", "Developer"], ["admin", "Admin"], ["owner", "Owner"]];
  // A member's role, changed where it is shown (custom roles appear as their slug).
  function roleSelect(member) {
    const choices = roles.some(([value]) => value === member.role) ? roles : [...roles, [member.role, member.role]];
    const control = h("select", { "aria-label": `Role of ${member.email}` }, choices.map(([value, text]) => h("option", { value, selected: value === member.role }, text)));
    control.addEventListener("change", async () => {
      box.textContent = "";
      try {
        await api("PATCH", `${orgPath(slug)}/members/${enc(member.user_id)}`, { body: { role: control.value } });
        done.textContent = `${member.email} is now ${control.value}.`;
      } catch (err) {
        control.value = member.role;
        showError(box, err);
      }
    });
    return control;
  }
  async function load() {
    const [m, i] = await Promise.all([api("GET", `${orgPath(slug)}/members?limit=500`), api("GET", `${orgPath(slug)}/invitations?limit=500`).catch(() => ({ data: [] }))]);
    members.replaceChildren(
      table(
        ["Email", "Role", "Joined", ""],
        m.data.map((member) =>
          h(
            "tr",
            {},
            h("td", {}, member.email),
            h("td", {}, me && member.user_id === me.id ? member.role : roleSelect(member)),
            h("td", {}, when(member.joined_at)),
            h(
              "td",
              {},
              me && member.user_id === me.id
                ? h("small", { class: "muted" }, "you")
                : button(
                    "Remove",
                    async () => {
                      if (!confirm(`Remove ${member.email}?`)) return;
                      try {
                        await api("DELETE", `${orgPath(slug)}/members/${enc(member.user_id)}`);
                        done.textContent = `${member.email} removed.`;
                        await load();
                      } catch (err) {
                        showError(box, err);
                      }
                    },
                    { class: "secondary outline", "aria-label": `Remove ${member.email}` },
                  ),
            ),
          ),
        ),
        "Members",
      ),
    );
    const pending = i.data.filter((inv) => inv.status === "pending");
    invitations.replaceChildren(
      pending.length
        ? table(
            ["Email", "Role", "Expires", ""],
            pending.map((inv) =>
              h(
                "tr",
                {},
                h("td", {}, inv.email),
                h("td", {}, inv.role),
                h("td", {}, when(inv.expires_at)),
                h(
                  "td",
                  {},
                  button(
                    "Revoke",
                    async () => {
                      try {
                        await api("DELETE", `${orgPath(slug)}/invitations/${enc(inv.id)}`);
                        done.textContent = `The invitation of ${inv.email} is revoked.`;
                        await load();
                      } catch (err) {
                        showError(box, err);
                      }
                    },
                    { class: "secondary outline", "aria-label": `Revoke the invitation of ${inv.email}` },
                  ),
                ),
              ),
            ),
            "Pending invitations",
          )
        : h("p", { class: "muted" }, "No pending invitation."),
    );
  }
  const inviteBox = alertBox();
  const email = field("Email", { type: "email", required: true });
  const role = select("Role", roles);
  const shown = h("div", {});
  const form = h("form", { "aria-label": "Invite a member" }, h("div", { class: "grid" }, email.label, role.label), inviteBox, h("button", { type: "submit" }, "Invite"));
  onSubmit(form, inviteBox, async () => {
    const inv = await api("POST", `${orgPath(slug)}/invitations`, { body: { email: email.control.value, role: role.control.value } });
    shown.replaceChildren(shownOnce("Invitation token", inv.token, `Send it to ${inv.email}; they accept it signed in (strongroom invitations accept).`));
    email.control.value = "";
    await load();
  });
  render("Members", header, box, done, members, h("h2", {}, "Invitations"), invitations, h("article", {}, h("h3", {}, "Invite"), form, shown));
  await load();
}

// A credential shown this once: in an <output> named by its label, with a copy button.
// A secret's value edited in its table row (an environment's secrets, the org's shared secrets):
// the current value loaded into the form, saved with If-Match (`save(value, ifMatch)`; a 412 says
// it changed since the page loaded), then the page's list loaded again (`reload`; Cancel too).
function editValueRow(tr, secret, { current, save, saved, reload, box, colspan }) {
  const formBox = alertBox();
  const valueField = field("Value", { rows: 3, required: true, "aria-label": `Value of ${secret.key}` }, "textarea");
  current(secret.key)
    .then((v) => {
      valueField.control.value = v;
    })
    .catch((err) => showError(formBox, err));
  const form = h(
    "form",
    { "aria-label": `Edit ${secret.key}` },
    valueField.label,
    formBox,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"), button("Cancel", () => reload().catch((err) => showError(box, err)), { class: "secondary outline" })),
  );
  onSubmit(form, formBox, async () => {
    try {
      saved(await save(valueField.control.value, String(secret.version)));
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        formBox.textContent = `${secret.key} changed since this page loaded; reload to see the new version.`;
        return;
      }
      throw err;
    }
    await reload();
  });
  tr.replaceChildren(h("td", { colspan }, h("strong", {}, secret.key), form));
  valueField.control.focus();
}

function shownOnce(label, secret, note) {
  const id = `once${++fieldCount}`;
  const copied = statusBox();
  return h(
    "div",
    { class: "shown-once" },
    h("p", {}, h("label", { for: id }, `${label} (shown once)`), h("output", { id, "aria-label": label }, h("code", {}, secret))),
    note ? h("p", { class: "muted" }, note) : null,
    button(
      `Copy ${label.toLowerCase()}`,
      async () => {
        try {
          await navigator.clipboard.writeText(secret);
          copied.textContent = "Copied.";
        } catch {
          copied.textContent = "The browser did not allow copying; select the text instead.";
        }
      },
      { class: "secondary outline" },
    ),
    copied,
  );
}

// --------------------------------------------------------------------------- service tokens

async function tokensPage(slug) {
  const { header } = await orgHeader(slug, "Service tokens");
  const box = alertBox();
  const done = statusBox();
  const list = h("div", {});
  const projects = (await api("GET", `${orgPath(slug)}/projects?limit=500`)).data;
  const names = {};
  for (const p of projects) {
    names[p.id] = p.name;
    for (const e of p.environments || []) names[e.id] = e.name;
  }
  async function load() {
    const tokens = await api("GET", `${orgPath(slug)}/tokens?limit=500`);
    list.replaceChildren(
      tokens.data.length
        ? table(
            ["Name", "Project", "Environment", "Permissions", "Expires", "Last used", ""],
            tokens.data.map((t) =>
              h(
                "tr",
                {},
                h("td", {}, t.name),
                h("td", {}, names[t.project_id] || t.project_id),
                h("td", {}, names[t.environment_id] || t.environment_id),
                h("td", {}, t.permissions.join(", ")),
                h("td", {}, when(t.expires_at)),
                h("td", {}, when(t.last_used_at)),
                h(
                  "td",
                  {},
                  button(
                    "Revoke",
                    async () => {
                      if (!confirm(`Revoke ${t.name}?`)) return;
                      try {
                        await api("DELETE", `${orgPath(slug)}/tokens/${enc(t.id)}`);
                        done.textContent = `${t.name} revoked.`;
                        await load();
                      } catch (err) {
                        showError(box, err);
                      }
                    },
                    { class: "secondary outline", "aria-label": `Revoke ${t.name}` },
                  ),
                ),
              ),
            ),
            "Service tokens",
          )
        : h("p", { class: "muted" }, "No service token yet."),
    );
  }
  const formBox = alertBox();
  const name = field("Token name", { required: true, maxlength: 100 });
  const project = select("Project", projects.map((p) => [p.slug, p.name]));
  const env = select("Environment", []);
  const fill = () => {
    const chosen = projects.find((p) => p.slug === project.control.value);
    env.control.replaceChildren(...(chosen ? chosen.environments : []).map((e) => h("option", { value: e.slug }, e.name)));
  };
  project.control.addEventListener("change", fill);
  fill();
  const permission = select("Permissions", [["read", "Read"], ["read,write", "Read and write"]]);
  const shown = h("div", {});
  const form = h(
    "form",
    { "aria-label": "New service token" },
    name.label,
    h("div", { class: "grid" }, project.label, env.label, permission.label),
    formBox,
    h("button", { type: "submit" }, "Create token"),
  );
  onSubmit(form, formBox, async () => {
    const created = await api("POST", `${orgPath(slug)}/tokens`, {
      body: { name: name.control.value, project: project.control.value, environment: env.control.value, permissions: permission.control.value.split(",") },
    });
    shown.replaceChildren(shownOnce("Service token", created.token, "Store it now (e.g. as a CI secret STRONGROOM_TOKEN): it is never shown again."));
    name.control.value = "";
    await load();
  });
  render("Service tokens", header, box, done, list, h("article", {}, h("h2", {}, "New service token"), projects.length ? form : h("p", {}, "Create a project first."), shown));
  await load();
}

// --------------------------------------------------------------------------- webhooks

async function webhooksPage(slug) {
  const { header } = await orgHeader(slug, "Webhooks");
  const box = alertBox();
  const list = h("div", {});
  async function load() {
    const hooks = await api("GET", `${orgPath(slug)}/webhooks`);
    list.replaceChildren(
      hooks.data.length
        ? table(
            ["Endpoint", "Events", "Status"],
            hooks.data.map((w) =>
              h("tr", {}, h("td", {}, h("a", { href: `#/orgs/${enc(slug)}/webhooks/${enc(w.id)}` }, w.url)), h("td", {}, w.events.join(", ")), h("td", {}, w.enabled ? w.status : "disabled")),
            ),
            "Webhooks",
          )
        : h("p", { class: "muted" }, "No webhook yet."),
    );
  }
  const formBox = alertBox();
  const url = field("Endpoint URL", { type: "url", required: true, placeholder: "https://hooks.example.com/strongroom" });
  const events = field("Events", { required: true, value: "secret.*", "aria-describedby": "events-help" });
  const shown = h("div", {});
  const form = h(
    "form",
    { "aria-label": "New webhook" },
    url.label,
    events.label,
    h("small", { id: "events-help", class: "muted" }, "Comma-separated event types or patterns, e.g. secret.*, member.invited"),
    formBox,
    h("button", { type: "submit" }, "Create webhook"),
  );
  onSubmit(form, formBox, async () => {
    const created = await api("POST", `${orgPath(slug)}/webhooks`, {
      body: { url: url.control.value, events: events.control.value.split(",").map((e) => e.trim()).filter(Boolean) },
    });
    shown.replaceChildren(shownOnce("Signing secret", created.secret, "Receivers verify deliveries with it (Standard Webhooks)."));
    url.control.value = "";
    await load();
  });
  render("Webhooks", header, box, list, h("article", {}, h("h2", {}, "New webhook"), form, shown));
  await load();
}

async function webhookPage(slug, id) {
  const { org, header } = await orgHeader(slug, "Webhooks");
  const path = `${orgPath(slug)}/webhooks/${enc(id)}`;
  const hook = await api("GET", path);
  setCrumbs([["Organizations", "#/"], [org.name, `#/orgs/${enc(org.slug)}`], ["Webhooks", `#/orgs/${enc(org.slug)}/webhooks`], [hook.url, location.hash]]);
  const box = alertBox();
  const done = statusBox();
  const log = h("div", {});
  async function load() {
    const deliveries = await api("GET", `${path}/deliveries?limit=100`);
    log.replaceChildren(
      deliveries.data.length
        ? table(
            ["Event", "Status", "Attempts", "Response", "When", ""],
            deliveries.data.map((d) =>
              h(
                "tr",
                {},
                h("td", {}, d.event_type),
                h("td", {}, d.status),
                h("td", {}, String(d.attempts)),
                h("td", {}, d.response_code ? String(d.response_code) : d.error || "—"),
                h("td", {}, when(d.created_at)),
                h(
                  "td",
                  {},
                  button(
                    "Redeliver",
                    async () => {
                      try {
                        await api("POST", `${path}/deliveries/${enc(d.id)}/redeliver`);
                        done.textContent = "Queued again.";
                        await load();
                      } catch (err) {
                        showError(box, err);
                      }
                    },
                    { class: "secondary outline" },
                  ),
                ),
              ),
            ),
            "Delivery log (30 days)",
          )
        : h("p", { class: "muted" }, "No delivery yet."),
    );
  }
  render(
    "Webhook",
    header,
    h("h2", {}, "Webhook ", h("code", {}, hook.url)),
    h("p", {}, `Events: ${hook.events.join(", ")} · ${hook.enabled ? hook.status : "disabled"}`),
    h(
      "div",
      { class: "actions" },
      button("Send test event", async () => {
        try {
          await api("POST", `${path}/test`);
          done.textContent = "A webhook.test delivery is queued.";
          await load();
        } catch (err) {
          showError(box, err);
        }
      }),
      button("Refresh", () => load().catch((err) => showError(box, err)), { class: "secondary outline" }),
      button(
        "Delete webhook",
        async () => {
          if (!confirm("Delete this webhook and its delivery log?")) return;
          try {
            await api("DELETE", path);
            location.hash = `#/orgs/${enc(slug)}/webhooks`;
          } catch (err) {
            showError(box, err);
          }
        },
        { class: "secondary outline" },
      ),
    ),
    box,
    done,
    h("h2", {}, "Deliveries"),
    log,
  );
  await load();
}

// --------------------------------------------------------------------------- audit log

async function auditPage(slug, query) {
  const { header } = await orgHeader(slug, "Audit log");
  const box = alertBox();
  const filters = [
    ["action", "Action", "e.g. secret. (a prefix) or secret.updated"],
    ["actor", "Actor", "a user or token id"],
    ["resource_type", "Resource type", "e.g. secret"],
    ["since", "Since", "RFC 3339, e.g. 2026-12-01T00:00:00Z"],
    ["until", "Until", "RFC 3339"],
  ];
  const fields = Object.fromEntries(filters.map(([name, label, hint]) => [name, field(label, { name, placeholder: hint, value: query.get(name) || "" })]));
  const form = h("form", { "aria-label": "Filter the audit log" }, h("div", { class: "grid" }, Object.values(fields).map((f) => f.label)), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    for (const [name, f] of Object.entries(fields)) if (f.control.value) q.set(name, f.control.value);
    location.hash = `#/orgs/${enc(slug)}/audit${q.toString() ? `?${q}` : ""}`;
  });
  const head = h("div", {});
  const verified = statusBox();
  const events = h("div", {});
  const more = h("div", {});
  async function page(cursor) {
    const q = new URLSearchParams({ limit: "50" });
    for (const [name] of filters) if (query.get(name)) q.set(name, query.get(name));
    if (cursor) q.set("cursor", cursor);
    const list = await api("GET", `${orgPath(slug)}/audit?${q}`);
    const rows = list.data.map((e) =>
      h(
        "tr",
        {},
        h("td", {}, when(e.created_at)),
        h("td", {}, h("code", {}, e.action)),
        h("td", {}, `${e.actor.type} ${e.actor.id}`),
        h("td", {}, `${e.resource.type} ${e.resource.id}`),
        h("td", {}, e.leaf_index === null || e.leaf_index === undefined ? h("small", { class: "muted" }, "not sealed yet") : `#${e.leaf_index}`),
      ),
    );
    const body = events.querySelector("tbody");
    if (cursor && body) body.append(...rows);
    else events.replaceChildren(table(["When", "Action", "Actor", "Resource", "Leaf"], rows, "Events, newest first"));
    more.replaceChildren(list.next_cursor ? button("Load more", () => page(list.next_cursor).catch((err) => showError(box, err)), { class: "secondary outline" }) : "");
  }
  async function treeHead() {
    try {
      const th = await api("GET", `${orgPath(slug)}/audit/tree-head`);
      head.replaceChildren(
        h("p", {}, `Signed tree head: ${th.tree_size} event(s), root `, h("code", {}, th.root_hash.slice(0, 16) + "…"), ", signed ", when(th.timestamp), ` by ${th.key_id}.`),
      );
    } catch (err) {
      // none yet (404), or the first events are being sealed (503 with Retry-After)
      if (err instanceof ApiError && (err.status === 404 || err.status === 503)) head.replaceChildren(h("p", { class: "muted" }, "No signed tree head yet: the first events are being sealed."));
      else throw err;
    }
  }
  const verify = button("Verify the log", async () => {
    verified.textContent = "Verifying…";
    try {
      let cursor = null;
      let answer;
      do {
        answer = await api("GET", `${orgPath(slug)}/audit/verify${cursor ? `?cursor=${enc(cursor)}` : ""}`);
        cursor = answer.next_cursor;
      } while (answer.ok && cursor);
      verified.className = answer.ok ? "ok" : "bad";
      verified.textContent = answer.ok
        ? `Verified: the ${answer.checked} sealed event(s) recompute the signed root of ${answer.tree_size} leaves.`
        : `Verification failed: ${answer.reason || "the log does not match its signed head"}.`;
    } catch (err) {
      verified.textContent = "";
      showError(box, err);
    }
  });
  render("Audit log", header, h("article", {}, h("h2", {}, "Integrity"), head, verify, verified), form, box, events, more);
  await Promise.all([treeHead(), page(null)]);
}

// --------------------------------------------------------------------------- account security (two-factor)

// Two-factor authentication of the signed-in account: set up (the TOTP secret and its otpauth URI,
// shown this once), turned on by a code (the 10 recovery codes, shown once), turned off by a code.
async function accountPage() {
  setCrumbs([["Organizations", "#/"], ["Account security", "#/account"]]);
  await loadMe();
  const box = alertBox();
  const done = statusBox();
  const state = h("p", {});
  const body = h("div", {});
  const codeField = (help) => {
    const code = field("Authentication code", { required: true, inputmode: "numeric", autocomplete: "one-time-code", spellcheck: "false", "aria-describedby": `${help}-help` });
    return { code, help: h("small", { id: `${help}-help`, class: "muted" }, "The 6-digit code your authenticator app shows now (or a recovery code).") };
  };

  function showOn() {
    state.replaceChildren("Two-factor authentication is ", h("strong", {}, "on"), ": signing in asks for a code of your authenticator app after the password.");
    const { code, help } = codeField("off");
    const form = h("form", { "aria-label": "Turn off two-factor authentication" }, code.label, help, h("button", { type: "submit", class: "secondary" }, "Turn off two-factor authentication"));
    onSubmit(form, box, async () => {
      await api("DELETE", "/v1/me/2fa", { body: { code: code.control.value.trim() } });
      await loadMe();
      done.textContent = "Two-factor authentication is off.";
      showOff();
    });
    body.replaceChildren(h("h2", {}, "Turn it off"), form);
  }

  function showOff() {
    state.replaceChildren("Two-factor authentication is ", h("strong", {}, "off"), ": a password alone signs in to this account.");
    const start = button(
      "Set up two-factor authentication",
      act(box, async () => {
        const setup = await api("POST", "/v1/me/2fa/setup");
        const { code, help } = codeField("on");
        const form = h("form", { "aria-label": "Turn on two-factor authentication" }, code.label, help, h("button", { type: "submit" }, "Turn on two-factor authentication"));
        onSubmit(form, box, async () => {
          const enabled = await api("POST", "/v1/me/2fa/enable", { body: { code: code.control.value.trim() } });
          await loadMe();
          done.textContent = "Two-factor authentication is on.";
          state.replaceChildren("Signing in now asks for a code of your authenticator app after the password.");
          body.replaceChildren(
            shownOnce("Recovery codes", enabled.recovery_codes.join("\n"), "Each one signs in once instead of a code, e.g. when the phone is lost. Store them now: they are never shown again."),
            h("p", {}, h("a", { href: "#/account" }, "Done")),
          );
        });
        body.replaceChildren(
          h("h2", {}, "1. Add the account to your authenticator app"),
          shownOnce("Setup key", setup.secret, "Type it into the app (time-based, 6 digits, 30 seconds), or give it the link below."),
          shownOnce("Setup link", setup.otpauth_uri, "An otpauth:// link, for apps and password managers that take one."),
          h("h2", {}, "2. Enter the code it shows"),
          form,
        );
        code.control.focus();
      }),
    );
    body.replaceChildren(start);
  }

  render("Account security", h("h1", {}, "Account security"), h("p", { class: "muted" }, me.email), h("h2", {}, "Two-factor authentication"), state, box, done, body);
  if (me.two_factor_enabled) showOn();
  else showOff();
}

// --------------------------------------------------------------------------- roles

const SCOPES = { all: "All environments", non_production: "Non-production", development: "Development only" };

function describePermissions(permissions) {
  const entries = Object.entries(permissions);
  if (!entries.length) return h("span", { class: "muted" }, "none");
  return entries.map(([name, scope]) => (scope === "all" ? name : `${name} (${SCOPES[scope] || scope})`)).join(", ");
}

// The org's roles: the four built-in ones and its custom roles, with their permissions; custom
// roles created, changed and deleted by those holding roles.manage.
async function rolesPage(slug) {
  const { header, can } = await orgHeader(slug, "Roles");
  const manage = can("roles.manage");
  const catalog = await api("GET", "/v1/permissions");
  const box = alertBox();
  const done = statusBox();
  const custom = h("div", {});
  let editing = null; // the slug of the custom role the form edits, or null (a new one)

  const formBox = alertBox();
  const heading = h("h2", {}, "New custom role");
  const name = field("Role name", { required: true, maxlength: 100 });
  const slugField = field("Slug", { pattern: "[a-z0-9](?:[a-z0-9\\-]{0,62}[a-z0-9])?", placeholder: "from the name", autocomplete: "off", spellcheck: "false" });
  const description = field("Description", { maxlength: 1000 });
  const scopes = {};
  const grid = table(
    ["Permission", "What it allows", "Scope"],
    catalog.data.map((p) => {
      const options = [["", "—"], ["all", SCOPES.all], ...(p.environment_scoped ? [["non_production", SCOPES.non_production], ["development", SCOPES.development]] : [])];
      scopes[p.name] = h("select", { "aria-label": p.name }, options.map(([value, text]) => h("option", { value }, text)));
      return h("tr", {}, h("th", { scope: "row" }, h("code", {}, p.name)), h("td", {}, p.description), h("td", {}, scopes[p.name]));
    }),
    "Permissions (a scope narrows an environment permission)",
  );
  const submit = h("button", { type: "submit" }, "Create role");
  const cancel = button("Cancel", () => reset(), { class: "secondary outline", hidden: true });
  const form = h("form", { "aria-label": "Custom role" }, h("div", { class: "grid" }, name.label, slugField.label), description.label, grid, formBox, h("div", { class: "actions" }, submit, cancel));

  function reset() {
    editing = null;
    heading.textContent = "New custom role";
    submit.textContent = "Create role";
    cancel.hidden = true;
    slugField.label.hidden = false;
    for (const control of [name.control, slugField.control, description.control]) control.value = "";
    for (const control of Object.values(scopes)) control.value = "";
  }

  function edit(role) {
    editing = role.slug;
    heading.textContent = `Edit role ${role.name}`;
    submit.textContent = "Save role";
    cancel.hidden = false;
    slugField.label.hidden = true;
    name.control.value = role.name;
    description.control.value = role.description || "";
    for (const [permission, control] of Object.entries(scopes)) control.value = role.permissions[permission] || "";
    name.control.focus();
  }

  onSubmit(form, formBox, async () => {
    const permissions = {};
    for (const [permission, control] of Object.entries(scopes)) if (control.value) permissions[permission] = control.value;
    const body = { name: name.control.value, description: description.control.value, permissions };
    if (editing) {
      const saved = await api("PUT", `${orgPath(slug)}/roles/${enc(editing)}`, { body });
      done.textContent = `Role ${saved.name} saved.`;
    } else {
      if (slugField.control.value) body.slug = slugField.control.value;
      const created = await api("POST", `${orgPath(slug)}/roles`, { body });
      done.textContent = `Role ${created.name} created (${created.slug}).`;
    }
    reset();
    await load();
  });

  async function load() {
    const roles = (await api("GET", `${orgPath(slug)}/roles`)).data;
    custom.replaceChildren(
      roles.length
        ? table(
            ["Role", "Slug", "Description", "Permissions", ""],
            roles.map((role) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, role.name),
                h("td", {}, h("code", {}, role.slug)),
                h("td", {}, role.description || "—"),
                h("td", {}, describePermissions(role.permissions)),
                h(
                  "td",
                  {},
                  manage
                    ? h(
                        "div",
                        { class: "actions" },
                        button("Edit", () => edit(role), { class: "secondary outline", "aria-label": `Edit role ${role.name}` }),
                        button(
                          "Delete",
                          act(box, async () => {
                            if (!confirm(`Delete the role ${role.name}?`)) return;
                            await api("DELETE", `${orgPath(slug)}/roles/${enc(role.slug)}`);
                            done.textContent = `Role ${role.name} deleted.`;
                            if (editing === role.slug) reset();
                            await load();
                          }),
                          { class: "secondary outline", "aria-label": `Delete role ${role.name}` },
                        ),
                      )
                    : "",
                ),
              ),
            ),
            "Custom roles",
          )
        : h("p", { class: "muted" }, "No custom role yet."),
    );
  }

  render(
    "Roles",
    header,
    box,
    done,
    h("h2", {}, "Custom roles"),
    custom,
    manage ? h("article", {}, heading, form) : h("p", { class: "muted" }, "Only members holding roles.manage create or change roles."),
    h("h2", {}, "Built-in roles"),
    table(
      ["Role", "Permissions"],
      catalog.roles.map((role) => h("tr", {}, h("th", { scope: "row" }, role.name), h("td", {}, describePermissions(role.permissions)))),
      "Built-in roles (fixed)",
    ),
  );
  await load();
}

// --------------------------------------------------------------------------- single sign-on and SCIM

// A role a single sign-on's first sign-in gives: a built-in one but owner, or a custom role.
async function defaultRoleSelect(slug, current) {
  const customRoles = (await api("GET", `${orgPath(slug)}/roles`)).data;
  const choice = select("Default role", [["viewer", "Viewer"], ["developer", "Developer"], ["admin", "Admin"], ...customRoles.map((r) => [r.slug, r.name])]);
  choice.control.value = current || "viewer";
  return choice;
}

async function ssoPage(slug) {
  const { header, can } = await orgHeader(slug, "Single sign-on");
  const box = alertBox();
  const done = statusBox();
  const sections = [];
  if (can("sso.manage")) sections.push(await oidcSection(slug, done), await samlSection(slug, done));
  else sections.push(h("p", { class: "muted" }, "Only owners configure single sign-on."));
  if (can("scim.manage")) sections.push(scimSection(slug, done));
  render("Single sign-on", header, box, done, sections);
  for (const section of sections) if (section.load) await section.load();
}

function configView(rows) {
  return h("dl", {}, rows.filter(([, value]) => value).flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

async function oidcSection(slug, done) {
  const path = `${orgPath(slug)}/sso/oidc`;
  const config = await optional(path);
  const box = alertBox();
  const issuer = field("Issuer", { type: "url", required: true, placeholder: "https://login.example.com", value: config ? config.issuer : "" });
  const clientId = field("Client ID", { required: true, autocomplete: "off", value: config ? config.client_id : "" });
  const clientSecret = field("Client secret", { type: "password", required: true, autocomplete: "new-password", "aria-describedby": "oidc-secret-help" });
  const domains = field("Email domains", { required: true, placeholder: "example.com, example.org", value: config ? config.domains.join(", ") : "" });
  const role = await defaultRoleSelect(slug, config && config.default_role);
  const view = h("div", {});
  const show = (c) =>
    view.replaceChildren(
      c
        ? configView([
            ["Redirect URI (register it at the issuer)", h("code", {}, c.redirect_uri)],
            ["Client secret", c.client_secret_set ? "set (sealed; never shown back)" : "not set"],
            ["Updated", when(c.updated_at || c.created_at)],
          ])
        : h("p", { class: "muted" }, "Not configured."),
    );
  const remove = button(
    "Remove OpenID Connect",
    act(box, async () => {
      if (!confirm("Remove the OpenID Connect sign-in? Members stay.")) return;
      await api("DELETE", path);
      done.textContent = "OpenID Connect sign-in removed.";
      remove.hidden = true;
      show(null);
    }),
    { class: "secondary outline", hidden: !config },
  );
  const form = h(
    "form",
    { "aria-label": "OpenID Connect" },
    issuer.label,
    h("div", { class: "grid" }, clientId.label, clientSecret.label),
    h("small", { id: "oidc-secret-help", class: "muted" }, "Entered on every save: it is sealed and never shown back."),
    h("div", { class: "grid" }, domains.label, role.label),
    box,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save OpenID Connect"), remove),
  );
  onSubmit(form, box, async () => {
    const saved = await api("PUT", path, {
      body: { issuer: issuer.control.value, client_id: clientId.control.value, client_secret: clientSecret.control.value, domains: commaList(domains.control.value), default_role: role.control.value },
    });
    clientSecret.control.value = "";
    done.textContent = "OpenID Connect sign-in saved.";
    remove.hidden = false;
    show(saved);
  });
  show(config);
  return h("article", {}, h("h2", {}, "OpenID Connect"), view, form);
}

async function samlSection(slug, done) {
  const path = `${orgPath(slug)}/sso/saml`;
  const config = await optional(path);
  const box = alertBox();
  const entity = field("IdP entity ID", { required: true, value: config ? config.idp_entity_id : "" });
  const ssoUrl = field("IdP sign-in URL", { type: "url", required: true, placeholder: "https://idp.example.com/sso/saml", value: config ? config.idp_sso_url : "" });
  const cert = field("IdP signing certificate", { rows: 4, required: true, spellcheck: "false", placeholder: "-----BEGIN CERTIFICATE-----" }, "textarea");
  if (config) cert.control.value = config.idp_x509_cert;
  const domains = field("Email domains", { required: true, placeholder: "example.com", value: config ? config.domains.join(", ") : "" });
  const role = await defaultRoleSelect(slug, config && config.default_role);
  const view = h("div", {});
  const show = (c) =>
    view.replaceChildren(
      c
        ? configView([
            ["SP entity ID", h("code", {}, c.sp_entity_id)],
            ["ACS URL", h("code", {}, c.acs_url)],
            ["Metadata", h("a", { href: c.metadata_url }, "Service provider metadata (XML)")],
          ])
        : h("p", { class: "muted" }, "Not configured."),
    );
  const remove = button(
    "Remove SAML",
    act(box, async () => {
      if (!confirm("Remove the SAML sign-in? Members stay.")) return;
      await api("DELETE", path);
      done.textContent = "SAML sign-in removed.";
      remove.hidden = true;
      show(null);
    }),
    { class: "secondary outline", hidden: !config },
  );
  const form = h(
    "form",
    { "aria-label": "SAML" },
    h("div", { class: "grid" }, entity.label, ssoUrl.label),
    cert.label,
    h("div", { class: "grid" }, domains.label, role.label),
    box,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save SAML"), remove),
  );
  onSubmit(form, box, async () => {
    const saved = await api("PUT", path, {
      body: { idp_entity_id: entity.control.value, idp_sso_url: ssoUrl.control.value, idp_x509_cert: cert.control.value, domains: commaList(domains.control.value), default_role: role.control.value },
    });
    done.textContent = "SAML sign-in saved.";
    remove.hidden = false;
    show(saved);
  });
  show(config);
  return h("article", {}, h("h2", {}, "SAML 2.0"), view, form);
}

function scimSection(slug, done) {
  const path = `${orgPath(slug)}/scim/tokens`;
  const box = alertBox();
  const list = h("div", {});
  const shown = h("div", {});
  const name = field("SCIM token name", { required: true, maxlength: 100 });
  const form = h("form", { "aria-label": "New SCIM token" }, name.label, box, h("button", { type: "submit" }, "Create SCIM token"));
  async function load() {
    const tokens = (await api("GET", `${path}?limit=100`)).data;
    list.replaceChildren(
      tokens.length
        ? table(
            ["Name", "Created", "Last used", ""],
            tokens.map((t) =>
              h(
                "tr",
                {},
                h("td", {}, t.name),
                h("td", {}, when(t.created_at)),
                h("td", {}, when(t.last_used_at)),
                h(
                  "td",
                  {},
                  button(
                    "Revoke",
                    act(box, async () => {
                      if (!confirm(`Revoke the SCIM token ${t.name}?`)) return;
                      await api("DELETE", `${path}/${enc(t.id)}`);
                      done.textContent = `SCIM token ${t.name} revoked.`;
                      await load();
                    }),
                    { class: "secondary outline", "aria-label": `Revoke SCIM token ${t.name}` },
                  ),
                ),
              ),
            ),
            "SCIM tokens",
          )
        : h("p", { class: "muted" }, "No SCIM token yet."),
    );
  }
  onSubmit(form, box, async () => {
    const created = await api("POST", path, { body: { name: name.control.value } });
    shown.replaceChildren(shownOnce("SCIM token", created.token, `Give it to your identity provider's SCIM app, with the base URL ${location.origin}/scim/v2.`));
    name.control.value = "";
    await load();
  });
  const section = h("article", {}, h("h2", {}, "SCIM provisioning"), list, form, shown);
  section.load = load;
  return section;
}

// --------------------------------------------------------------------------- governance

function duration(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

// Names for the ids governance items carry: projects, environments, members.
async function orgNames(slug) {
  const [projects, members] = await Promise.all([api("GET", `${orgPath(slug)}/projects?limit=500`), api("GET", `${orgPath(slug)}/members?limit=500`)]);
  const names = {};
  for (const p of projects.data) {
    names[p.id] = p.name;
    for (const e of p.environments || []) names[e.id] = e.name;
  }
  for (const m of members.data) names[m.user_id] = m.email;
  const name = (id) => (me && id === me.id ? `${me.email} (you)` : names[id] || id);
  return { projects: projects.data, name };
}

// Approval policies, access requests and change requests of an org.
async function governancePage(slug) {
  const { header, can } = await orgHeader(slug, "Governance");
  const { projects, name } = await orgNames(slug);
  const box = alertBox();
  const done = statusBox();
  const policies = h("div", {});
  const requests = h("div", {});
  const changes = h("div", {});
  const where = (item) => `${name(item.project_id)} / ${name(item.environment_id)}`;

  async function loadPolicies() {
    const list = (await api("GET", `${orgPath(slug)}/approval-policies?limit=100`)).data;
    policies.replaceChildren(
      list.length
        ? table(
            ["Policy", "Project", "Environments", "Applies to", "Approvals", "Approvers", ""],
            list.map((p) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, p.name),
                h("td", {}, name(p.project_id)),
                h("td", {}, p.environment_ids.map(name).join(", ")),
                h("td", {}, p.applies_to.map((a) => (a === "changes" ? "changes" : "access requests")).join(", ")),
                h("td", {}, String(p.approvals_required)),
                h("td", {}, p.approvers.map(name).join(", ")),
                h(
                  "td",
                  {},
                  can("policies.manage")
                    ? button(
                        "Delete",
                        act(box, async () => {
                          if (!confirm(`Delete the policy ${p.name}?`)) return;
                          await api("DELETE", `${orgPath(slug)}/approval-policies/${enc(p.id)}`);
                          done.textContent = `Policy ${p.name} deleted.`;
                          await loadPolicies();
                        }),
                        { class: "secondary outline", "aria-label": `Delete policy ${p.name}` },
                      )
                    : "",
                ),
              ),
            ),
            "Approval policies",
          )
        : h("p", { class: "muted" }, "No approval policy: nothing waits for approval."),
    );
  }

  function decide(kind, item, verb, label) {
    return button(
      label,
      act(box, async () => {
        let body = {};
        if (verb === "reject") {
          const reason = prompt("Why is it rejected?");
          if (reason === null) return;
          body = { reason };
        }
        await api("POST", `${orgPath(slug)}/${kind}/${enc(item.id)}/${verb}`, verb === "cancel" ? {} : { body });
        done.textContent = `${kind === "access-requests" ? "Access request" : "Change request"} ${item.id}: ${{ approve: "approved", reject: "rejected", cancel: "cancelled" }[verb]}.`;
        await (kind === "access-requests" ? loadRequests() : loadChanges());
      }),
      { class: verb === "approve" ? "" : "secondary outline", "aria-label": `${label} the request of ${name(item.requester_id || item.author_id)}` },
    );
  }

  async function loadRequests() {
    const list = (await api("GET", `${orgPath(slug)}/access-requests?limit=100`)).data;
    requests.replaceChildren(
      list.length
        ? table(
            ["Requester", "Where", "Permission", "For", "Reason", "Status", ""],
            list.map((r) =>
              h(
                "tr",
                {},
                h("td", {}, name(r.requester_id)),
                h("td", {}, where(r)),
                h("td", {}, h("code", {}, r.permission)),
                h("td", {}, duration(r.duration_seconds)),
                h("td", {}, r.reason),
                h("td", {}, r.status, r.status === "approved" && r.grant_expires_at ? [" until ", when(r.grant_expires_at)] : "", r.decision_reason ? ` (${r.decision_reason})` : ""),
                h(
                  "td",
                  {},
                  r.status !== "pending"
                    ? ""
                    : me && r.requester_id === me.id
                      ? decide("access-requests", r, "cancel", "Cancel")
                      : h("div", { class: "actions" }, decide("access-requests", r, "approve", "Approve"), decide("access-requests", r, "reject", "Reject")),
                ),
              ),
            ),
            "Access requests, newest first",
          )
        : h("p", { class: "muted" }, "No access request."),
    );
  }

  async function loadChanges() {
    const list = (await api("GET", `${orgPath(slug)}/change-requests?limit=100`)).data;
    changes.replaceChildren(
      list.length
        ? table(
            ["Change request", "Author", "Where", "Keys", "Status", "Opened"],
            list.map((c) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/orgs/${enc(slug)}/change-requests/${enc(c.id)}`, "aria-label": `Change request ${c.id}` }, h("code", {}, c.id))),
                h("td", {}, name(c.author_id)),
                h("td", {}, where(c)),
                h("td", {}, c.changes.map((ch) => ch.key).join(", ")),
                h("td", {}, c.status),
                h("td", {}, when(c.created_at)),
              ),
            ),
            "Change requests, newest first",
          )
        : h("p", { class: "muted" }, "No change request."),
    );
  }

  // Asking for access: a timed permission on one environment, decided by the policy's approvers.
  const askBox = alertBox();
  const project = select("Project", projects.map((p) => [p.slug, p.name]));
  const env = select("Environment", []);
  const fill = () => {
    const chosen = projects.find((p) => p.slug === project.control.value);
    env.control.replaceChildren(...(chosen ? chosen.environments : []).map((e) => h("option", { value: e.slug }, e.name)));
  };
  project.control.addEventListener("change", fill);
  fill();
  const permission = select("Permission", [["secrets.read", "Read secrets"], ["secrets.write", "Write secrets"]]);
  const hours = field("Hours", { type: "number", min: 1, max: 720, value: 1, required: true });
  const reason = field("Reason", { required: true, maxlength: 1000 });
  const ask = h(
    "form",
    { "aria-label": "Request access" },
    h("div", { class: "grid" }, project.label, env.label, permission.label, hours.label),
    reason.label,
    askBox,
    h("button", { type: "submit" }, "Request access"),
  );
  onSubmit(ask, askBox, async () => {
    await api("POST", `${orgPath(slug)}/access-requests`, {
      body: { project: project.control.value, environment: env.control.value, permission: permission.control.value, duration_seconds: Math.round(Number(hours.control.value) * 3600), reason: reason.control.value },
    });
    done.textContent = "Access requested: its approvers are told.";
    reason.control.value = "";
    await loadRequests();
  });

  // A new approval policy (policies.manage).
  const policyBox = alertBox();
  const policyName = field("Policy name", { required: true, maxlength: 100 });
  const policyProject = select("Project", projects.map((p) => [p.slug, p.name]));
  const envs = field("Environments", { required: true, value: "production", "aria-describedby": "policy-envs-help" });
  const forRequests = h("input", { type: "checkbox", id: `f${++fieldCount}`, checked: true });
  const forChanges = h("input", { type: "checkbox", id: `f${++fieldCount}` });
  const approvals = field("Approvals required", { type: "number", min: 1, max: 10, value: 1, required: true });
  const approvers = field("Approvers", { required: true, value: "admin", "aria-describedby": "policy-approvers-help" });
  const selfApproval = h("input", { type: "checkbox", id: `f${++fieldCount}`, role: "switch" });
  const bypass = h("input", { type: "checkbox", id: `f${++fieldCount}`, role: "switch", checked: true });
  const policyForm = h(
    "form",
    { "aria-label": "New approval policy" },
    h("div", { class: "grid" }, policyName.label, policyProject.label),
    envs.label,
    h("small", { id: "policy-envs-help", class: "muted" }, "Comma-separated environment slugs, e.g. production"),
    h(
      "fieldset",
      {},
      h("legend", {}, "Applies to"),
      h("label", { for: forRequests.id }, forRequests, "Access requests"),
      h("label", { for: forChanges.id }, forChanges, "Changes to secrets"),
    ),
    h("div", { class: "grid" }, approvals.label, approvers.label),
    h("small", { id: "policy-approvers-help", class: "muted" }, "Comma-separated role slugs (e.g. admin) or user IDs"),
    h(
      "fieldset",
      {},
      h("label", { for: selfApproval.id }, selfApproval, "Requesters may approve their own"),
      h("label", { for: bypass.id }, bypass, "Owners' own writes bypass it"),
    ),
    policyBox,
    h("button", { type: "submit" }, "Create policy"),
  );
  onSubmit(policyForm, policyBox, async () => {
    const appliesTo = [forRequests.checked ? "access_requests" : null, forChanges.checked ? "changes" : null].filter(Boolean);
    if (!appliesTo.length) {
      policyBox.textContent = "Choose what the policy applies to.";
      return;
    }
    const created = await api("POST", `${orgPath(slug)}/approval-policies`, {
      body: {
        name: policyName.control.value,
        project: policyProject.control.value,
        environments: commaList(envs.control.value),
        applies_to: appliesTo,
        approvals_required: Number(approvals.control.value),
        approvers: commaList(approvers.control.value),
        allow_self_approval: selfApproval.checked,
        owner_bypass: bypass.checked,
      },
    });
    done.textContent = `Policy ${created.name} created.`;
    policyName.control.value = "";
    await loadPolicies();
  });

  render(
    "Governance",
    header,
    box,
    done,
    h("h2", {}, "Access requests"),
    requests,
    projects.length ? h("details", {}, h("summary", {}, "Ask for access"), ask) : null,
    h("h2", {}, "Change requests"),
    changes,
    h("h2", {}, "Approval policies"),
    policies,
    can("policies.manage") && projects.length ? h("details", {}, h("summary", {}, "New approval policy"), policyForm) : null,
  );
  await Promise.all([loadRequests(), loadChanges(), loadPolicies()]);
}

// One change request: what it changes (keys, actions and versions, never values), its approvals
// and comments; approved or rejected by approvers, applied by its author once approved.
async function changeRequestPage(slug, id) {
  const { org, header } = await orgHeader(slug, "Governance");
  const { name } = await orgNames(slug);
  const path = `${orgPath(slug)}/change-requests/${enc(id)}`;
  setCrumbs([["Organizations", "#/"], [org.name, `#/orgs/${enc(org.slug)}`], ["Governance", `#/orgs/${enc(org.slug)}/governance`], [id, location.hash]]);
  const box = alertBox();
  const done = statusBox();
  const body = h("div", {});
  const verb = { create: "added", update: "changed", delete: "deleted" };

  function show(cr) {
    const mine = me && cr.author_id === me.id;
    const post = (what, label, payload, extra = {}) =>
      button(
        label,
        act(box, async () => {
          let sent = payload;
          if (what === "reject") {
            const reason = prompt("Why is it rejected?");
            if (reason === null) return;
            sent = { reason };
          }
          const answer = await api("POST", `${path}/${what}`, sent === undefined ? {} : { body: sent });
          done.textContent = { approve: "Approved.", reject: "Rejected.", apply: `Applied: the environment is at revision ${answer.applied_revision}.` }[what];
          show(answer);
        }),
        extra,
      );
    const actions = [];
    if (cr.status === "open" && !mine) actions.push(post("approve", "Approve", { comment: "" }), post("reject", "Reject", undefined, { class: "secondary outline" }));
    if (cr.status === "approved" && mine) actions.push(post("apply", "Apply"));
    const commentBox = alertBox();
    const comment = field("Comment", { rows: 2, required: true, maxlength: 1000 }, "textarea");
    const form = h("form", { "aria-label": "Add a comment" }, comment.label, commentBox, h("button", { type: "submit", class: "secondary" }, "Add comment"));
    onSubmit(form, commentBox, async () => {
      show(await api("POST", `${path}/comments`, { body: { body: comment.control.value } }));
    });
    const parts = [
      h("p", {}, `${cr.status} · ${name(cr.project_id)} / ${name(cr.environment_id)} · by ${name(cr.author_id)} · opened `, when(cr.created_at), cr.status === "open" ? [" · decided by ", when(cr.expires_at)] : ""),
      cr.decision_reason ? h("p", {}, `Reason: ${cr.decision_reason}`) : null,
      table(
        ["Key", "Change", "Version"],
        cr.changes.map((c) => h("tr", {}, h("th", { scope: "row" }, h("code", {}, c.key)), h("td", {}, verb[c.action] || c.action), h("td", {}, `${c.old_version === null ? "new" : `v${c.old_version}`} → v${c.new_version}`))),
        `Changes (values are never shown here) on revision ${cr.base_revision}`,
      ),
      actions.length ? h("div", { class: "actions" }, actions) : null,
      h("h3", {}, "Approvals"),
      cr.approvals.length
        ? h("ul", {}, cr.approvals.map((a) => h("li", {}, `${name(a.user_id)} (step ${a.step}${a.bypass ? ", owner bypass" : ""}) `, when(a.at), a.comment ? `: ${a.comment}` : "")))
        : h("p", { class: "muted" }, `None yet; ${cr.steps.map((s) => `${s.approvals_required} of ${s.approvers.map(name).join(", ")}`).join(", then ")}.`),
      h("h3", {}, "Comments"),
      cr.comments.length ? h("ul", {}, cr.comments.map((c) => h("li", {}, h("strong", {}, name(c.user_id)), " ", when(c.at), ": ", c.body))) : h("p", { class: "muted" }, "No comment."),
      form,
    ];
    body.replaceChildren(...parts.filter(Boolean));
  }

  render(`Change request ${id}`, header, h("h2", {}, "Change request ", h("code", {}, id)), box, done, body);
  show(await api("GET", path));
}

// --------------------------------------------------------------------------- pages mail and devices link to

async function devicePage() {
  setCrumbs([]);
  const params = new URLSearchParams(location.search);
  const box = alertBox();
  const done = statusBox();
  const code = field("Code", { required: true, autocomplete: "off", value: params.get("user_code") || "", placeholder: "BCDF-GHJK" });
  const decide = (deny) => async () => {
    box.textContent = "";
    done.textContent = "";
    if (!code.control.value) {
      box.textContent = "Enter the code the device shows.";
      return;
    }
    try {
      await api("POST", "/v1/auth/device/approve", { body: { user_code: code.control.value, deny } });
      done.textContent = deny ? "Denied: the device is not signed in." : `Approved: the device is signed in as ${me.email}. You can close this page.`;
      form.hidden = true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return signIn();
      showError(box, err);
    }
  };
  const form = h(
    "form",
    { "aria-label": "Device login" },
    h("p", {}, "A device (the Strongroom CLI) asks to sign in as you. Approve only if the code matches the one it shows."),
    code.label,
    h("div", { class: "actions" }, button("Approve", decide(false)), button("Deny", decide(true), { class: "secondary" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    decide(false)();
  });
  render("Device login", h("article", {}, h("h1", {}, "Device login"), form, box, done));
}

async function verifyEmailPage() {
  setCrumbs([]);
  const token = new URLSearchParams(location.search).get("token") || "";
  const box = alertBox();
  const done = statusBox();
  const go = button("Verify email", async () => {
    box.textContent = "";
    try {
      await api("POST", "/v1/auth/verify-email", { body: { token } });
      done.textContent = "Your email address is verified.";
      go.hidden = true;
    } catch (err) {
      showError(box, err);
    }
  });
  render("Verify email", h("article", {}, h("h1", {}, "Verify your email"), token ? go : h("p", {}, "This link has no token."), box, done, h("p", {}, h("a", { href: "/#/" }, "Go to the console"))));
}

async function resetPasswordPage() {
  setCrumbs([]);
  const token = new URLSearchParams(location.search).get("token") || "";
  const box = alertBox();
  const done = statusBox();
  const password = field("New password", { type: "password", required: true, minlength: 12, autocomplete: "new-password" });
  const form = h("form", { "aria-label": "Reset password" }, password.label, box, h("button", { type: "submit" }, "Reset password"));
  onSubmit(form, box, async () => {
    await api("POST", "/v1/auth/reset-password", { body: { token, new_password: password.control.value } });
    form.hidden = true;
    done.textContent = "Your password is changed; sign in with it.";
  });
  render("Reset password", h("article", {}, h("h1", {}, "Choose a new password"), form, done, h("p", {}, h("a", { href: "/#/" }, "Sign in"))));
}

// --------------------------------------------------------------------------- routing

const ROUTES = [
  [/^\/?$/, orgsPage],
  [/^\/orgs\/([^/]+)$/, orgPage],
  [/^\/orgs\/([^/]+)\/members$/, membersPage],
  [/^\/orgs\/([^/]+)\/tokens$/, tokensPage],
  [/^\/orgs\/([^/]+)\/shared-secrets$/, sharedSecretsPage],
  [/^\/orgs\/([^/]+)\/integrations$/, integrationsPage],
  [/^\/orgs\/([^/]+)\/webhooks$/, webhooksPage],
  [/^\/orgs\/([^/]+)\/webhooks\/([^/]+)$/, webhookPage],
  [/^\/orgs\/([^/]+)\/audit$/, auditPage],
  [/^\/account$/, accountPage],
  [/^\/orgs\/([^/]+)\/roles$/, rolesPage],
  [/^\/orgs\/([^/]+)\/sso$/, ssoPage],
  [/^\/orgs\/([^/]+)\/governance$/, governancePage],
  [/^\/orgs\/([^/]+)\/change-requests\/([^/]+)$/, changeRequestPage],
  [/^\/orgs\/([^/]+)\/projects\/([^/]+)$/, projectPage],
  [/^\/orgs\/([^/]+)\/projects\/([^/]+)\/environments\/([^/]+)$/, environmentPage],
  [/^\/orgs\/([^/]+)\/projects\/([^/]+)\/environments\/([^/]+)\/secrets\/([^/]+)$/, secretPage],
];

async function route() {
  navigation += 1;
  if (location.pathname === "/verify-email") return verifyEmailPage();
  if (location.pathname === "/reset-password") return resetPasswordPage();
  if (!me) return signIn();
  if (location.pathname === "/device") return devicePage();
  const [path, search] = location.hash.replace(/^#/, "").split("?");
  try {
    for (const [pattern, page] of ROUTES) {
      const match = pattern.exec(path);
      if (match) {
        const args = match.slice(1).map(decodeURIComponent);
        return await page(...args, new URLSearchParams(search || ""));
      }
    }
    render("Not found", h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Organizations")));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signIn();
    const box = alertBox();
    showError(box, err);
    render(err instanceof ApiError && err.status === 404 ? "Not found" : "Error", h("h1", {}, err instanceof ApiError && err.status === 404 ? "Not found" : "Something went wrong"), box, h("p", {}, h("a", { href: "#/" }, "Organizations")));
  }
}

window.addEventListener("hashchange", () => route());
loadMe()
  .then(route)
  .catch(() => signIn());
