// Chat: conversations (new, rename, pin, archive, delete), streamed replies over SSE, Stop,
// regenerate, citations linking to the cited document, the learner's weak topics.
import * as api from "./api.js";
import { clientId, h, messageOf, nextId, render, toast } from "./dom.js";
import { navigate } from "./app.js";

const WIDE = window.matchMedia("(min-width: 48rem)");

export function chatView(main, params) {
  const state = {
    id: params.id || null,
    conversation: null,
    showArchived: false,
    streaming: null, // {assistantId, stopRequested, controller, bubble}
    alive: true,
  };

  // A single-select listbox, not links: a title taken from the learner's first message ("How
  // is my progress?") must never be a second link or button matching the contract's names.
  const list = h("div", {
    role: "listbox",
    "aria-label": "Conversations",
    class: "conv-list",
    hidden: true,
    onclick: onListClick,
    onkeydown: onListKey,
  });
  const listNote = h("p", { class: "muted", hidden: true });
  const archivedToggle = h("button", { type: "button", class: "link", onclick: toggleArchived }, "Show archived");
  // Always on screen: beside the thread on wide screens, a strip that scrolls sideways above it
  // on phones (a list folded away on phones is a list a learner, or a test, never finds).
  const newChatButton = h("button", { type: "button", class: "secondary small", onclick: () => newChat() }, "New chat");
  const title = h("h1", {}, "New chat");
  const tools = h("div", { class: "row" });
  const weak = h("p", { class: "weak muted" });
  const log = h("div", { role: "log", "aria-label": "Conversation so far", class: "log", "aria-busy": "false" });
  const older = h("div");
  const error = h("p", { class: "error", role: "alert" });
  const messageId = nextId("message");
  const input = h("textarea", {
    id: messageId,
    name: "message",
    rows: 2,
    maxlength: 8000,
    placeholder: "Ask your mentor anything…",
    onkeydown: (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    },
  });
  const sendButton = h("button", { type: "submit" }, "Send");
  const stopButton = h("button", { type: "button", class: "danger", hidden: true, onclick: stop }, "Stop");
  const composer = h(
    "form",
    { class: "composer", onsubmit: (event) => { event.preventDefault(); send(); } },
    h("div", { class: "grow" }, h("label", { for: messageId, class: "visible" }, "Message"), input),
    sendButton,
    stopButton,
  );

  render(
    main,
    h(
      "div",
      { class: "chat" },
      h("aside", { class: "convs", "aria-label": "Conversation list" }, newChatButton, list, listNote, archivedToggle),
      h(
        "section",
        { class: "thread", "aria-labelledby": "thread-title" },
        h("div", { class: "thread-head" }, title, tools),
        weak,
        older,
        log,
        error,
        composer,
      ),
    ),
  );
  title.id = "thread-title";

  // Wide screens list the conversations down the side; phones across the top.
  const orient = () => list.setAttribute("aria-orientation", WIDE.matches ? "vertical" : "horizontal");
  orient();
  WIDE.addEventListener("change", orient);

  loadWeakTopics();
  loadList();
  if (state.id) loadConversation(state.id);
  else drawTools();
  input.focus();

  // ---- conversations -------------------------------------------------------------------
  async function loadList() {
    try {
      const query = state.showArchived ? "?limit=50&archived=true" : "?limit=50&archived=false";
      const page = await api.api(`/conversations${query}`);
      if (!state.alive) return;
      const items = [...page.items].sort((a, b) => Number(b.pinned) - Number(a.pinned));
      const options = items.map((c) =>
        h(
          "div",
          {
            role: "option",
            id: `conv-${c.id}`,
            tabindex: "-1",
            "aria-selected": c.id === state.id ? "true" : "false",
            dataset: { id: c.id },
          },
          c.pinned ? [h("span", { class: "pin", "aria-hidden": "true" }, "★ "), h("span", { class: "sr-only" }, "Pinned: ")] : null,
          c.title || "Untitled conversation",
        ),
      );
      // Roving tabindex: Tab reaches the open conversation (or the first one) only.
      const current = options.find((o) => o.getAttribute("aria-selected") === "true") || options[0];
      if (current) current.tabIndex = 0;
      render(list, options);
      list.hidden = !options.length;
      const selected = options.find((o) => o.getAttribute("aria-selected") === "true");
      if (selected && !WIDE.matches) {
        // The open conversation in view in the strip, without scrolling the page itself.
        list.scrollLeft += selected.getBoundingClientRect().left - list.getBoundingClientRect().left - 8;
      }
      listNote.className = "muted";
      listNote.hidden = Boolean(options.length);
      render(listNote, state.showArchived ? "No archived conversations." : "No conversations yet.");
    } catch (err) {
      render(list);
      list.hidden = true;
      listNote.className = "error";
      listNote.hidden = false;
      render(listNote, messageOf(err));
    }
  }

  function openConversation(option) {
    if (option.dataset.id !== state.id) {
      navigate(`/chat/${option.dataset.id}`);
      return;
    }
    input.focus();
  }

  function onListClick(event) {
    const option = event.target.closest('[role="option"]');
    if (option) openConversation(option);
  }

  /** The arrows (either axis: the strip on phones runs sideways), Home and End move the focus
   * along the list; Enter or Space opens the focused one. */
  function onListKey(event) {
    const option = event.target.closest('[role="option"]');
    if (!option) return;
    const options = [...list.querySelectorAll('[role="option"]')];
    const at = options.indexOf(option);
    const moves = {
      ArrowDown: at + 1, ArrowRight: at + 1, ArrowUp: at - 1, ArrowLeft: at - 1,
      Home: 0, End: options.length - 1,
    };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openConversation(option);
    } else if (Object.hasOwn(moves, event.key)) {
      event.preventDefault();
      const next = options[Math.max(0, Math.min(options.length - 1, moves[event.key]))];
      option.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  }

  function toggleArchived() {
    state.showArchived = !state.showArchived;
    archivedToggle.textContent = state.showArchived ? "Show active" : "Show archived";
    loadList();
  }

  function newChat() {
    history.pushState(null, "", "/chat");
    state.id = null;
    state.conversation = null;
    title.textContent = "New chat";
    render(log);
    render(older);
    drawTools();
    loadList();
    input.focus();
  }

  async function loadConversation(id) {
    try {
      const [conversation, page] = await Promise.all([
        api.api(`/conversations/${id}`),
        api.api(`/conversations/${id}/messages?limit=50`),
      ]);
      if (!state.alive) return;
      state.conversation = conversation;
      title.textContent = conversation.title || "New chat";
      document.title = `${title.textContent} · StarGuide`;
      drawTools();
      drawMessages(page.items, false);
      drawOlder(page.next_cursor);
    } catch (err) {
      title.textContent = "Conversation not found";
      error.textContent = messageOf(err);
    }
  }

  function drawOlder(cursor) {
    render(
      older,
      cursor
        ? h(
            "button",
            {
              type: "button",
              class: "secondary small",
              onclick: async () => {
                const page = await api.api(
                  `/conversations/${state.id}/messages?limit=50&before=${encodeURIComponent(cursor)}`,
                );
                drawMessages(page.items, true);
                drawOlder(page.next_cursor);
              },
            },
            "Load earlier messages",
          )
        : null,
    );
  }

  /** Learner messages with their newest reply (a regenerate adds a sibling; the newest wins). */
  function drawMessages(items, prepend) {
    const newest = new Map();
    for (const m of items) if (m.role === "assistant" && m.parent_id) newest.set(m.parent_id, m.id);
    const nodes = [];
    for (const m of items) {
      if (m.role === "assistant" && m.parent_id && newest.get(m.parent_id) !== m.id) continue;
      nodes.push(bubble(m));
    }
    if (prepend) log.prepend(...nodes);
    else render(log, nodes);
    markLastReply();
    if (!prepend) log.lastElementChild?.scrollIntoView({ block: "end" });
  }

  function drawTools() {
    const c = state.conversation;
    if (!c) {
      render(tools);
      return;
    }
    const patch = async (body, done) => {
      try {
        state.conversation = await api.api(`/conversations/${c.id}`, { method: "PATCH", body });
        toast(done);
        drawTools();
        loadList();
      } catch (err) {
        error.textContent = messageOf(err);
      }
    };
    render(
      tools,
      h("button", { type: "button", class: "secondary small", onclick: rename }, "Rename"),
      h(
        "button",
        { type: "button", class: "secondary small", onclick: () => patch({ pinned: !c.pinned }, c.pinned ? "Unpinned." : "Pinned.") },
        c.pinned ? "Unpin" : "Pin",
      ),
      h(
        "button",
        { type: "button", class: "secondary small", onclick: () => patch({ archived: !c.archived }, c.archived ? "Moved back to your conversations." : "Archived.") },
        c.archived ? "Unarchive" : "Archive",
      ),
      h("button", { type: "button", class: "danger small", onclick: confirmDelete }, "Delete"),
    );
  }

  function rename() {
    const c = state.conversation;
    const id = nextId("title");
    const box = h("input", { id, value: c.title || "", maxlength: 200, required: true });
    const renameForm = h(
      "form",
      {
        class: "row",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            state.conversation = await api.api(`/conversations/${c.id}`, {
              method: "PATCH",
              body: { title: box.value.trim() },
            });
            title.textContent = state.conversation.title;
            drawTools();
            loadList();
          } catch (err) {
            error.textContent = messageOf(err);
          }
        },
      },
      h("label", { for: id }, "Title"),
      h("div", { class: "grow" }, box),
      h("button", { type: "submit", class: "small" }, "Save"),
      h("button", { type: "button", class: "secondary small", onclick: drawTools }, "Cancel"),
    );
    render(tools, renameForm);
    box.focus();
    box.select();
  }

  function confirmDelete() {
    const c = state.conversation;
    render(
      tools,
      h("span", {}, "Delete this conversation for good?"),
      h(
        "button",
        {
          type: "button",
          class: "danger small",
          onclick: async () => {
            try {
              await api.api(`/conversations/${c.id}`, { method: "DELETE" });
              toast("Conversation deleted.");
              newChat();
            } catch (err) {
              error.textContent = messageOf(err);
            }
          },
        },
        "Yes, delete",
      ),
      h("button", { type: "button", class: "secondary small", onclick: drawTools }, "Cancel"),
    );
  }

  async function loadWeakTopics() {
    try {
      const me = await api.api("/users/me");
      if (!state.alive) return;
      api.setUser(me);
      const topics = (me.memory && me.memory.weak_topics) || [];
      render(
        weak,
        topics.length
          ? [
              "Weak topics: ",
              topics.slice(0, 5).map((t, i) => [
                i ? ", " : "",
                h("a", { href: `/practice?topic=${encodeURIComponent(t.topic_id)}`, "data-link": true }, t.name),
              ]),
            ]
          : "No weak topics yet: your mentor learns them as you chat and practise.",
      );
    } catch {
      render(weak);
    }
  }

  // ---- messages ------------------------------------------------------------------------
  function bubble(m) {
    const el = h("article", { class: `msg ${m.role}`, dataset: { id: m.id || "" } });
    el.append(h("div", { class: "text" }, m.content || ""));
    if (m.role === "assistant") finishBubble(el, m);
    return el;
  }

  function finishBubble(el, m) {
    el.dataset.id = m.message_id || m.id || el.dataset.id;
    el.classList.toggle("failed", m.status === "failed");
    el.querySelector(".cites")?.remove();
    el.querySelector(".meta")?.remove();
    const cites = m.citations || [];
    if (cites.length) {
      el.append(
        h(
          "ol",
          { class: "cites", "aria-label": "Sources" },
          cites.map((c) =>
            h(
              "li",
              { value: c.n },
              c.document_id
                ? h(
                    "a",
                    { href: `/library/${c.document_id}${c.page ? `?page=${c.page}` : ""}`, "data-link": true },
                    `${c.title}${c.page ? `, page ${c.page}` : ""}`,
                  )
                : h("span", {}, c.title),
            ),
          ),
        ),
      );
    }
    const notes = [];
    if (m.status === "aborted") notes.push("Stopped.");
    if (m.status === "failed") notes.push((m.error && m.error.message) || "The reply failed.");
    if (m.status === "streaming") notes.push("Still writing… reload to see the rest.");
    el.append(h("p", { class: "meta" }, notes.join(" ")));
  }

  /** Only the newest reply offers Regenerate. */
  function markLastReply() {
    for (const b of log.querySelectorAll(".regen")) b.remove();
    const replies = log.querySelectorAll(".msg.assistant");
    const last = replies[replies.length - 1];
    if (!last || state.streaming || !last.dataset.id) return;
    last.querySelector(".meta").append(
      h("button", { type: "button", class: "link regen", onclick: () => regenerate(last) }, "Regenerate"),
    );
  }

  function setStreaming(on) {
    sendButton.hidden = on;
    stopButton.hidden = !on;
    log.setAttribute("aria-busy", on ? "true" : "false");
    if (on) stopButton.focus();
    else if (document.activeElement === stopButton || document.activeElement === document.body) input.focus();
  }

  async function ensureConversation() {
    if (state.id) return state.id;
    const c = await api.api("/conversations", { method: "POST", body: {} });
    state.id = c.id;
    state.conversation = c;
    history.replaceState(null, "", `/chat/${c.id}`);
    drawTools();
    return c.id;
  }

  async function send() {
    const content = input.value.trim();
    if (!content || state.streaming) return;
    error.textContent = "";
    let id;
    try {
      id = await ensureConversation();
    } catch (err) {
      error.textContent = messageOf(err);
      return;
    }
    input.value = "";
    const mine = bubble({ role: "user", content });
    log.append(mine);
    const reply = h("article", { class: "msg assistant" }, h("div", { class: "text" }));
    log.append(reply);
    const ok = await run(`/conversations/${id}/messages`, { content, client_message_id: clientId() }, reply, mine);
    if (!ok) {
      mine.remove();
      reply.remove();
      input.value = content;
    }
    loadList();
    if (!state.conversation?.title) refreshTitle(id);
  }

  async function refreshTitle(id) {
    try {
      const c = await api.api(`/conversations/${id}`);
      if (!state.alive || state.id !== id) return;
      state.conversation = c;
      title.textContent = c.title || "New chat";
    } catch {
      // the title is cosmetic
    }
  }

  async function regenerate(old) {
    if (state.streaming) return;
    error.textContent = "";
    const reply = h("article", { class: "msg assistant" }, h("div", { class: "text" }));
    old.replaceWith(reply);
    const ok = await run(`/conversations/${state.id}/messages/${old.dataset.id}/regenerate`, {}, reply, null);
    if (!ok) reply.replaceWith(old);
    markLastReply();
  }

  /** Stream one reply into `reply`; false when it was refused before anything was stored. */
  async function run(path, body, reply, mine) {
    const text = reply.querySelector(".text");
    const tokens = []; // [seq, delta]: an assistant:reset withdraws what it names
    const controller = new AbortController();
    const streaming = { assistantId: null, stopRequested: false, controller };
    state.streaming = streaming;
    setStreaming(true);
    let ended = false;
    try {
      await api.stream(path, body, {
        signal: controller.signal,
        onEvent: (name, data) => {
          if (name === "assistant:start") {
            streaming.assistantId = data.message_id;
            reply.dataset.id = data.message_id;
            if (mine && data.user_message) mine.dataset.id = data.user_message.id;
            if (streaming.stopRequested) abortReply(streaming);
          } else if (name === "assistant:token") {
            tokens.push([data.seq, data.delta]);
            text.append(data.delta);
          } else if (name === "assistant:reset") {
            const kept = tokens.filter(([seq]) => seq > data.seq);
            tokens.length = 0;
            tokens.push(...kept);
            text.textContent = kept.map(([, d]) => d).join("");
          } else if (name === "assistant:end") {
            ended = true;
            text.textContent = data.content;
            finishBubble(reply, data);
          } else if (name === "assistant:error") {
            ended = true;
            finishBubble(reply, { status: "failed", error: { message: data.message } });
          }
        },
      });
      if (!ended) finishBubble(reply, { status: streaming.stopRequested ? "aborted" : "streaming" });
      return true;
    } catch (err) {
      if (err.name === "AbortError") {
        finishBubble(reply, { status: "aborted" });
        return true;
      }
      if (streaming.assistantId) {
        finishBubble(reply, { status: "failed", error: { message: messageOf(err) } });
        return true;
      }
      error.textContent = messageOf(err);
      return false;
    } finally {
      if (state.streaming === streaming) state.streaming = null;
      if (state.alive) {
        setStreaming(false);
        markLastReply();
      }
    }
  }

  async function abortReply(streaming) {
    try {
      await api.api(`/conversations/${state.id}/messages/${streaming.assistantId}/abort`, { method: "POST" });
    } catch (err) {
      error.textContent = messageOf(err);
    }
    // The stream ends with assistant:end (aborted); if it does not soon, stop reading.
    setTimeout(() => streaming.controller.abort(), 3000);
  }

  function stop() {
    const streaming = state.streaming;
    if (!streaming || streaming.stopRequested) return;
    streaming.stopRequested = true;
    stopButton.disabled = true;
    setTimeout(() => { stopButton.disabled = false; }, 500);
    if (streaming.assistantId) abortReply(streaming);
  }

  return () => {
    state.alive = false;
    WIDE.removeEventListener("change", orient);
    // Leaving the page stops reading; the reply is finished and stored by the server.
    if (state.streaming) state.streaming.controller.abort();
  };
}
