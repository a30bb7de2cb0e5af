"""The HTTP service and the Flutter web app over one Roost home.

:func:`create_app` builds a FastAPI app from :class:`ServiceSettings`; routers are thin and
call the :class:`~roost.engine.Engine` (recommend, similar, search, embed, live writes) or
the stores (catalog CRUD, versions). ``roost serve`` runs it under uvicorn.
"""

from roost.service.app import create_app
from roost.service.config import ServiceSettings
from roost.service.keys import KeyStore

__all__ = ["KeyStore", "ServiceSettings", "create_app"]
