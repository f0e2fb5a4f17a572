// Sign up, log in, forgot and reset password, claim an imported account, single sign-on.
import * as api from "./api.js";
import { field, h, messageOf, render } from "./dom.js";

let ctx = { navigate: () => {}, afterLogin: () => "/chat", secrets: {} };
let pending = null; // {text, isError}: shown once by the next sign-in page

export function init(options) {
  ctx = options;
}

/** A message for the next sign-in page ("You are logged out.", an SSO failure). */
export function notice(text, isError = false) {
  pending = { text, isError };
}

function takeNotice() {
  const shown = pending;
  pending = null;
  if (!shown) return h("p", { class: "success", role: "status" });
  return h("p", { class: shown.isError ? "error" : "success", role: "status" }, shown.text);
}

function fieldErrors(err) {
  const fields = (err.details && err.details.fields) || [];
  if (!fields.length) return err.message;
  const names = { display_name: "Name", email: "Email", password: "Password", new_password: "Password" };
  return fields.map((f) => `${names[f.field] || f.field}: ${f.message}`).join(" ");
}

/** A form that disables its button while `submit` runs and shows its error. */
function form(title, rows, buttonLabel, submit, extra = []) {
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit" }, buttonLabel);
  const el = h(
    "form",
    {
      class: "card narrow",
      novalidate: false,
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        button.disabled = true;
        try {
          await submit();
        } catch (err) {
          error.textContent = err instanceof api.ApiError ? fieldErrors(err) : messageOf(err);
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h1", {}, title),
    takeNotice(),
    rows,
    error,
    h("div", { class: "actions" }, button),
    extra,
  );
  return el;
}

function signedIn() {
  ctx.navigate(ctx.afterLogin(), { replace: true });
}

/** Buttons for each configured OpenID provider; nothing when the server lists none. */
function providers() {
  const box = h("div", { class: "providers", hidden: true });
  api
    .api("/auth/oidc/providers", { auth: false })
    .then((answer) => {
      const list = Array.isArray(answer) ? answer : answer.items || answer.providers || [];
      const names = list.map((p) => (typeof p === "string" ? { name: p } : p)).filter((p) => p.name);
      if (!names.length) return;
      const back = `${location.origin}/login`;
      render(
        box,
        h("p", { class: "divider" }, "or"),
        names.map((p) => {
          const label = p.display_name || p.name.charAt(0).toUpperCase() + p.name.slice(1);
          const href = `/api/v1/auth/oidc/${encodeURIComponent(p.name)}/login?redirect_uri=${encodeURIComponent(back)}`;
          return h("a", { class: "button secondary", href }, `Sign in with ${label}`);
        }),
      );
      box.hidden = false;
    })
    .catch(() => {
      // No single sign-on on this server: the password forms are all there is.
    });
  return box;
}

const START_TITLES = {
  start: "Welcome to StarGuide",
  login: "Log in to StarGuide",
  signup: "Create your StarGuide account",
};

/**
 * The signed-out start page: ONE form that both logs in and creates an account (docs/WEBAPP.md,
 * "The start page"), so whoever arrives finds "Email", "Password", "Log in" and "Name",
 * "Create account" on the same page. `mode` ("start" for `/`, "login", "signup") only picks the
 * heading, which button comes first and the password's first autocomplete hint.
 */
export function startView(main, mode = "start") {
  const signupFirst = mode === "signup";
  const email = field("Email", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = field("Password", {
    name: "password",
    type: "password",
    // Log-in is what most visits to the start page are, so the password manager fills the saved
    // password; once a Name is typed (or on /signup) it offers a new, generated one instead.
    autocomplete: signupFirst ? "new-password" : "current-password",
    required: true,
    "aria-describedby": "password-hint",
  });
  const name = field("Name", {
    name: "name",
    autocomplete: "name",
    maxlength: 80,
    "aria-describedby": "name-hint",
  });
  const exam = field("Exam (optional)", { tag: "select", name: "exam", "aria-describedby": "name-hint" });
  for (const value of ["", "JEE", "NEET", "UPSC"]) {
    exam.input.append(h("option", { value }, value || "Not decided yet"));
  }
  const wantsNewAccount = () => signupFirst || name.input.value.trim() !== "";
  name.input.addEventListener("input", () => {
    password.input.autocomplete = wantsNewAccount() ? "new-password" : "current-password";
  });

  const error = h("p", { class: "error", role: "alert" });
  const loginButton = h("button", { type: "submit", dataset: { action: "login" } }, "Log in");
  const signupButton = h("button", { type: "submit", dataset: { action: "signup" } }, "Create account");
  (signupFirst ? loginButton : signupButton).classList.add("secondary");
  const buttons = signupFirst ? [signupButton, loginButton] : [loginButton, signupButton];

  async function logIn() {
    await api.authenticate("/auth/login", {
      email: email.input.value.trim(),
      password: password.input.value,
    });
  }

  async function createAccount() {
    if (!name.input.value.trim()) {
      name.input.setAttribute("aria-invalid", "true");
      name.input.focus();
      throw new Error("Name: enter your name to create an account (logging in needs no name).");
    }
    const body = {
      display_name: name.input.value.trim(),
      email: email.input.value.trim(),
      password: password.input.value,
    };
    if (exam.input.value) body.exam = exam.input.value;
    await api.authenticate("/auth/register", body);
  }

  const el = h(
    "form",
    {
      class: "card narrow",
      // Enter in a field: "Create account" when a Name was typed (or on /signup), otherwise
      // "Log in" (the browser alone would always press the first button).
      onkeydown: (event) => {
        const target = event.target;
        if (event.key !== "Enter" || event.isComposing || target.tagName !== "INPUT") return;
        event.preventDefault();
        el.requestSubmit(wantsNewAccount() ? signupButton : loginButton);
      },
      onsubmit: async (event) => {
        event.preventDefault();
        const action = event.submitter?.dataset.action || (wantsNewAccount() ? "signup" : "login");
        error.textContent = "";
        name.input.removeAttribute("aria-invalid");
        loginButton.disabled = true;
        signupButton.disabled = true;
        try {
          await (action === "signup" ? createAccount() : logIn());
          signedIn();
        } catch (err) {
          error.textContent = err instanceof api.ApiError ? fieldErrors(err) : messageOf(err);
        } finally {
          loginButton.disabled = false;
          signupButton.disabled = false;
        }
      },
    },
    h("h1", {}, START_TITLES[mode] || START_TITLES.start),
    h("p", { class: "muted" }, "Log in, or create a free account with your name."),
    takeNotice(),
    email.label, email.input,
    password.label, password.input,
    h("p", { id: "password-hint", class: "muted" }, "A new account needs at least 8 characters."),
    name.label, name.input,
    h("p", { id: "name-hint", class: "muted" }, "Only needed to create an account."),
    exam.label, exam.input,
    error,
    h("div", { class: "actions" }, buttons),
    h("p", {}, h("a", { href: "/forgot", "data-link": true }, "Forgot password?")),
    providers(),
  );
  render(main, el);
}

export function signupView(main) {
  startView(main, "signup");
}

export function loginView(main) {
  startView(main, "login");
}

export function forgotView(main) {
  const email = field("Email", { name: "email", type: "email", autocomplete: "email", required: true });
  const done = h("p", { class: "success", role: "status" });
  render(
    main,
    form(
      "Reset your password",
      [
        h("p", { class: "muted" }, "We will email you a link to choose a new password."),
        email.label, email.input, done,
      ],
      "Send reset link",
      async () => {
        await api.api("/auth/password/forgot", {
          method: "POST",
          body: { email: email.input.value.trim() },
          auth: false,
        });
        done.textContent = "If an account uses that email, a reset link is on its way. It works for 30 minutes.";
      },
      [h("p", {}, h("a", { href: "/", "data-link": true }, "Back to log in"))],
    ),
  );
}

function missingToken(main, what) {
  render(
    main,
    h(
      "div",
      { class: "card narrow" },
      h("h1", {}, what),
      h("p", { class: "error" }, "This link is incomplete. Open the link from your email again."),
      h("p", {}, h("a", { href: "/forgot", "data-link": true }, "Request a new reset link")),
    ),
  );
}

export function resetView(main, token) {
  if (!token) {
    missingToken(main, "Choose a new password");
    return;
  }
  const password = field("New password", {
    name: "new_password",
    type: "password",
    autocomplete: "new-password",
    required: true,
    minlength: 8,
  });
  render(
    main,
    form(
      "Choose a new password",
      [password.label, password.input, h("p", { class: "muted" }, "At least 8 characters. You will be logged out everywhere else.")],
      "Set new password",
      async () => {
        try {
          await api.authenticate("/auth/password/reset", { token, new_password: password.input.value });
        } catch (err) {
          if (err.code === "invalid_reset_token") {
            throw new Error("This link has expired or was already used. Request a new one from “Forgot password?”.");
          }
          throw err;
        }
        ctx.secrets.token = null;
        ctx.navigate("/chat", { replace: true });
      },
      [h("p", {}, h("a", { href: "/forgot", "data-link": true }, "Request a new reset link"))],
    ),
  );
}

export function claimView(main, token) {
  if (!token) {
    missingToken(main, "Claim your account");
    return;
  }
  const name = field("Name", { name: "name", autocomplete: "name", maxlength: 80 });
  const password = field("Password", {
    name: "password",
    type: "password",
    autocomplete: "new-password",
    required: true,
    minlength: 8,
  });
  render(
    main,
    form(
      "Claim your account",
      [
        h("p", { class: "muted" }, "Your history, memory and progress are kept. Choose a password to sign in with."),
        name.label, name.input, password.label, password.input,
      ],
      "Claim account",
      async () => {
        const body = { token, password: password.input.value };
        if (name.input.value.trim()) body.display_name = name.input.value.trim();
        await api.authenticate("/auth/claim", body);
        ctx.secrets.token = null;
        ctx.navigate("/chat", { replace: true });
      },
    ),
  );
}
