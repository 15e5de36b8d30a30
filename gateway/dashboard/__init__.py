"""The web dashboard: a FastAPI app that streams `fraud:alerts` to browsers over a WebSocket.

Run it with `uvicorn gateway.dashboard.app:app` (settings from FRAUDCTL_… variables), or
`uvicorn --factory gateway.dashboard.app:create_app`.
"""
