// The vendor page's script: calls the tenant API (/v1/...) with the session cookie and the
// CSRF token. Every text from the server is put in the page as text (textContent), never
// as markup.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const csrfHeader = document.querySelector('meta[name="csrf-header"]').content;
  const FINAL = new Set(["COMPLETED", "COMPLETED_WITH_ERRORS"]);
  const POLL_MS = 2000;
  const polling = new Map();

  function say(message, isError) {
    const status = $("status");
    status.textContent = message;
    status.classList.toggle("error", Boolean(isError));
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell ?? "";
      tr.appendChild(td);
    }
    return tr;
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1048576).toFixed(1)} MiB`;
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  class ApiError extends Error {
    constructor(status, body) {
      const err = body && body.error ? body.error : {};
      super(err.message || `HTTP ${status}`);
      this.status = status;
      this.code = err.code || String(status);
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers[csrfHeader] = csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (response.status === 401) {
      say("Your session has ended. Reloading to sign in again…", true);
      window.setTimeout(() => window.location.assign("/"), 1500);
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function failed(what, err) {
    say(`${what} failed: ${err.code ? err.code + ": " : ""}${err.message}`, true);
  }

  // -- upload -------------------------------------------------------------------------

  async function sha256Hex(file) {
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // As the CLI names them: a file's manifest name is its base name (a name cannot hold
  // "/"); its path below the chosen folder goes in its metadata when it is in a
  // sub-folder. Hidden files and folders (a name starting with ".") are left out.
  function entriesOf(fileList) {
    const entries = [];
    for (const file of fileList) {
      const rel = file.webkitRelativePath || file.name;
      const parts = rel.split("/");
      const below = parts.length > 1 ? parts.slice(1) : parts;
      if (below.some((p) => p.startsWith("."))) continue;
      entries.push({ file, name: file.name, path: below.join("/"), size: file.size });
    }
    return entries;
  }

  // Batches within the tenant's limits, never two files of one name in a batch (the server
  // would refuse it with DUPLICATE_NAME): each file goes to the first batch it fits.
  function splitBatches(entries, maxFiles, maxBytes) {
    const batches = [];
    for (const entry of entries) {
      let batch = batches.find((b) => b.entries.length < maxFiles &&
                                      b.bytes + entry.size <= maxBytes && !b.names.has(entry.name));
      if (!batch) {
        batch = { entries: [], bytes: 0, names: new Set() };
        batches.push(batch);
      }
      batch.entries.push(entry);
      batch.bytes += entry.size;
      batch.names.add(entry.name);
    }
    return batches.map((b) => b.entries);
  }

  function send(form, onProgress, idempotencyKey) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/batches");
      xhr.setRequestHeader(csrfHeader, csrfToken);
      xhr.setRequestHeader("Idempotency-Key", idempotencyKey);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.responseType = "json";
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
      xhr.onload = () => resolve({ status: xhr.status, body: xhr.response,
                                   retryAfter: Number(xhr.getResponseHeader("Retry-After")) });
      xhr.onerror = () => reject(new Error("the connection failed"));
      xhr.send(form);
    });
  }

  function setupUpload() {
    const section = $("upload");
    if (!section) return;
    const maxFiles = Number(section.dataset.maxFiles);
    const maxBytes = Number(section.dataset.maxBytes);
    const maxFileBytes = Number(section.dataset.maxFileBytes);
    const table = $("upload-files");
    const total = $("total-progress");
    const totalText = $("total-text");
    let picked = [];

    $("files").addEventListener("change", (e) => { picked = entriesOf(e.target.files); $("folder").value = ""; });
    $("folder").addEventListener("change", (e) => { picked = entriesOf(e.target.files); $("files").value = ""; });

    $("upload-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!picked.length) { say("Choose files or a folder first.", true); return; }
      const button = $("upload-button");
      button.disabled = true;
      const entries = picked;
      const tbody = table.querySelector("tbody");
      tbody.replaceChildren();
      table.hidden = false;
      const allBytes = entries.reduce((n, e) => n + e.size, 0) || 1;
      let hashed = 0;
      let sent = 0;
      const showTotal = () => {
        total.value = (hashed + sent) / (2 * allBytes);
        totalText.textContent = `${Math.round(total.value * 100)} %`;
      };
      for (const entry of entries) {
        entry.progress = el("progress", null, { max: "1", value: "0",
                                                 "aria-label": `Progress of ${entry.path}` });
        entry.outcome = el("span", "waiting");
        tbody.appendChild(row([entry.path, bytes(entry.size), entry.progress, entry.outcome]));
      }
      try {
        const sendable = [];
        for (const entry of entries) {
          if (entry.size > maxFileBytes) {
            entry.outcome.textContent = `not sent: larger than ${bytes(maxFileBytes)}`;
            hashed += entry.size; sent += entry.size; showTotal();
            continue;
          }
          entry.outcome.textContent = "hashing";
          say(`Hashing ${entry.path}…`);
          entry.sha256 = await sha256Hex(entry.file);
          hashed += entry.size;
          entry.progress.value = 0.5;
          entry.outcome.textContent = "hashed";
          showTotal();
          sendable.push(entry);
        }
        const batches = splitBatches(sendable, maxFiles, maxBytes);
        const ref = $("client-ref").value.trim() || `web upload ${new Date().toISOString()}`;
        for (const [i, batch] of batches.entries()) {
          const clientRef = batches.length > 1 ? `${ref} (part ${i + 1} of ${batches.length})` : ref;
          say(`Sending batch ${i + 1} of ${batches.length} (${batch.length} files)…`);
          await sendBatch(batch, clientRef, (delta) => { sent += delta; showTotal(); });
        }
        say(`Upload done: ${sendable.length} files in ${batches.length} batch(es).`);
        await loadBatches();
      } catch (err) {
        failed("Upload", err);
      } finally {
        button.disabled = false;
      }
    });
  }

  async function sendBatch(batch, clientRef, addSent) {
    const manifest = {
      client_ref: clientRef,
      files: batch.map((e) => ({ name: e.name, sha256: e.sha256, size: e.size,
                                 metadata: e.path !== e.name ? { path: e.path } : {} })),
    };
    const form = new FormData();
    form.append("manifest", new Blob([JSON.stringify(manifest)], { type: "application/json" }));
    for (const e of batch) form.append("files", e.file, e.name);
    const batchBytes = batch.reduce((n, e) => n + e.size, 0);
    const key = crypto.randomUUID();
    for (let attempt = 0; ; attempt += 1) {
      let reported = 0;
      const onProgress = (loaded, totalBytes) => {
        // the body is the manifest, then each file in order: spread what went out over them
        let left = Math.max(0, loaded - (totalBytes - batchBytes));
        for (const e of batch) {
          const part = Math.min(left, e.size);
          left -= part;
          e.progress.value = 0.5 + (e.size ? part / e.size : 1) / 2;
          if (part > 0 && part < e.size) e.outcome.textContent = "sending";
        }
        const now = Math.min(batchBytes, Math.max(0, loaded - (totalBytes - batchBytes)));
        addSent(now - reported);
        reported = now;
      };
      for (const e of batch) e.outcome.textContent = "sending";
      const answer = await send(form, onProgress, key);
      if (answer.status === 429 && attempt < 5) {
        addSent(-reported);
        const wait = Math.max(1, answer.retryAfter || 5);
        say(`The endpoint is busy; trying again in ${wait} s…`);
        await new Promise((r) => window.setTimeout(r, wait * 1000));
        continue;
      }
      if (answer.status !== 202) throw new ApiError(answer.status, answer.body);
      addSent(batchBytes - reported);
      const byName = new Map(answer.body.documents.map((d) => [d.name, d]));
      for (const e of batch) {
        const d = byName.get(e.name);
        e.progress.value = 1;
        e.outcome.textContent = d ? (d.reason ? `${d.status} (${d.reason})` : d.status) : "not in receipt";
      }
      watchBatch(answer.body.batch_id);
      return answer.body;
    }
  }

  // -- batches and reports ----------------------------------------------------------------

  function batchRow(batch) {
    const tr = row([when(batch.received_at), batch.client_ref, String(batch.documents.length),
                    el("span", batch.status, { class: `badge ${batch.status}` })]);
    tr.dataset.batchId = batch.batch_id;
    const td = document.createElement("td");
    const button = el("button", "Show report", { type: "button",
                                                 "aria-label": `Show report of ${batch.client_ref}` });
    button.addEventListener("click", () => showReport(batch.batch_id));
    td.appendChild(button);
    tr.appendChild(td);
    return tr;
  }

  function putBatch(batch) {
    const tbody = $("batch-table") && $("batch-table").querySelector("tbody");
    if (!tbody) return;
    const fresh = batchRow(batch);
    const old = tbody.querySelector(`tr[data-batch-id="${CSS.escape(batch.batch_id)}"]`);
    if (old) old.replaceWith(fresh); else tbody.prepend(fresh);
  }

  async function loadBatches() {
    if (!$("batch-table")) return;
    try {
      const data = await api("GET", "/v1/batches?limit=20");
      $("batch-table").querySelector("tbody").replaceChildren();
      for (const batch of data.batches.slice().reverse()) {
        putBatch(batch);
        if (!FINAL.has(batch.status)) watchBatch(batch.batch_id);
      }
    } catch (err) { failed("Listing batches", err); }
  }

  function watchBatch(batchId) {
    if (!$("batch-table") || polling.has(batchId)) return;
    const tick = async () => {
      try {
        const batch = await api("GET", `/v1/batches/${encodeURIComponent(batchId)}`);
        putBatch(batch);
        if (FINAL.has(batch.status)) {
          polling.delete(batchId);
          say(`Batch ${batch.client_ref}: ${batch.status}.`);
          loadDocuments();
          return;
        }
      } catch (err) {
        if (err.status === 401) return;
      }
      polling.set(batchId, window.setTimeout(tick, POLL_MS));
    };
    polling.set(batchId, window.setTimeout(tick, 0));
  }

  async function showReport(batchId) {
    try {
      const report = await api("GET", `/v1/batches/${encodeURIComponent(batchId)}/report`);
      const base = `/v1/batches/${encodeURIComponent(batchId)}/report?format=`;
      $("report-json").href = `${base}json`;
      $("report-json").setAttribute("download", `report-${batchId}.json`);
      $("report-csv").href = `${base}csv`;
      $("report-csv").setAttribute("download", `report-${batchId}.csv`);
      $("report-html").href = `${base}html`;
      const byStatus = Object.entries(report.counts.by_status).map(([k, v]) => `${v} ${k}`).join(", ");
      $("report-title").textContent = `Acceptance report — ${report.client_ref}`;
      $("report-summary").textContent =
        `${report.status}: ${report.counts.files} files (${byStatus}); ` +
        `${report.counts.chunks} chunks from ${report.counts.pages} pages.`;
      const tbody = $("report-table").querySelector("tbody");
      tbody.replaceChildren();
      for (const d of report.documents) {
        tbody.appendChild(row([d.name, d.status, d.reason || "", d.parser || "",
                               d.pages ?? "", d.chunks ?? "", d.what_to_do || ""]));
      }
      $("report").hidden = false;
      $("report").focus();
    } catch (err) { failed("The report", err); }
  }

  // -- search -------------------------------------------------------------------------------

  function setupSearch() {
    const form = $("search-form");
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const hits = $("hits");
      hits.replaceChildren();
      try {
        const answer = await api("POST", "/v1/search",
                                 { query: $("query").value, top_k: Number($("top-k").value) || 5 });
        if (!answer.hits.length) hits.appendChild(el("li", "No results."));
        for (const hit of answer.hits) {
          const li = el("li", null, { class: "hit" });
          const cite = [hit.document_name];
          if (hit.heading_path && hit.heading_path.length) cite.push(hit.heading_path.join(" › "));
          if (hit.page) cite.push(`page ${hit.page}`);
          if (hit.sheet) cite.push(`sheet ${hit.sheet}`);
          li.appendChild(el("p", cite.join(" — "), { class: "citation" }));
          li.appendChild(el("p", `score ${hit.score.toFixed(3)} · chunk ${hit.chunk_id}`, { class: "meta" }));
          li.appendChild(el("blockquote", hit.text));
          hits.appendChild(li);
        }
        $("proof-json").textContent = JSON.stringify(answer.proof, null, 2);
        $("proof").hidden = false;
        say(`${answer.hits.length} result(s).`);
      } catch (err) { failed("Search", err); }
    });
  }

  // -- documents, erasure, quarantine --------------------------------------------------------

  async function erase(documentId, name) {
    const label = name ? `“${name}” (${documentId})` : documentId;
    if (!window.confirm(`Erase ${label}? Its chunks, vectors and stored files are removed. This cannot be undone.`)) {
      say("Nothing was erased.");
      return;
    }
    try {
      await api("DELETE", `/v1/documents/${encodeURIComponent(documentId)}`);
      say(`Erased ${label}.`);
      await loadDocuments();
    } catch (err) { failed("Erasing", err); }
  }

  async function loadDocuments() {
    const table = $("document-table");
    if (!table) return;
    try {
      const data = await api("GET", "/v1/documents?limit=50");
      const tbody = table.querySelector("tbody");
      tbody.replaceChildren();
      for (const d of data.documents) {
        let action = "";
        if ($("erase-form")) {
          action = el("button", "Erase", { type: "button", "aria-label": `Erase ${d.name}` });
          action.addEventListener("click", () => erase(d.document_id, d.name));
        }
        tbody.appendChild(row([d.name, d.status, d.parser || "", d.page_count ?? "", action]));
      }
    } catch (err) { failed("Listing documents", err); }
  }

  async function loadQuarantine() {
    const table = $("quarantine-table");
    if (!table) return;
    try {
      const data = await api("GET", "/v1/quarantine?limit=50");
      const tbody = table.querySelector("tbody");
      tbody.replaceChildren();
      if (!data.documents.length) tbody.appendChild(row(["Nothing is quarantined.", "", "", "", ""]));
      for (const d of data.documents) {
        tbody.appendChild(row([d.name, d.reason || "", d.detail || d.malware_signature || "",
                               when(d.created_at), el("code", d.document_id)]));
      }
    } catch (err) { failed("Listing the quarantine", err); }
  }

  function on(id, handler) { const node = $(id); if (node) node.addEventListener("click", handler); }

  document.addEventListener("DOMContentLoaded", () => {
    setupUpload();
    setupSearch();
    on("refresh-batches", loadBatches);
    on("refresh-documents", loadDocuments);
    on("refresh-quarantine", loadQuarantine);
    const eraseForm = $("erase-form");
    if (eraseForm) {
      eraseForm.addEventListener("submit", (event) => {
        event.preventDefault();
        erase($("erase-id").value.trim(), null);
      });
    }
    loadBatches();
    loadDocuments();
    loadQuarantine();
  });
})();
