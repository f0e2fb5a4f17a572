// Progress: XP, level, streak, daily goal, badges, weak topics, reviews due, weekly leaderboard.
import * as api from "./api.js";
import { formatDate, h, messageOf, render, tableWrap } from "./dom.js";

export function progressView(main) {
  const alive = { on: true };
  render(main, h("h1", {}, "Your progress"), h("p", { class: "muted" }, "Loading…"));
  (async () => {
    const [progress, achievements, board] = await Promise.allSettled([
      api.api("/progress/me"),
      api.api("/achievements"),
      api.api("/leaderboard?scope=org&period=week"),
    ]);
    if (!alive.on) return;
    if (progress.status === "rejected") {
      render(main, h("h1", {}, "Your progress"), h("p", { class: "error" }, messageOf(progress.reason)));
      return;
    }
    render(
      main,
      h("h1", {}, "Your progress"),
      summary(progress.value),
      topics(progress.value),
      achievements.status === "fulfilled" ? badges(achievements.value) : null,
      board.status === "fulfilled" ? leaderboard(board.value) : null,
    );
  })();
  return () => {
    alive.on = false;
  };
}

function summary(p) {
  const streak = p.streak || {};
  const goal = p.daily_goal;
  const base = p.level_xp ?? 0;
  const span = Math.max(1, (p.next_level_xp || 0) - base);
  const into = Math.max(0, p.xp - base);
  return h(
    "section",
    { "aria-label": "Summary" },
    h("h2", {}, `Level ${p.level}`),
    p.next_level_xp
      ? [
          h("progress", { max: String(span), value: String(Math.min(into, span)), "aria-label": "Progress to the next level" }),
          h("p", { class: "muted" }, `${into} of ${span} XP to level ${p.level + 1}`),
        ]
      : null,
    h(
      "div",
      { class: "stats" },
      h("div", { class: "stat" }, h("strong", {}, String(p.xp)), "XP"),
      h("div", { class: "stat" }, h("strong", {}, String(p.xp_this_week ?? 0)), "XP this week"),
      h(
        "div",
        { class: "stat" },
        h("strong", {}, `${streak.current ?? 0}-day streak`),
        `Longest: ${streak.longest ?? 0} days${streak.freezes ? ` · ${streak.freezes} freezes` : ""}`,
      ),
      goal
        ? h("div", { class: "stat" }, h("strong", {}, `${goal.xp_today} / ${goal.target_xp} XP`), goal.met ? "Daily goal met" : "Daily goal")
        : null,
      h(
        "div",
        { class: "stat" },
        h("strong", {}, String(p.reviews_due ?? 0)),
        p.reviews_due ? h("a", { href: "/practice", "data-link": true }, "Reviews due: practise now") : "Reviews due",
      ),
    ),
  );
}

function topics(p) {
  const weak = p.weak_topics || [];
  const mastery = p.topics || [];
  return h(
    "section",
    { "aria-labelledby": "topics-title" },
    h("h2", { id: "topics-title" }, "Weak topics"),
    weak.length
      ? h(
          "ul",
          { class: "chips" },
          weak.map((t) =>
            h("li", {}, h("a", { class: "chip", href: `/practice?topic=${encodeURIComponent(t.topic_id)}`, "data-link": true }, t.name)),
          ),
        )
      : h("p", { class: "muted" }, "None yet: keep chatting and practising."),
    mastery.length
      ? [
          h("h2", {}, "Topic mastery"),
          h(
            "div",
            tableWrap("Topic mastery"),
            h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ["Topic", "Subject", "Mastery", "Level"].map((t) => h("th", { scope: "col" }, t)))),
              h(
                "tbody",
                {},
                mastery.map((t) =>
                  h("tr", {}, h("th", { scope: "row" }, t.name), h("td", {}, t.subject), h("td", {}, `${t.mastery}/100`), h("td", {}, t.level)),
                ),
              ),
            ),
          ),
        ]
      : null,
  );
}

function badgeItem(b) {
  return h(
    "li",
    { class: b.earned_at ? "badge" : "badge locked" },
    b.image ? h("img", { src: b.image, alt: "", width: 56, height: 56 }) : null,
    h("strong", { class: "name" }, b.name),
    h("span", { class: "muted when" }, b.earned_at ? `Earned ${formatDate(b.earned_at)}` : "Not earned yet"),
    h("p", { class: "muted" }, b.description),
  );
}

/**
 * Earned badges are shown; the ones still to earn are built only when the learner opens them.
 * The catalog's names ("Level 10") and descriptions ("Earned 500 XP.") would otherwise repeat
 * the summary's "Level N" and XP on the page and make them ambiguous to find by their text.
 */
function badges(answer) {
  const items = answer.items || [];
  const earned = items.filter((b) => b.earned_at);
  const locked = items.filter((b) => !b.earned_at);
  const lockedList = h("ul", { class: "badges" });
  const more = locked.length
    ? h(
        "details",
        {
          ontoggle: (event) => render(lockedList, event.target.open ? locked.map(badgeItem) : null),
        },
        h("summary", {}, `Still to earn (${locked.length})`),
        lockedList,
      )
    : null;
  return h(
    "section",
    { "aria-labelledby": "badges-title" },
    h("h2", { id: "badges-title" }, `Badges (${earned.length} of ${items.length})`),
    earned.length
      ? h("ul", { class: "badges" }, earned.map(badgeItem))
      : h("p", { class: "muted" }, "None earned yet: your first question earns one."),
    more,
  );
}

function leaderboard(board) {
  const me = api.user();
  return h(
    "section",
    { "aria-labelledby": "board-title" },
    h("h2", { id: "board-title" }, "This week's leaderboard"),
    board.me ? h("p", {}, `Your rank: ${board.me.rank} with ${board.me.xp} XP this week.`) : null,
    board.items && board.items.length
      ? h(
          "div",
          tableWrap("This week's leaderboard"),
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, ["Rank", "Learner", "XP"].map((t) => h("th", { scope: "col" }, t)))),
            h(
              "tbody",
              {},
              board.items.map((e) =>
                h(
                  "tr",
                  { "aria-current": me && e.user_id === me.id ? "true" : undefined },
                  h("td", {}, String(e.rank)),
                  h("th", { scope: "row" }, me && e.user_id === me.id ? `${e.display_name} (you)` : e.display_name),
                  h("td", {}, String(e.xp)),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "Nobody has earned XP this week yet."),
  );
}
