"""Walk every page a signed-in user can reach by following links, and measure its layout.

The walk starts at the home page and follows same-origin links breadth first. It opens
each URL name of the URL conf at most `per_name` times (a deal's page is one page, not a
thousand), never follows links that change something (sign-out, delete, refresh), nor
downloads (exports), and keeps to what the user's links offer: it never guesses a URL.

For each page it reports what sticks out: the document wider than the viewport, and any
element whose right edge passes the viewport's or its card's (a table running outside
its card). Content inside a scroll container (overflow-x auto/scroll) may be wider, as
long as the container itself fits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urlsplit

# Links that act, download or leave the app's pages: the walk does not follow them.
SKIPPED_PATH_PARTS = (
    "/logout/",
    "/delete/",
    "/export.",
    "/metrics/refresh/",
    "/api/",
    "/i18n/",
    "/status.json",
)
# Django admin pages that act rather than show.
SKIPPED_ADMIN_PARTS = ("/password/", "/history/", "/logout/", "/jsi18n/", "/r/")

# A JavaScript function: the elements of the page that stick out of the viewport or of
# their card, each as "tag.class: right edge px > limit px", the document's own width first.
OVERFLOW_JS = """
() => {
  const vw = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > vw + 1) {
    found.push(`document: ${document.documentElement.scrollWidth}px > ${vw}px`);
  }
  const scrolls = (el) => {
    const s = getComputedStyle(el).overflowX;
    return s === "auto" || s === "scroll" || s === "hidden" || s === "clip";
  };
  const describe = (el) => {
    const names = typeof el.className === "string" ? el.className.trim() : "";
    const cls = names ? "." + names.split(/\\s+/).join(".") : "";
    const id = el.id ? "#" + el.id : "";
    const text = (el.innerText || "").trim().slice(0, 30).replace(/\\s+/g, " ");
    return `${el.tagName.toLowerCase()}${id}${cls} "${text}"`;
  };
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (getComputedStyle(el).position === "fixed") continue;
    let limit = vw, within = "viewport";
    let inScroll = false;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (scrolls(up)) { inScroll = true; break; }
      if (up.classList.contains("card")) {
        limit = Math.min(limit, up.getBoundingClientRect().right);
        within = "card";
        break;
      }
    }
    if (inScroll) continue;
    if (box.right > limit + 1 && box.left < limit) {
      found.push(`${describe(el)}: right ${Math.round(box.right)}px > ${within} ${Math.round(limit)}px`);
    }
  }
  // The leaves are what a user sees cut: keep the first few, enough to find the cause.
  return found.slice(0, 8);
}
"""

# A JavaScript function: scroll containers that actually scroll sideways at this width
# (tables that do not fit their card on a desktop).
SCROLLING_JS = """
() => Array.from(document.querySelectorAll(".table-wrap"))
  .filter((el) => el.scrollWidth > el.clientWidth + 1)
  .map((el) => {
    const what = el.querySelector("table")?.getAttribute("aria-label") || el.innerText.trim().slice(0, 30);
    return `${what}: ${el.scrollWidth}px > ${el.clientWidth}px`;
  })
"""


@dataclass
class Walk:
    visited: dict[str, str] = field(default_factory=dict)  # url -> url name
    problems: dict[str, list[str]] = field(default_factory=dict)  # url -> what sticks out
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return set(self.visited.values())


def url_name(path: str) -> str | None:
    from django.urls import Resolver404, resolve

    try:
        match = resolve(urlsplit(path).path)
    except Resolver404:
        return None
    name = match.view_name or match.url_name or ""
    # A dashboard of a rep and one of a team are two pages: words in the path tell pages apart.
    words = [value for value in match.captured_kwargs.values() if isinstance(value, str)]
    if words and not name.startswith("admin:"):
        name = ":".join([name, *words])
    if name.startswith("admin:"):
        # Every model's changelist is a page of its own, not one admin page.
        model = "/".join(urlsplit(path).path.split("/")[2:4])
        return f"{name}:{model}" if name.endswith(("_changelist", "_add")) else name
    return name


def skipped(path: str) -> bool:
    if any(part in path for part in SKIPPED_PATH_PARTS):
        return True
    return path.startswith("/admin/") and any(part in path for part in SKIPPED_ADMIN_PARTS)


def walk(page, *, start: str = "/", per_name: int = 2, limit: int = 80, check=None) -> Walk:
    """Follow links from `start`; `check(page, url)` returns the problems of each page."""
    origin = None
    result = Walk()
    # The app's own pages first, Django admin's after them: the limit cuts admin pages, if any.
    queue, admin_queue = deque([start]), deque()
    seen_per_name: dict[str, int] = {}
    queued = {start}
    while (queue or admin_queue) and len(result.visited) < limit:
        url = (queue or admin_queue).popleft()
        name = url_name(url)
        if name is None:
            continue
        if seen_per_name.get(name, 0) >= per_name:
            continue
        response = page.goto(url)
        page.wait_for_load_state("load")
        origin = origin or "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
        seen_per_name[name] = seen_per_name.get(name, 0) + 1
        result.visited[url] = name
        result.statuses[url] = response.status if response else 0
        if check is not None:
            problems = check(page, url)
            if problems:
                result.problems[url] = problems
        # Links, and the scope pickers whose options lead to other pages.
        links = page.eval_on_selector_all(
            "a[href], select[data-navigate] option[value]",
            "els => els.map(el => el.href || new URL(el.value, document.baseURI).href)",
        )
        for href in links:
            href, _ = urldefrag(href)
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" != origin:
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path in queued or skipped(path):
                continue
            queued.add(path)
            (admin_queue if path.startswith("/admin/") else queue).append(path)
    return result


def overflow(page, url) -> list[str]:
    return page.evaluate(OVERFLOW_JS)
