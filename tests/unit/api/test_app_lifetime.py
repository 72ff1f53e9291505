"""An app, once dropped, lets its context go: nothing global (FastAPI's caches of endpoint
facts included) keeps a context, its tables and its DynamoDB client alive. Each API test
builds an app; a kept context was ~10 MB a test (the suite's memory grew to ~6 GB)."""

from __future__ import annotations

import gc
import weakref

from tests.api_client import api_context, auth, client_for
from tests.factories import RENTER


def test_a_dropped_app_releases_its_context(settings, tables):
    context = api_context(settings, tables)
    client = client_for(context)
    assert client.get("/api/health").json() == {"status": "ok", "stage": "test"}
    assert client.get("/api/accounts/me", headers=auth(RENTER)).status_code == 200
    released = weakref.ref(context)
    del context, client
    gc.collect()
    assert released() is None
