// StarGuide web app: boot, session, client-side routes, navigation.
import * as api from "./api.js";
import { h, render } from "./dom.js";
import * as auth from "./auth.js";
import { chatView } from "./chat.js";
import { practiceView, testView } from "./practice.js";
import { progressView } from "./progress.js";
import { libraryView, documentView } from "./library.js";
import { groupsView, groupView } from "./groups.js";

// Secrets that arrive in the URL (a reset or claim token, an SSO login code) are read once,
// here, before anything else runs, and the URL is replaced at once so they do not linger in
// the address bar, the history or a bookmark.
const params = new URLSearchParams(location.search);
const secrets = {
  token: params.get("token"),
  loginCode: params.get("login_code"),
  loginError: params.get("error"),
};
if (secrets.token || secrets.loginCode || secrets.loginError) {
  history.replaceState(null, "", location.pathname);
}

// The start page (`/`) is one form for both logging in and creating an account; /login and
// /signup show the same form with "Log in" or "Create account" first.
const PUBLIC = [
  ["/", () => (main) => auth.startView(main, "start")],
  ["/signup", () => auth.signupView],
  ["/login", () => auth.loginView],
  ["/forgot", () => auth.forgotView],
  ["/reset", () => (main) => auth.resetView(main, secrets.token)],
  ["/claim", () => (main) => auth.claimView(main, secrets.token)],
];
const PRIVATE = [
  ["/chat", chatView],
  ["/chat/:id", chatView],
  ["/practice", practiceView],
  ["/practice/tests/:id", testView],
  ["/progress", progressView],
  ["/library", libraryView],
  ["/library/:id", documentView],
  ["/groups", groupsView],
  ["/groups/:id", groupView],
];
const NAV = [
  ["/chat", "Chat"],
  ["/practice", "Practice"],
  ["/progress", "Progress"],
  ["/library", "Library"],
  ["/groups", "Groups"],
];

const main = document.getElementById("main");
let cleanup = null;
let afterLogin = "/chat";

function match(pattern, path) {
  const want = pattern.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return null;
  const out = {};
  for (let i = 0; i < want.length; i += 1) {
    if (want[i].startsWith(":")) out[want[i].slice(1)] = decodeURIComponent(got[i]);
    else if (want[i] !== got[i]) return null;
  }
  return out;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

function route() {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      // a view's cleanup never blocks the next page
    }
    cleanup = null;
  }
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const signedIn = Boolean(api.user());
  for (const [pattern, load] of PUBLIC) {
    if (match(pattern, path)) {
      if (signedIn && pattern !== "/reset" && pattern !== "/claim") {
        navigate(afterLogin, { replace: true });
        return;
      }
      show(load(), {});
      return;
    }
  }
  for (const [pattern, view] of PRIVATE) {
    const found = match(pattern, path);
    if (found) {
      if (!signedIn) {
        afterLogin = path + location.search;
        navigate("/login", { replace: true });
        return;
      }
      show(view, found);
      return;
    }
  }
  show(notFound, {});
}

function show(view, found) {
  drawChrome();
  render(main);
  const query = new URLSearchParams(location.search);
  const result = view(main, found, query);
  cleanup = typeof result === "function" ? result : null;
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} · StarGuide` : "StarGuide";
  // Move focus to the new page for keyboard and screen reader users (not on first load),
  // unless the page put it somewhere itself (the chat's message box).
  if (show.booted && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
  show.booted = true;
  window.scrollTo(0, 0);
}

function notFound(el) {
  render(
    el,
    h("h1", {}, "Page not found"),
    h("p", {}, h("a", { href: "/", "data-link": true }, "Go to the start page")),
  );
}

function drawChrome() {
  const nav = document.getElementById("nav");
  const account = document.getElementById("account");
  const current = api.user();
  if (!current) {
    nav.hidden = true;
    render(nav);
    render(account);
    return;
  }
  const here = location.pathname;
  nav.hidden = false;
  render(
    nav,
    h(
      "ul",
      {},
      NAV.map(([href, label]) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href,
              "data-link": true,
              "aria-current": here === href || here.startsWith(`${href}/`) ? "page" : undefined,
            },
            label,
          ),
        ),
      ),
    ),
  );
  render(
    account,
    h("span", { class: "who" }, current.profile?.display_name || current.email),
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: async () => {
          auth.notice("You are logged out.");
          afterLogin = "/chat";
          // Ending the session redraws the start page (onSession below).
          await api.logout();
        },
      },
      "Log out",
    ),
  );
}

// In-app links: <a data-link> changes the page without reloading.
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a[data-link]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", route);

let lastSignedIn = null;
api.onSession((current) => {
  const signedIn = Boolean(current);
  if (lastSignedIn !== null && signedIn !== lastSignedIn && !signedIn) {
    // The session ended (logged out here or in another tab, or revoked): the start page.
    navigate("/", { replace: true });
  } else {
    drawChrome();
  }
  lastSignedIn = signedIn;
});

async function boot() {
  auth.init({ navigate, afterLogin: () => afterLogin, secrets });
  if (secrets.loginCode) {
    try {
      await api.authenticate("/auth/oidc/exchange", { login_code: secrets.loginCode });
    } catch (err) {
      auth.notice(`Single sign-on failed: ${err.message}`, true);
    }
  } else if (secrets.loginError) {
    auth.notice("Single sign-on was cancelled or failed. Please try again.", true);
  } else if (api.hasStoredSession()) {
    try {
      await api.refresh();
    } catch (err) {
      if (err.status !== 401) auth.notice(`Could not resume your session: ${err.message}`, true);
    }
  }
  lastSignedIn = Boolean(api.user());
  route();
}

boot();
