"""The book's altair charts (``lib.charts``): the theme, the chart kinds and the offline vega assets
(:mod:`lib.book.charts.base`), small multiples and numbered figures (:mod:`lib.book.charts.panels`),
chapter 6's per-domain charts (:mod:`lib.book.charts.domains`) and each chapter's other chart views
(:mod:`lib.book.charts.views`)."""
from lib.book.charts.base import *  # noqa: F401,F403
from lib.book.charts.base import __all__ as _base
from lib.book.charts.domains import *  # noqa: F401,F403
from lib.book.charts.domains import __all__ as _domains
from lib.book.charts.panels import *  # noqa: F401,F403
from lib.book.charts.panels import __all__ as _panels
from lib.book.charts.views import *  # noqa: F401,F403
from lib.book.charts.views import __all__ as _views

__all__ = [*_base, *_domains, *_panels, *_views]
