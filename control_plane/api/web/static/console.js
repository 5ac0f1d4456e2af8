// The admin console's script: sign in and out, confirmations, calls to the JSON API with the
// session cookie and the page's CSRF token, the live job log, the quarantine list.
// Values from the server are only ever set as text (textContent), never as HTML.
"use strict";
(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const problem = document.getElementById("problem");
  const notice = document.getElementById("notice");

  function showProblem(text) {
    problem.textContent = text;
    problem.hidden = false;
    problem.focus();  // the keyboard user lands on what went wrong
  }
  function clearProblem() { problem.hidden = true; problem.textContent = ""; }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (method !== "GET") { headers["X-CSRF-Token"] = csrf; }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    const response = await fetch(path, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) { data = await response.json(); }
    if (!response.ok) {
      const err = data && data.error ? data.error : { code: String(response.status), message: response.statusText };
      if (response.status === 401) { location.reload(); }
      throw new Error(err.code + ": " + err.message);
    }
    return data;
  }

  function confirmAction(text) {
    const dialog = document.getElementById("confirm");
    document.getElementById("confirm-text").textContent = text;
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () { resolve(dialog.returnValue === "ok"); }, { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
  }

  function showSecrets(keys) {
    const dialog = document.getElementById("secret");
    const box = document.getElementById("secret-values");
    box.textContent = "";
    keys.forEach(function (k, i) {
      const id = "secret-" + i;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = "Vendor key " + k.key_id + " (" + k.scopes.join(", ") + ")";
      const out = document.createElement("input");
      out.id = id; out.readOnly = true; out.value = k.key; out.className = "secret-value";
      out.spellcheck = false;
      box.append(label, out);
    });
    dialog.addEventListener("close", function () { location.reload(); }, { once: true });
    dialog.showModal();
    const first = box.querySelector("input");
    if (first) { first.focus(); first.select(); }
  }

  function bodyOf(form) {
    const kind = form.dataset.body || "";
    if (kind === "create") {
      const body = { slug: form.slug.value.trim(), display_name: form.display_name.value.trim(),
                     provider: form.provider.value };
      const config = form.config.value.trim();
      if (config) { body.config = JSON.parse(config); }
      return body;
    }
    if (kind.startsWith("json:")) { return JSON.parse(form.elements[kind.slice(5)].value); }
    if (kind === "key") {
      const scopes = Array.from(form.querySelectorAll('input[name="scopes"]:checked')).map(function (c) { return c.value; });
      const body = { scopes: scopes };
      if (form.label.value.trim()) { body.label = form.label.value.trim(); }
      return body;
    }
    return undefined;
  }

  async function submitAction(form) {
    clearProblem();
    let body;
    try { body = bodyOf(form); } catch (e) { showProblem("Not valid JSON: " + e.message); return; }
    if (form.dataset.confirm && !(await confirmAction(form.dataset.confirm))) { return; }
    const buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    try {
      const data = await api(form.dataset.method || "POST", form.dataset.api, body);
      const then = form.dataset.then;
      if (then === "secret") {
        showSecrets(data.vendor_keys ? data.vendor_keys : [data]);
      } else if (then === "open-tenant") {
        location.assign("/tenant?slug=" + encodeURIComponent(data.slug));
      } else {
        notice.textContent = "Done.";
        location.reload();
      }
    } catch (e) {
      showProblem(e.message);
    } finally {
      buttons.forEach(function (b) { b.disabled = false; });
    }
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.id === "sign-in") {
      event.preventDefault();
      clearProblem();
      fetch("/console/session", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ token: form.token.value }),
      }).then(async function (response) {
        if (response.ok) { location.reload(); return; }
        const data = await response.json().catch(function () { return null; });
        const err = data && data.error ? data.error : { code: String(response.status), message: "" };
        showProblem(err.code + ": " + err.message);
        form.token.focus();
      });
      return;
    }
    if (form.dataset.api) { event.preventDefault(); submitAction(form); }
  });

  const signOut = document.getElementById("sign-out");
  if (signOut) {
    signOut.addEventListener("click", function () {
      fetch("/console/session/end", { method: "POST", credentials: "same-origin",
                                      headers: { "X-CSRF-Token": csrf } })
        .then(function () { location.assign("/"); });
    });
  }

  const verify = document.getElementById("verify-events");
  if (verify) {
    verify.addEventListener("click", async function () {
      const out = document.getElementById("verify-result");
      out.textContent = "Verifying…";
      try {
        const v = await api("GET", verify.dataset.api);
        out.textContent = v.ok ? "Chain verified: " + v.events + " events, head " + v.head_hash
          : "Chain BROKEN at event " + v.first_bad_seq + ": " + v.problem;
        out.className = v.ok ? "ok" : "problem";
      } catch (e) { out.textContent = ""; showProblem(e.message); }
    });
  }

  const loadQuarantine = document.getElementById("load-quarantine");
  if (loadQuarantine) {
    loadQuarantine.addEventListener("click", async function () {
      clearProblem();
      const table = document.getElementById("quarantine");
      const canAct = !!document.querySelector("#quarantine th:nth-child(4)");
      try {
        const data = await api("GET", loadQuarantine.dataset.api);
        const body = table.querySelector("tbody");
        body.textContent = "";
        if (!data.documents.length) {
          const row = body.insertRow(); const cell = row.insertCell();
          cell.colSpan = canAct ? 4 : 3; cell.textContent = "No quarantined document.";
        }
        data.documents.forEach(function (d) {
          const row = body.insertRow();
          [d.document_id, d.name, d.reason || "—"].forEach(function (v) { row.insertCell().textContent = v; });
          if (canAct) {
            const cell = row.insertCell();
            [["release", "Release"], ["purge", "Purge"]].forEach(function (a) {
              const form = document.createElement("form");
              form.className = "action";
              form.dataset.api = table.dataset.base + "/quarantine/" + encodeURIComponent(d.document_id) + "/" + a[0];
              form.dataset.method = "POST";
              form.dataset.then = "reload";
              form.dataset.confirm = a[1] + " document " + d.name + " (" + d.document_id + ")?" +
                (a[0] === "purge" ? " Its bytes are deleted." : " It goes on through the pipeline.");
              const button = document.createElement("button");
              button.type = "submit"; button.textContent = a[1] + " " + d.name;
              if (a[0] === "purge") { button.className = "danger"; }
              form.append(button); cell.append(form);
            });
          }
        });
        table.hidden = false;
      } catch (e) { showProblem(e.message); }
    });
  }

  // The live job log: while the tenant is on its way somewhere (or its last job runs),
  // poll the tenant, its jobs and the last job's log every second.
  const tenant = document.getElementById("tenant");
  if (tenant) {
    const slug = encodeURIComponent(tenant.dataset.slug);
    const transitional = tenant.dataset.transitional.split(" ");
    const startState = tenant.dataset.state;
    const polling = transitional.includes(startState);
    async function poll() {
      try {
        const t = await api("GET", "/v1/tenants/" + slug);
        const state = document.getElementById("tenant-state");
        state.textContent = t.state;
        state.className = "state state-" + t.state.toLowerCase();
        document.getElementById("tenant-endpoint").textContent = t.endpoint || "—";
        const jobs = (await api("GET", "/v1/tenants/" + slug + "/jobs")).jobs;
        if (jobs.length) {
          const log = await api("GET", "/v1/tenants/" + slug + "/jobs/" + encodeURIComponent(jobs[jobs.length - 1].job_id) + "/log");
          const j = log.job;
          document.getElementById("job-summary").textContent =
            j.operation + " job " + j.job_id + ": " + j.status + (j.error ? " — " + j.error : "");
          const steps = document.getElementById("job-steps");
          steps.textContent = "";
          log.steps.forEach(function (s) {
            const li = document.createElement("li");
            li.textContent = s.step + ": " + s.status + (s.message ? " — " + s.message : "");
            steps.append(li);
          });
          document.getElementById("job-output").textContent = log.output.join("\n");
        }
        if (t.state !== startState) {
          // a new state: the page is drawn again for it (its actions, keys, events)
          document.getElementById("job-live").textContent = "The tenant is " + t.state + ".";
          setTimeout(function () { location.reload(); }, 1000);
          return;
        }
        document.getElementById("job-live").textContent = "Live: the tenant is " + t.state + "…";
      } catch (e) { showProblem(e.message); }
      setTimeout(poll, 1000);
    }
    if (polling) { poll(); }
  }
})();
