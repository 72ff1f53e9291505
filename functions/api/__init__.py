"""The HTTP API: a FastAPI app (served by Mangum in Lambda, uvicorn locally)."""
