"""plotly.min.js served from the installed plotly wheel: reading rooms often have no internet, so
no CDN, and the file follows the package's version without a copy in static/."""

import functools
import re
from pathlib import Path

import plotly
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotModified
from django.views.decorators.http import require_GET

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# The URL carries the version (?v=), so a year of caching is safe: an upgrade changes the URL.
CACHE_SECONDS = 365 * 24 * 3600
ETAG = f'"plotly-{plotly.__version__}"'


@require_GET
def plotly_js(request: HttpRequest) -> HttpResponse:
    if request.headers.get("If-None-Match") == ETAG:
        return HttpResponseNotModified()
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}, immutable"
    response["ETag"] = ETAG
    return response


def plotly_version() -> str:
    return plotly.__version__


# plotly.js adds its own stylesheet (main-svg layers stacked, the mode bar) through a <style>
# element, which our CSP (style-src 'self') refuses: the same rules, read from the bundle's rules
# object ("X .main-svg": "position:absolute;..."), are served here as a stylesheet of our origin.
RULES_START = '{"X,X div":'
RULE = re.compile(r"""(?:"([^"]+)"|([A-Za-z]\w*)):(?:'([^']*)'|"([^"]*)")""")
PREFIXES = {"X": ".js-plotly-plot .plotly", "Y": ".plotly-notifier"}


@functools.cache
def plotly_css_text() -> str:
    source = PLOTLY_JS.read_text(encoding="utf-8")
    start = source.index(RULES_START)
    end = source.index("}", source.index('"Y p"', start))
    rules = []
    for quoted_key, bare_key, single, double in RULE.findall(source[start + 1 : end]):
        selector = quoted_key or bare_key
        selector = re.sub(r"\b([XY])\b", lambda match: PREFIXES[match.group(1)], selector)
        rules.append(f"{selector}{{{single or double}}}")
    return "\n".join(rules) + "\n"


@require_GET
def plotly_css(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(plotly_css_text(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}, immutable"
    return response
