"""Badge art: a small SVG per catalog entry, drawn from its tier and name.

The catalog's `image` is a path under `/badges/` that the server itself answers, so the URLs
`GET /achievements` hands out always resolve, whatever the deployment serves statically. The
art is generated, not shipped as files: one place (the catalog) names every badge, and a new
entry gets its image without anyone drawing one.
"""

from __future__ import annotations

from functools import lru_cache
from xml.sax.saxutils import escape, quoteattr

from models.achievement import Tier
from server.errors import NotFound
from server.progress.catalog import Catalog

BADGE_PATH_PREFIX = "/badges/"
SVG_MEDIA_TYPE = "image/svg+xml"
# Generated from the packaged catalog: it changes only with a release, so caches may keep it.
CACHE_CONTROL = "public, max-age=86400"
# The SVG is served from the API's own origin: it may not run scripts or load anything.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}

# (rim, face, ink) per tier.
_COLOURS: dict[Tier, tuple[str, str, str]] = {
    "bronze": ("#8c5a2b", "#cd7f32", "#3b2410"),
    "silver": ("#7d8791", "#c0c7cf", "#2c3238"),
    "gold": ("#a67c00", "#f2c230", "#4a3700"),
    "platinum": ("#5e6e7d", "#dfe8ef", "#1f2d3a"),
}


def initials(name: str) -> str:
    """Up to two letters or digits from the name's first words ("Streak 7" -> "S7")."""
    letters = [word[0] for word in name.split() if word[:1].isalnum()]
    return "".join(letters[:2]).upper() or "★"


@lru_cache(maxsize=256)
def render_badge(*, name: str, tier: Tier) -> str:
    """A 128x128 medal in the tier's colours with the name's initials; the name is its
    accessible title. Text is XML-escaped: a catalog entry cannot inject markup."""
    rim, face, ink = _COLOURS[tier]
    title = escape(f"{name} ({tier} badge)")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" '
        'viewBox="0 0 128 128" role="img" aria-labelledby="title">'
        f'<title id="title">{title}</title>'
        f'<path d="M40 4h16l8 22 8-22h16l-14 38H54z" fill={quoteattr(rim)}/>'
        f'<circle cx="64" cy="76" r="48" fill={quoteattr(rim)}/>'
        f'<circle cx="64" cy="76" r="40" fill={quoteattr(face)}/>'
        '<text x="64" y="88" text-anchor="middle" font-family="system-ui, sans-serif" '
        f'font-size="32" font-weight="700" fill={quoteattr(ink)}>{escape(initials(name))}</text>'
        "</svg>"
    )


def badge_svg(catalog: Catalog, filename: str) -> str:
    """The art of the catalog entry whose `image` is `/badges/<filename>`; 404 otherwise."""
    spec = catalog.with_image(BADGE_PATH_PREFIX + filename)
    if spec is None:
        raise NotFound("No such badge.", code="badge_not_found")
    return render_badge(name=spec.name, tier=spec.tier)
