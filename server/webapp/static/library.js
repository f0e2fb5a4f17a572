// Library: upload with progress, each document's status (polled while it is processed),
// search, delete, and a page per document (where citations lead).
import * as api from "./api.js";
import { formatDate, h, messageOf, nextId, render, toast } from "./dom.js";
import { navigate } from "./app.js";

const POLL_MS = 1500;
const PENDING = new Set(["queued", "processing"]);

function statusText(d) {
  if (d.status === "processing" && d.progress && d.progress.total) {
    return `Processing ${d.progress.done}/${d.progress.total}`;
  }
  if (d.status === "failed") return `Failed${d.error ? `: ${d.error.message}` : ""}`;
  return { queued: "Queued", processing: "Processing", ready: "Ready" }[d.status] || d.status;
}

function statusChip(d) {
  return h("span", { class: `status ${d.status}`, dataset: { status: d.status } }, statusText(d));
}

function size(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

export function libraryView(main) {
  const state = { alive: true, docs: new Map(), timer: null };
  const uploadId = nextId("upload");
  const file = h("input", {
    id: uploadId,
    type: "file",
    name: "file",
    accept: ".pdf,.txt,.md,.markdown,application/pdf,text/plain,text/markdown",
    onchange: () => {
      if (file.files.length) send(file.files[0]);
    },
  });
  const bar = h("progress", { max: "100", value: "0", hidden: true, "aria-label": "Upload progress" });
  const uploadStatus = h("p", { role: "status", class: "muted" });
  const uploadError = h("p", { class: "error", role: "alert" });
  const searchId = nextId("search");
  const query = h("input", { id: searchId, type: "search", name: "q", maxlength: 500, required: true });
  const results = h("div", { "aria-live": "polite" });
  const list = h("ul", { class: "plain docs", "aria-label": "Your documents" });
  const listError = h("p", { class: "error", role: "alert" });

  render(
    main,
    h("h1", {}, "Library"),
    h(
      "section",
      { class: "card", "aria-labelledby": "upload-title" },
      h("h2", { id: "upload-title" }, "Add notes"),
      h("p", { class: "muted" }, "PDF, Markdown or plain text, up to 20 MB. Your mentor cites them in answers."),
      h("label", { for: uploadId }, "Upload document"),
      file,
      bar,
      uploadStatus,
      uploadError,
    ),
    h(
      "section",
      { "aria-labelledby": "search-title" },
      h("h2", { id: "search-title" }, "Search"),
      h(
        "form",
        {
          class: "row",
          role: "search",
          onsubmit: async (event) => {
            event.preventDefault();
            render(results, h("p", { class: "muted" }, "Searching…"));
            try {
              const answer = await api.api(`/documents/search?q=${encodeURIComponent(query.value.trim())}&limit=5`);
              render(
                results,
                answer.items.length
                  ? h(
                      "ol",
                      {},
                      answer.items.map((r) =>
                        h(
                          "li",
                          {},
                          h("a", { href: `/library/${r.document_id}?page=${r.page}`, "data-link": true }, `${r.title}, page ${r.page}`),
                          h("p", { class: "muted" }, r.text.length > 300 ? `${r.text.slice(0, 300)}…` : r.text),
                        ),
                      ),
                    )
                  : h("p", { class: "muted" }, "No passage matches."),
              );
            } catch (err) {
              render(results, h("p", { class: "error" }, messageOf(err)));
            }
          },
        },
        h("label", { for: searchId, class: "grow" }, "Search your library", query),
        h("button", { type: "submit" }, "Search"),
      ),
      results,
    ),
    h("section", { "aria-labelledby": "docs-title" }, h("h2", { id: "docs-title" }, "Your documents"), listError, list),
  );

  async function send(chosen) {
    uploadError.textContent = "";
    bar.hidden = false;
    bar.value = 0;
    uploadStatus.textContent = `Uploading ${chosen.name}…`;
    const form = new FormData();
    form.append("file", chosen);
    try {
      const doc = await api.upload("/documents", form, {
        onProgress: (loaded, total) => {
          const percent = Math.round((100 * loaded) / total);
          bar.value = percent;
          uploadStatus.textContent = `Uploading ${chosen.name}: ${percent}%`;
        },
      });
      bar.value = 100;
      uploadStatus.textContent = `${doc.title} uploaded: ${statusText(doc).toLowerCase()}.`;
      state.docs.set(doc.id, doc);
      draw();
      schedule();
    } catch (err) {
      uploadStatus.textContent = "";
      uploadError.textContent = err.status === 415
        ? "This file type is not supported: upload a PDF, Markdown or plain text file."
        : messageOf(err);
    } finally {
      file.value = "";
      setTimeout(() => { bar.hidden = true; }, 800);
    }
  }

  function draw() {
    const docs = [...state.docs.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    render(
      list,
      docs.length
        ? docs.map((d) => {
            const actions = h("span", { class: "row" });
            const drawDelete = () =>
              render(
                actions,
                h(
                  "button",
                  {
                    type: "button",
                    class: "danger small",
                    "aria-label": `Delete ${d.title}`,
                    onclick: () =>
                      render(
                        actions,
                        h(
                          "button",
                          {
                            type: "button",
                            class: "danger small",
                            onclick: async () => {
                              try {
                                await api.api(`/documents/${d.id}`, { method: "DELETE" });
                                state.docs.delete(d.id);
                                toast(`${d.title} deleted.`);
                                draw();
                              } catch (err) {
                                listError.textContent = messageOf(err);
                              }
                            },
                          },
                          `Yes, delete ${d.title}`,
                        ),
                        h("button", { type: "button", class: "secondary small", onclick: drawDelete }, "Cancel"),
                      ),
                  },
                  "Delete",
                ),
              );
            drawDelete();
            return h(
              "li",
              { dataset: { id: d.id } },
              h(
                "span",
                { class: "grow" },
                h("a", { href: `/library/${d.id}`, "data-link": true }, d.title),
                h("span", { class: "muted" }, ` · ${size(d.size_bytes)}`),
              ),
              statusChip(d),
              actions,
            );
          })
        : h("li", { class: "muted" }, "No documents yet."),
    );
  }

  async function load() {
    try {
      const page = await api.api("/documents?limit=50");
      if (!state.alive) return;
      for (const d of page.items) state.docs.set(d.id, d);
      draw();
      schedule();
    } catch (err) {
      listError.textContent = messageOf(err);
    }
  }

  function schedule() {
    if (state.timer || !state.alive) return;
    if (![...state.docs.values()].some((d) => PENDING.has(d.status))) return;
    state.timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    state.timer = null;
    const pending = [...state.docs.values()].filter((d) => PENDING.has(d.status));
    await Promise.all(
      pending.map(async (d) => {
        try {
          const fresh = await api.api(`/documents/${d.id}`);
          if (fresh.status !== d.status && !PENDING.has(fresh.status)) {
            toast(`${fresh.title}: ${statusText(fresh)}`);
          }
          state.docs.set(d.id, fresh);
        } catch (err) {
          if (err.status === 404) state.docs.delete(d.id);
        }
      }),
    );
    if (!state.alive) return;
    draw();
    schedule();
  }

  load();
  return () => {
    state.alive = false;
    clearTimeout(state.timer);
  };
}

export function documentView(main, params, query) {
  const state = { alive: true, timer: null };
  const page = query.get("page");
  render(main, h("h1", {}, "Document"), h("p", { class: "muted" }, "Loading…"));

  async function load() {
    let d;
    try {
      d = await api.api(`/documents/${params.id}`);
    } catch (err) {
      render(main, h("h1", {}, "Document not found"), h("p", { class: "error" }, messageOf(err)), back());
      return;
    }
    if (!state.alive) return;
    draw(d);
    if (PENDING.has(d.status)) state.timer = setTimeout(load, POLL_MS);
  }

  function back() {
    return h("p", {}, h("a", { href: "/library", "data-link": true }, "Back to your documents"));
  }

  function draw(d) {
    const error = h("p", { class: "error", role: "alert" });
    render(
      main,
      h("h1", {}, d.title),
      page ? h("p", { class: "success" }, `Cited passage: page ${page}.`) : null,
      h(
        "dl",
        { class: "card" },
        h("dt", {}, "Status"), h("dd", {}, statusChip(d)),
        h("dt", {}, "File"), h("dd", {}, `${d.filename} (${d.content_type}, ${size(d.size_bytes)})`),
        h("dt", {}, "Pages and passages"), h("dd", {}, `${d.pages ?? "–"} pages, ${d.chunks ?? "–"} passages`),
        h("dt", {}, "Shared with"), h("dd", {}, d.scope === "personal" ? "Only you" : d.scope === "org" ? "Your organization" : "A study group"),
        h("dt", {}, "Added"), h("dd", {}, formatDate(d.created_at)),
      ),
      error,
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                const res = await api.api(`/documents/${d.id}/file`, { raw: true });
                const url = URL.createObjectURL(await res.blob());
                const a = h("a", { href: url, download: d.filename, hidden: true });
                document.body.append(a);
                a.click();
                a.remove();
                setTimeout(() => URL.revokeObjectURL(url), 10_000);
              } catch (err) {
                error.textContent = messageOf(err);
              }
            },
          },
          "Download",
        ),
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: async () => {
              try {
                await api.api(`/documents/${d.id}`, { method: "DELETE" });
                toast(`${d.title} deleted.`);
                navigate("/library");
              } catch (err) {
                error.textContent = messageOf(err);
              }
            },
          },
          "Delete document",
        ),
      ),
      back(),
    );
  }

  load();
  return () => {
    state.alive = false;
    clearTimeout(state.timer);
  };
}
