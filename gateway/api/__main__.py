"""`python -m gateway.api`: serve the gateway with uvicorn on the configured host and port."""

from __future__ import annotations

import argparse

import uvicorn

from foundation.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fraudctl payment gateway.")
    parser.add_argument("--access-log", action="store_true", help="log every request line")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    settings = get_settings().gateway
    uvicorn.run(
        "gateway.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=args.access_log,
        log_level=args.log_level,
        timeout_graceful_shutdown=int(settings.produce_timeout_s) + 5,
        timeout_keep_alive=settings.keep_alive_s,
    )


if __name__ == "__main__":
    main()
