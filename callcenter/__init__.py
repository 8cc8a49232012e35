"""The web console (Flask): agents, dispatch, providers and the JSON API.

``create_app(config)`` builds everything; importing this package does no work.
"""

from callcenter.app import create_app

__all__ = ["create_app"]
