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

async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (method !== "GET") Object.assign(init.headers, CSRF);
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const json = (response.headers.get("content-type") || "").includes("json") && text ? JSON.parse(text) : text;
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

function showError(box, err) {
  box.textContent = err instanceof ApiError ? err.message : "Something went wrong; try again.";
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

function orgNav(org, current) {
  const pages = [
    ["Projects", `#/orgs/${enc(org.slug)}`],
    ["Members", `#/orgs/${enc(org.slug)}/members`],
    ["Service tokens", `#/orgs/${enc(org.slug)}/tokens`],
    ["Webhooks", `#/orgs/${enc(org.slug)}/webhooks`],
    ["Audit log", `#/orgs/${enc(org.slug)}/audit`],
  ];
  return h(
    "nav",
    { "aria-label": "Organization" },
    h("ul", {}, pages.map(([text, href]) => h("li", {}, h("a", { href, "aria-current": text === current ? "page" : false }, text)))),
  );
}

async function orgHeader(slug, current) {
  const org = await api("GET", orgPath(slug));
  const trail = [["Organizations", "#/"], [org.name, `#/orgs/${enc(org.slug)}`]];
  if (current !== "Projects") trail.push([current, location.hash]);
  setCrumbs(trail);
  return { org, header: [h("h1", {}, org.name), orgNav(org, current)] };
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

async function environmentPage(orgSlug, projectSlug, envSlug) {
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
  const client = env.encryption === "client";
  let known = new Set();

  async function load() {
    // Keys and versions only: a value reaches the page when its Reveal is pressed.
    const list = await api("GET", `${path}/secrets?values=false&limit=500`);
    known = new Set(list.data.filter((secret) => !secret.inherited).map((secret) => secret.key));
    rows.replaceChildren(...list.data.map(row));
    if (!list.data.length) rows.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No secret yet.")));
  }

  async function value(key) {
    return (await api("GET", `${path}/secrets/${enc(key)}`)).value;
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
          const answer = await api("DELETE", `${path}/secrets/${enc(secret.key)}`, { headers: { "If-Match": String(secret.version) } });
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
      h("td", {}, h("a", { href: `${here}/secrets/${enc(secret.key)}`, "aria-label": `History of ${secret.key}` }, `v${secret.version}`), " ", h("small", {}, when(secret.updated_at))),
      h("td", {}, h("div", { class: "actions" }, client ? [] : [reveal, copy, edit], remove)),
    );
    return tr;
  }

  function editRow(tr, secret) {
    const formBox = alertBox();
    const valueField = field("Value", { rows: 3, required: true, "aria-label": `Value of ${secret.key}` }, "textarea");
    value(secret.key)
      .then((v) => {
        valueField.control.value = v;
      })
      .catch((err) => showError(formBox, err));
    const form = h(
      "form",
      { "aria-label": `Edit ${secret.key}` },
      valueField.label,
      formBox,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"), button("Cancel", () => load().catch((err) => showError(box, err)), { class: "secondary outline" })),
    );
    onSubmit(form, formBox, async () => {
      try {
        const answer = await api("PUT", `${path}/secrets/${enc(secret.key)}`, {
          body: { value: valueField.control.value },
          headers: { "If-Match": String(secret.version) },
        });
        done.textContent = answer.change_request ? `A change request was opened for ${secret.key}.` : `${secret.key} saved (version ${answer.version}).`;
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) {
          formBox.textContent = `${secret.key} changed since this page loaded; reload to see the new version.`;
          return;
        }
        throw err;
      }
      await load();
    });
    tr.replaceChildren(h("td", { colspan: 4 }, h("strong", {}, secret.key), form));
    valueField.control.focus();
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
    const answer = await api("PUT", `${path}/secrets/${enc(name)}`, { body: { value: val.control.value } });
    done.textContent = answer.change_request ? `A change request was opened for ${name}.` : `${name} added.`;
    key.control.value = "";
    val.control.value = "";
    await load();
  });
  render(
    `${env.name} · ${project.name}`,
    h("h1", {}, env.name, " ", h("small", { class: "muted" }, project.name)),
    env.production ? h("p", {}, h("mark", {}, "Production")) : null,
    client ? h("p", {}, "End-to-end encrypted: values are ciphertext to this page; read and write them with the CLI.") : null,
    box,
    done,
    h(
      "div",
      { class: "overflow-auto" },
      h("table", {}, h("caption", { class: "muted" }, "Secrets"), h("thead", {}, h("tr", {}, ["Key", "Value", "Version", "Actions"].map((t) => h("th", { scope: "col" }, t)))), rows),
    ),
    client ? null : h("article", {}, h("h2", {}, "Add a secret"), add),
  );
  await load();
}

async function secretPage(orgSlug, projectSlug, envSlug, key) {
  const [org, project, env] = await Promise.all([
    api("GET", orgPath(orgSlug)),
    api("GET", projectPath(orgSlug, projectSlug)),
    api("GET", envPath(orgSlug, projectSlug, envSlug)),
  ]);
  const base = `#/orgs/${enc(org.slug)}/projects/${enc(project.slug)}`;
  const envHref = `${base}/environments/${enc(env.slug)}`;
  setCrumbs([["Organizations", "#/"], [org.name, `#/orgs/${enc(org.slug)}`], [project.name, base], [env.name, envHref], [key, location.hash]]);
  const path = `${envPath(orgSlug, projectSlug, envSlug)}/secrets/${enc(key)}`;
  const box = alertBox();
  const done = statusBox();
  const body = h("div", {});
  async function load() {
    const versions = await api("GET", `${path}/versions?limit=500`);
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
                        const answer = await api("POST", `${path}/rollback`, { body: { version: v.version } });
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
  render(`${key} · ${env.name}`, h("h1", {}, h("code", {}, key)), h("p", {}, "History in ", h("a", { href: envHref }, env.name)), box, done, body);
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
  [/^\/orgs\/([^/]+)\/webhooks$/, webhooksPage],
  [/^\/orgs\/([^/]+)\/webhooks\/([^/]+)$/, webhookPage],
  [/^\/orgs\/([^/]+)\/audit$/, auditPage],
  [/^\/orgs\/([^/]+)\/projects\/([^/]+)$/, projectPage],
  [/^\/orgs\/([^/]+)\/projects\/([^/]+)\/environments\/([^/]+)$/, environmentPage],
  [/^\/orgs\/([^/]+)\/projects\/([^/]+)\/environments\/([^/]+)\/secrets\/([^/]+)$/, secretPage],
];

async function route() {
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
        return await (page === auditPage ? page(...args, new URLSearchParams(search || "")) : page(...args));
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
