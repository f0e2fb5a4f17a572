// Practice: the next quiz question ("Check" and feedback), mock tests with a timer and a result
// page with per-topic analysis (contract: Practice).
import * as api from "./api.js";
import { clientId, formatDate, h, messageOf, nextId, render, tableWrap, toast } from "./dom.js";
import { navigate } from "./app.js";

const EXAMS = ["JEE", "NEET", "UPSC"];
const REASONS = {
  requested: "You asked for this topic",
  review_due: "Review due",
  weak_topic: "One of your weak topics",
  new_topic: "A new topic for you",
  low_mastery: "A topic to strengthen",
  any: "Practice",
  repeat: "A repeat",
};

export function practiceView(main, _params, query) {
  const alive = { on: true };
  const quiz = h("section", { "aria-labelledby": "quiz-title" });
  const tests = h("section", { "aria-labelledby": "tests-title" });
  const assigned = h("section", { "aria-labelledby": "assigned-title" });
  render(main, h("h1", {}, "Practice"), assigned, quiz, tests);
  nextQuestion(quiz, query.get("topic"), alive);
  mockTests(tests, alive);
  assignments(assigned, alive);
  return () => {
    alive.on = false;
  };
}

async function nextQuestion(box, topic, alive) {
  render(box, h("h2", { id: "quiz-title" }, "Next question"), h("p", { class: "muted" }, "Loading…"));
  let answer;
  try {
    answer = await api.api(`/quiz/next${topic ? `?topic=${encodeURIComponent(topic)}` : ""}`);
  } catch (err) {
    if (!alive.on) return;
    const text = err.code === "no_question_available" ? "No question to practise right now. Come back later!" : messageOf(err);
    render(box, h("h2", { id: "quiz-title" }, "Next question"), h("p", { class: "muted" }, text));
    return;
  }
  if (!alive.on) return;
  const q = answer.question;
  const name = nextId("q");
  const options = q.options.map((text, i) => {
    const radio = h("input", { type: "radio", name, value: String(i), required: true });
    return { radio, label: h("label", { class: "option" }, radio, h("span", {}, text)) };
  });
  const feedback = h("div", { role: "status", "aria-live": "polite" });
  const check = h("button", { type: "submit" }, "Check");
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        const chosen = options.findIndex((o) => o.radio.checked);
        if (chosen < 0) {
          error.textContent = "Choose an answer first.";
          return;
        }
        error.textContent = "";
        check.disabled = true;
        try {
          const result = await api.api("/quiz/attempts", {
            method: "POST",
            body: { question_id: q.id, option: chosen, client_attempt_id: clientId() },
          });
          for (const [i, o] of options.entries()) {
            o.radio.disabled = true;
            if (i === result.correct_option) o.label.classList.add("correct");
            else if (i === chosen) o.label.classList.add("wrong");
          }
          check.hidden = true;
          const next = h("button", { type: "button", onclick: () => nextQuestion(box, null, alive) }, "Next question");
          render(
            feedback,
            h(
              "div",
              { class: result.correct ? "success" : "error" },
              h("strong", {}, result.correct ? "Correct!" : `Not quite. The answer is “${q.options[result.correct_option]}”.`),
              result.xp && result.xp.awarded ? ` +${result.xp.awarded} XP` : "",
            ),
            h("p", {}, h("strong", {}, "Explanation: "), result.explanation || ""),
            result.mastery
              ? h("p", { class: "muted" }, `${result.mastery.name}: ${result.mastery.after.level} (${result.mastery.after.points}/100)`)
              : null,
            next,
          );
          next.focus();
        } catch (err) {
          check.disabled = false;
          error.textContent = messageOf(err);
        }
      },
    },
    h(
      "fieldset",
      {},
      h("legend", {}, q.stem),
      h(
        "p",
        { class: "muted" },
        [q.topic && q.topic.name, q.difficulty, REASONS[answer.reason]].filter(Boolean).join(" · "),
      ),
      options.map((o) => o.label),
    ),
    error,
    check,
    feedback,
  );
  const notes = (answer.notes || []).length
    ? h(
        "details",
        {},
        h("summary", {}, "From your notes"),
        h(
          "ul",
          {},
          answer.notes.map((n) =>
            h(
              "li",
              {},
              h("a", { href: `/library/${n.document_id}${n.page ? `?page=${n.page}` : ""}`, "data-link": true }, `${n.title}${n.page ? `, page ${n.page}` : ""}`),
              `: ${n.quote}`,
            ),
          ),
        ),
      )
    : null;
  render(box, h("h2", { id: "quiz-title" }, "Next question"), form, notes);
}

function mockTests(box, alive) {
  const me = api.user();
  const exam = h("select", { id: nextId("exam"), name: "exam" }, EXAMS.map((e) => h("option", { value: e }, e)));
  const mine = me && me.profile && me.profile.exam && me.profile.exam.toUpperCase();
  if (EXAMS.includes(mine)) exam.value = mine;
  const count = h("input", { id: nextId("count"), type: "number", min: 1, max: 200, value: "10", inputmode: "numeric" });
  const minutes = h("input", { id: nextId("minutes"), type: "number", min: 1, max: 300, value: "15", inputmode: "numeric" });
  const error = h("p", { class: "error", role: "alert" });
  const past = h("div");
  render(
    box,
    h("h2", { id: "tests-title" }, "Mock tests"),
    h(
      "form",
      {
        class: "card",
        onsubmit: async (event) => {
          event.preventDefault();
          error.textContent = "";
          await startTest(
            {
              exam: exam.value,
              questions: Number(count.value) || undefined,
              duration_minutes: Number(minutes.value) || undefined,
            },
            error,
          );
        },
      },
      h("p", { class: "muted" }, "A timed test marked like the real exam (JEE Main and NEET: +4, −1, 0)."),
      h("label", { for: exam.id }, "Exam"),
      exam,
      h("label", { for: count.id }, "Questions"),
      count,
      h("label", { for: minutes.id }, "Minutes"),
      minutes,
      error,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Start mock test")),
    ),
    past,
  );
  loadPastTests(past, alive);
}

async function loadPastTests(box, alive) {
  try {
    const page = await api.api("/tests?limit=10");
    if (!alive.on || !page.items.length) return;
    render(
      box,
      h("h3", {}, "Your tests"),
      h(
        "ul",
        {},
        page.items.map((t) =>
          h(
            "li",
            {},
            h("a", { href: `/practice/tests/${t.id}`, "data-link": true }, `${t.exam} · ${formatDate(t.started_at)}`),
            t.status === "in_progress" ? " (in progress)" : t.score !== null && t.score !== undefined ? ` · ${t.score} / ${t.max_score}` : "",
          ),
        ),
      ),
    );
  } catch {
    // No past tests to show.
  }
}

const COMPLETION = { pending: "to do", completed: "done", late: "late", missed: "missed" };

async function startTest(body, error) {
  try {
    const test = await api.api("/tests", { method: "POST", body });
    navigate(`/practice/tests/${test.id}`);
  } catch (err) {
    error.textContent = messageOf(err);
  }
}

async function assignments(box, alive) {
  let page;
  try {
    page = await api.api("/assignments?limit=20");
  } catch {
    return; // nothing assigned to show
  }
  if (!alive.on || !page.items.length) return;
  const error = h("p", { class: "error", role: "alert" });
  const me = api.user();
  render(
    box,
    h("h2", { id: "assigned-title" }, "Your assignments"),
    h(
      "ul",
      { class: "plain docs" },
      page.items.map((a) => {
        const c = a.completion || {};
        const open = c.status === "pending" || c.status === "late";
        let action = null;
        if (open && a.kind === "test") {
          action = h(
            "button",
            {
              type: "button",
              class: "small",
              onclick: () => startTest({ exam: a.exam || me?.profile?.exam || "JEE", assignment_id: a.id }, error),
            },
            `Start ${a.title}`,
          );
        } else if (open && a.topic_ids.length) {
          action = h("a", { class: "button small", href: `/practice?topic=${encodeURIComponent(a.topic_ids[0])}`, "data-link": true }, `Practise ${a.title}`);
        }
        return h(
          "li",
          {},
          h(
            "span",
            { class: "grow" },
            h("strong", {}, a.title),
            ` · ${a.kind === "test" ? "mock test" : "topic practice"} · due ${formatDate(a.due_at)} · `,
            `${COMPLETION[c.status] || c.status}${c.needed ? ` (${c.done}/${c.needed})` : ""}`,
          ),
          action,
        );
      }),
    ),
    error,
  );
}

// ---- one mock test ------------------------------------------------------------------------

export function testView(main, params) {
  const alive = { on: true, timer: null };
  render(main, h("h1", {}, "Mock test"), h("p", { class: "muted" }, "Loading…"));
  (async () => {
    try {
      const test = await api.api(`/tests/${params.id}`);
      if (!alive.on) return;
      if (test.result) drawResult(main, test, test.result);
      else if (test.status === "in_progress" && new Date(test.ends_at) > new Date()) drawTest(main, test, alive);
      else showResult(main, test, alive);
    } catch (err) {
      render(main, h("h1", {}, "Mock test"), h("p", { class: "error" }, messageOf(err)));
    }
  })();
  return () => {
    alive.on = false;
    clearInterval(alive.timer);
  };
}

function drawTest(main, test, alive) {
  const timer = h("p", { class: "timer", role: "timer", "aria-live": "off" });
  const announce = h("p", { class: "muted", role: "status" });
  const error = h("p", { class: "error", role: "alert" });
  const shownAt = new Map();
  const save = async (questionId, option) => {
    const started = shownAt.get(questionId) || Date.now();
    try {
      await api.api(`/tests/${test.id}/answers/${questionId}`, {
        method: "PUT",
        body: { option, time_spent_ms: Date.now() - started },
      });
      error.textContent = "";
    } catch (err) {
      if (err.code === "test_ended") submit();
      else error.textContent = `Your answer was not saved: ${messageOf(err)}`;
    }
  };
  const chosen = new Map((test.answers || []).map((a) => [a.question_id, a.option]));
  let number = 0;
  const sections = (test.sections || []).map((section) =>
    h(
      "section",
      {},
      h("h2", {}, section.name),
      section.questions.map((q) => {
        number += 1;
        const name = nextId("tq");
        shownAt.set(q.id, Date.now());
        const radios = q.options.map((text, i) => {
          const radio = h("input", {
            type: "radio",
            name,
            value: String(i),
            checked: chosen.get(q.id) === i,
            onchange: () => save(q.id, i),
          });
          return { radio, label: h("label", { class: "option" }, radio, h("span", {}, text)) };
        });
        return h(
          "fieldset",
          {},
          h("legend", {}, `${number}. ${q.text}`),
          radios.map((r) => r.label),
          h(
            "button",
            {
              type: "button",
              class: "link",
              onclick: () => {
                for (const r of radios) r.radio.checked = false;
                save(q.id, null);
              },
            },
            `Clear answer ${number}`,
          ),
        );
      }),
    ),
  );
  let submitting = false;
  async function submit() {
    if (submitting) return;
    submitting = true;
    clearInterval(alive.timer);
    try {
      const result = await api.api(`/tests/${test.id}/submit`, { method: "POST" });
      toast("Test submitted.");
      if (alive.on) drawResult(main, test, result);
    } catch (err) {
      submitting = false;
      error.textContent = messageOf(err);
    }
  }
  const ends = new Date(test.ends_at).getTime();
  const tick = () => {
    const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
    const m = Math.floor(left / 60);
    const s = String(left % 60).padStart(2, "0");
    timer.textContent = `Time left: ${m}:${s}`;
    timer.classList.toggle("low", left <= 60);
    if (left === 300) announce.textContent = "Five minutes left.";
    if (left === 60) announce.textContent = "One minute left.";
    if (left <= 0) {
      announce.textContent = "Time is up: your test is being submitted.";
      submit();
    }
  };
  tick();
  alive.timer = setInterval(tick, 1000);
  render(
    main,
    h("h1", {}, `${test.exam} mock test`),
    h("div", { class: "sticky-bar" }, timer, h("button", { type: "button", onclick: submit }, "Submit test")),
    announce,
    h("p", { class: "muted" }, `Marking: +${test.marking?.correct ?? 4} correct, ${test.marking?.wrong ?? -1} wrong, ${test.marking?.unanswered ?? 0} unanswered. Answers save as you go.`),
    sections,
    error,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: submit }, "Submit test")),
  );
}

async function showResult(main, test, alive) {
  try {
    // Submitting again answers the same result (and submits a test the server closed).
    const result = await api.api(`/tests/${test.id}/submit`, { method: "POST" });
    if (alive.on) drawResult(main, test, result);
  } catch (err) {
    render(main, h("h1", {}, "Mock test"), h("p", { class: "error" }, messageOf(err)));
  }
}

function pct(x) {
  return `${Math.round((x || 0) * 100)}%`;
}

function drawResult(main, test, result) {
  const questions = new Map();
  for (const s of test.sections || []) for (const q of s.questions) questions.set(q.id, q);
  render(
    main,
    h("h1", {}, "Test result"),
    h(
      "div",
      { class: "stats" },
      h("div", { class: "stat" }, h("strong", {}, `${result.score} / ${result.max_score}`), "Score"),
      h("div", { class: "stat" }, h("strong", {}, pct(result.accuracy)), "Accuracy"),
      h("div", { class: "stat" }, h("strong", {}, `${result.correct} · ${result.wrong} · ${result.unanswered}`), "Correct · wrong · unanswered"),
      result.percentile !== undefined && result.percentile !== null
        ? h("div", { class: "stat" }, h("strong", {}, String(Math.round(result.percentile))), "Percentile")
        : null,
    ),
    (result.sections || []).length > 1
      ? [
          h("h2", {}, "By section"),
          h(
            "div",
            tableWrap("By section"),
            h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ["Section", "Score", "Correct", "Wrong", "Unanswered", "Accuracy"].map((t) => h("th", { scope: "col" }, t)))),
              h(
                "tbody",
                {},
                result.sections.map((x) =>
                  h(
                    "tr",
                    {},
                    h("th", { scope: "row" }, x.name),
                    h("td", {}, `${x.score} / ${x.max_score}`),
                    h("td", {}, String(x.correct)),
                    h("td", {}, String(x.wrong)),
                    h("td", {}, String(x.unanswered)),
                    h("td", {}, pct(x.accuracy)),
                  ),
                ),
              ),
            ),
          ),
        ]
      : null,
    h("h2", {}, "By topic"),
    h(
      "div",
      tableWrap("By topic"),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["Topic", "Correct", "Wrong", "Unanswered", "Accuracy"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          (result.topics || []).map((t) => {
            const total = t.correct + t.wrong + t.unanswered;
            return h(
              "tr",
              {},
              h("th", { scope: "row" }, t.name || t.topic_id),
              h("td", {}, String(t.correct)),
              h("td", {}, String(t.wrong)),
              h("td", {}, String(t.unanswered)),
              h("td", {}, total ? `${Math.round((100 * t.correct) / total)}%` : "–"),
            );
          }),
        ),
      ),
    ),
    h("h2", {}, "Review"),
    h(
      "ol",
      {},
      (result.questions || []).map((r) => {
        const q = questions.get(r.id);
        const options = (q && q.options) || [];
        const verdict = r.chosen === null || r.chosen === undefined ? "Not answered" : r.correct ? "Correct" : "Wrong";
        return h(
          "li",
          { class: "card" },
          h("p", {}, h("strong", {}, q ? q.text : "Question")),
          h("p", {}, `${verdict}. Answer: ${options[r.correct_option] ?? r.correct_option}`),
          r.explanation ? h("p", { class: "muted" }, r.explanation) : null,
        );
      }),
    ),
    h("p", {}, h("a", { href: "/practice", "data-link": true }, "More questions and mock tests")),
  );
}
