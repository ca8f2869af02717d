"""The web pages: protect photos (hashed in the browser), follow a case, moderator dashboard.

``install(app)`` adds the pages and the static files (``/static``) to the FastAPI app.
"""

from rempart.web.pages import install

__all__ = ["install"]
