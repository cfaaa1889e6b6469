"""The items of a STAC API, searched with pystac-client: :func:`search_api`.

An API that cannot be reached (connection refused, unknown host, no answer in time, an HTTP
error) or that answers something else than a STAC API with item search is a one-line
DatasetError naming the URL and what to do; every request has a timeout and a few retries, so
a search never hangs. The items found are then picked and loaded as those of a static catalog
(:mod:`.stac`). The items of Microsoft Planetary Computer's API are signed (:func:`signing`).
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sitsfusion.errors import DatasetError
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.sensors import SensorSpec

__all__ = ["API_RETRIES", "API_TIMEOUT", "SIGNED_HOSTS", "api_url", "search_api", "signing"]

# The collections searched on a STAC API per sensor platform (Microsoft Planetary Computer
# names; the shared contract's collection ids; Element 84 Earth Search v1 has the same
# sentinel-2-l2a, and no sentinel-1-rtc).
_COLLECTIONS = {"sentinel-2": "sentinel-2-l2a", "sentinel-1": "sentinel-1-rtc"}
API_TIMEOUT = 20.0
"""Own choice: seconds a STAC API may take to connect, and again to answer, per request."""
API_RETRIES = 2
"""Own choice: a request that fails to connect or times out is tried again this many times,
so an API that does not answer fails after about ``(1 + API_RETRIES) * API_TIMEOUT`` s."""
_API_HINT = "check the URL and your network, or give the path of a static catalog"
SIGNED_HOSTS = ("planetarycomputer.microsoft.com",)
"""Hosts of STAC APIs whose asset hrefs need a SAS token (Microsoft Planetary Computer's Azure
Blob Storage): their items are signed with ``planetary_computer.sign_inplace``."""


def api_url(source: str | Path) -> str | None:
    """The ``http(s)://`` URL of a STAC API that ``source`` names, else None (a path).

    A URL that went through :class:`~pathlib.Path` (a command-line path option) lost one
    slash of ``//`` (``https:/host/api``); it is given back."""
    text = str(source)
    for scheme in ("https:", "http:"):
        if text.startswith(scheme + "/"):
            rest = text[len(scheme) :].lstrip("/")
            return f"{scheme}//{rest}" if rest else None
    return None


def _api_failure(exc: BaseException, timeout: float) -> str:
    """What went wrong when a STAC API was opened or searched, in a few words."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"the server answered HTTP {status}"
    text = f"{exc} {exc.__context__ or ''}"
    if "timed out" in text.lower() or "timeout" in type(exc.__context__).__name__.lower():
        return f"no answer within {timeout:g} s (tried {1 + API_RETRIES} times)"
    if "NameResolutionError" in text or "Name or service not known" in text:
        return "the host name is not known (DNS)"
    if "Connection refused" in text:
        return "connection refused"
    if type(exc).__name__ == "DoesNotConformTo":
        return "a STAC catalog but not a STAC API with item search (conformance item-search)"
    if isinstance(exc, ValueError | TypeError | KeyError | AttributeError) or (
        type(exc).__name__ in ("ClientTypeError", "STACTypeError")
    ):  # JSON that is not a landing page, or not JSON at all
        return "the answer is not a STAC API landing page (JSON with stac_version, links)"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {first[:200]}"


def signing(url: str) -> Callable[[Any], Any] | None:
    """The pystac-client ``modifier`` that signs the items of the STAC API at ``url``:
    ``planetary_computer.sign_inplace`` (package ``planetary-computer``) when its host is one
    of :data:`SIGNED_HOSTS`, else None. A one-line ImportError naming ``pip install
    planetary-computer`` when the package is missing."""
    host = (urlsplit(url).hostname or "").lower()
    if not any(host == h or host.endswith("." + h) for h in SIGNED_HOSTS):
        return None
    try:
        import planetary_computer
    except ImportError:
        raise ImportError(
            f"{url}: the Planetary Computer's assets must be signed, which needs the "
            "planetary-computer package: pip install planetary-computer"
        ) from None
    return planetary_computer.sign_inplace


def search_api(
    url: str,
    spec: SensorSpec,
    grid: Grid,
    start: _dt.date | None = None,
    end: _dt.date | None = None,
    *,
    timeout: float | None = None,
) -> tuple[list[Any], str]:
    """The items of ``spec``'s collection over the grid in ``[start, end]`` from a STAC API,
    searched with pystac-client (in the ``geo`` extra); the items of Microsoft Planetary
    Computer are signed (:func:`signing`: a SAS token on each asset href).

    Each request may take ``timeout`` seconds (None: :data:`API_TIMEOUT`) to connect and
    again to answer, and is tried :data:`API_RETRIES` more times. An API that cannot be
    reached (connection refused, unknown host, no answer, an HTTP error) or that answers
    something else than a STAC API raises a one-line DatasetError naming the URL."""
    try:
        import pystac_client
        from pystac_client.stac_api_io import StacApiIO
        from pystac_client.warnings import PystacClientWarning
    except ImportError:
        raise ImportError(
            f"{url}: searching a STAC API needs pystac-client (pip install 'sitsfusion[geo]' "
            "or pip install pystac-client), or give the path of a static catalog"
        ) from None
    modifier = signing(url)
    seconds = API_TIMEOUT if timeout is None else float(timeout)
    when = None
    if start is not None or end is not None:
        when = f"{start or '..'}/{end or '..'}"
    try:
        with warnings.catch_warnings():  # "no conformance classes": the search says more
            warnings.simplefilter("ignore", PystacClientWarning)
            client = pystac_client.Client.open(
                url,
                stac_io=StacApiIO(max_retries=API_RETRIES),
                timeout=seconds,
                modifier=modifier,
            )
            search = client.search(
                collections=[_COLLECTIONS[spec.platform]],
                bbox=list(grid.bounds_in("EPSG:4326")),
                datetime=when,
            )
            items = list(search.items())
    except Exception as exc:  # network, HTTP and API errors of pystac-client and requests
        raise DatasetError(
            url, f"STAC API search failed: {_api_failure(exc, seconds)}; {_API_HINT}"
        ) from None
    return items, url
