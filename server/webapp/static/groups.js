// Study groups: join or create, and for mentors each member's progress and assignments.
import * as api from "./api.js";
import { formatDate, h, messageOf, nextId, render, tableWrap, toast } from "./dom.js";
import { navigate } from "./app.js";

function isStaff(user) {
  return user && (user.role === "mentor" || user.role === "admin");
}

export function groupsView(main) {
  const alive = { on: true };
  const me = api.user();
  const list = h("ul", { "aria-label": "Your groups" });
  const code = h("input", { id: nextId("code"), name: "invite_code", required: true, autocomplete: "off" });
  const name = h("input", { id: nextId("group"), name: "name", required: true, maxlength: 80 });
  const error = h("p", { class: "error", role: "alert" });

  render(
    main,
    h("h1", {}, "Study groups"),
    error,
    list,
    h(
      "form",
      {
        class: "card",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            const group = await api.api("/groups/join", { method: "POST", body: { invite_code: code.value.trim() } });
            toast(`You joined ${group.name}.`);
            navigate(`/groups/${group.id}`);
          } catch (err) {
            error.textContent = messageOf(err);
          }
        },
      },
      h("h2", {}, "Join a group"),
      h("label", { for: code.id }, "Invite code"),
      code,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Join")),
    ),
    isStaff(me)
      ? h(
          "form",
          {
            class: "card",
            onsubmit: async (event) => {
              event.preventDefault();
              try {
                const group = await api.api("/groups", { method: "POST", body: { name: name.value.trim() } });
                navigate(`/groups/${group.id}`);
              } catch (err) {
                error.textContent = messageOf(err);
              }
            },
          },
          h("h2", {}, "Create a group"),
          h("label", { for: name.id }, "Group name"),
          name,
          h("div", { class: "actions" }, h("button", { type: "submit" }, "Create group")),
        )
      : null,
    h("p", {}, "Assignments from your groups: ", h("a", { href: "/practice", "data-link": true }, "see your assignments"), "."),
  );

  (async () => {
    try {
      const page = await api.api("/groups?limit=50");
      if (!alive.on) return;
      render(
        list,
        page.items.length
          ? page.items.map((g) => h("li", {}, h("a", { href: `/groups/${g.id}`, "data-link": true }, g.name), ` · ${g.members.length} members`))
          : h("li", { class: "muted" }, "You are not in a group yet. Ask your mentor for an invite code."),
      );
    } catch (err) {
      error.textContent = messageOf(err);
    }
  })();
  return () => {
    alive.on = false;
  };
}

export function groupView(main, params) {
  const alive = { on: true };
  render(main, h("h1", {}, "Study group"), h("p", { class: "muted" }, "Loading…"));
  (async () => {
    let group;
    try {
      group = await api.api(`/groups/${params.id}`);
    } catch (err) {
      render(main, h("h1", {}, "Group not found"), h("p", { class: "error" }, messageOf(err)));
      return;
    }
    if (!alive.on) return;
    const me = api.user();
    const mine = group.members.find((m) => m.user_id === me.id);
    const mentor = (mine && mine.role === "mentor") || me.role === "admin";
    const progress = h("section", { "aria-labelledby": "members-title" });
    const board = h("section", { "aria-labelledby": "gboard-title" });
    const assigned = h("section", { "aria-labelledby": "gassign-title" });
    render(
      main,
      h("h1", {}, group.name),
      h(
        "p",
        { class: "row" },
        h("a", { class: "button", href: `/chat/${group.conversation_id}`, "data-link": true }, "Open the group's conversation"),
        group.invite_code ? h("span", {}, `Invite code: `, h("strong", {}, group.invite_code)) : null,
      ),
      progress,
      mentor ? assignmentForm(group, () => groupAssignments(assigned, group, alive)) : null,
      assigned,
      board,
    );
    if (mentor) groupAssignments(assigned, group, alive);
    if (mentor) memberProgress(progress, group, alive);
    else render(progress, h("h2", { id: "members-title" }, "Members"), h("p", {}, `${group.members.length} members`));
    groupBoard(board, group, alive);
  })();
  return () => {
    alive.on = false;
  };
}

async function memberProgress(box, group, alive) {
  try {
    const answer = await api.api(`/groups/${group.id}/progress`);
    if (!alive.on) return;
    render(
      box,
      h("h2", { id: "members-title" }, "Members' progress"),
      h(
        "div",
        tableWrap("Members' progress"),
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["Member", "Level", "XP", "Streak", "Reviews due", "Weak topics"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            answer.items.map((m) => {
              const p = m.progress || {};
              return h(
                "tr",
                {},
                h("th", { scope: "row" }, `${m.display_name}${m.role === "mentor" ? " (mentor)" : ""}`),
                h("td", {}, String(p.level ?? "–")),
                h("td", {}, String(p.xp ?? 0)),
                h("td", {}, `${p.streak?.current ?? 0} days`),
                h("td", {}, String(p.reviews_due ?? 0)),
                h("td", {}, (p.weak_topics || []).map((t) => t.name).join(", ") || "–"),
              );
            }),
          ),
        ),
      ),
    );
  } catch (err) {
    render(box, h("h2", { id: "members-title" }, "Members' progress"), h("p", { class: "error" }, messageOf(err)));
  }
}

async function groupAssignments(box, group, alive) {
  let page;
  try {
    page = await api.api("/assignments?limit=50");
  } catch {
    return;
  }
  const mine = page.items.filter((a) => a.group_id === group.id);
  if (!alive.on || !mine.length) return;
  render(
    box,
    h("h2", { id: "gassign-title" }, "Assignments"),
    h(
      "ul",
      { class: "plain" },
      mine.map((a) => {
        const report = h("div");
        return h(
          "li",
          { class: "card" },
          h("strong", {}, a.title),
          ` · ${a.kind === "test" ? "mock test" : "topic practice"} · due ${formatDate(a.due_at)} `,
          h(
            "button",
            {
              type: "button",
              class: "secondary small",
              onclick: async () => {
                try {
                  const r = await api.api(`/groups/${group.id}/assignments/${a.id}`);
                  render(
                    report,
                    h(
                      "ul",
                      {},
                      r.members.map((m) =>
                        h("li", {}, `${m.display_name}: ${m.completion.status} (${m.completion.done}/${m.completion.needed})`),
                      ),
                    ),
                  );
                } catch (err) {
                  render(report, h("p", { class: "error" }, messageOf(err)));
                }
              },
            },
            `Completion of ${a.title}`,
          ),
          report,
        );
      }),
    ),
  );
}

function assignmentForm(group, onCreated) {
  const title = h("input", { id: nextId("at"), required: true, maxlength: 200 });
  const kind = h("select", { id: nextId("ak") }, h("option", { value: "test" }, "Mock test"), h("option", { value: "topic" }, "Topic practice"));
  const topics = h("input", { id: nextId("atop"), placeholder: "physics.kinematics, chemistry.mole-concept" });
  const count = h("input", { id: nextId("aq"), type: "number", min: 1, max: 200, value: "10" });
  const due = h("input", { id: nextId("ad"), type: "datetime-local", required: true });
  const exam = h("select", { id: nextId("ae") }, ["JEE", "NEET", "UPSC"].map((e) => h("option", { value: e }, e)));
  const status = h("p", { role: "status" });
  return h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        status.className = "";
        const ids = topics.value.split(",").map((t) => t.trim()).filter(Boolean);
        try {
          const created = await api.api(`/groups/${group.id}/assignments`, {
            method: "POST",
            body: {
              title: title.value.trim(),
              kind: kind.value,
              exam: kind.value === "test" ? exam.value : undefined,
              topic_ids: ids.length ? ids : undefined,
              questions: Number(count.value) || undefined,
              due_at: new Date(due.value).toISOString(),
            },
          });
          status.className = "success";
          status.textContent = `Assigned “${created.title || title.value}” to the group.`;
          event.target.reset();
          onCreated();
        } catch (err) {
          status.className = "error";
          status.textContent = messageOf(err);
        }
      },
    },
    h("h2", {}, "New assignment"),
    h("label", { for: title.id }, "Assignment title"), title,
    h("label", { for: kind.id }, "Kind"), kind,
    h("label", { for: exam.id }, "Exam (mock tests)"), exam,
    h("label", { for: topics.id }, "Topic ids (optional, comma separated)"), topics,
    h("label", { for: count.id }, "Questions"), count,
    h("label", { for: due.id }, "Due"), due,
    status,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Assign")),
  );
}

async function groupBoard(box, group, alive) {
  try {
    const board = await api.api(`/leaderboard?scope=group&period=week&group_id=${encodeURIComponent(group.id)}`);
    if (!alive.on) return;
    render(
      box,
      h("h2", { id: "gboard-title" }, "This week in the group"),
      h("ol", {}, board.items.map((e) => h("li", {}, `${e.display_name}: ${e.xp} XP`))),
    );
  } catch {
    render(box);
  }
}
