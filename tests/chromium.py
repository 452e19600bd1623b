"""Headless Chromium driven over the DevTools protocol, for the tests that look at a page.

Debian's ``chromium`` package (``make chromium`` installs it, as ``make postgres`` does
PostgreSQL). ``load_page`` starts a throwaway browser (its own profile in a temporary folder, a
free debugging port that Chromium picks and writes to ``DevToolsActivePort``), opens the page,
waits for its load event, collects every console message, log entry and uncaught exception,
asks the DOM about its images and takes a screenshot; then the browser is ended. The protocol
client is aiohttp's websocket (already a dependency): no browser driver to install.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

BINARIES = ("chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str | None:
    return next((found for name in BINARIES if (found := shutil.which(name))), None)


@dataclass(frozen=True)
class PageResult:
    console: list[dict[str, Any]]  # Runtime.consoleAPICalled, Log.entryAdded: {"level", "text"}
    exceptions: list[str]  # Runtime.exceptionThrown
    images: list[dict[str, Any]]  # every <img>: src head, complete, naturalWidth, naturalHeight
    title: str
    text: str  # document.body.innerText
    screenshot: bytes  # PNG

    @property
    def errors(self) -> list[str]:
        return self.exceptions + [m["text"] for m in self.console if m["level"] in ("error", "assert")]


def load_page(path: Path, width: int = 1280, height: int = 1800, timeout: float = 60.0) -> PageResult:
    binary = chromium_binary()
    if binary is None:
        raise FileNotFoundError("no chromium binary (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="camid-chromium-") as profile:
        proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = _debugging_port(Path(profile), proc, timeout)
            driving = _drive(port, path.resolve().as_uri(), width, height)
            return asyncio.run(asyncio.wait_for(driving, timeout))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _debugging_port(profile: Path, proc: subprocess.Popen, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} before listening")
        try:
            first = marker.read_text().splitlines()[0]
            return int(first)
        except (OSError, IndexError, ValueError):
            time.sleep(0.1)
    raise TimeoutError("chromium did not open its debugging port")


async def _drive(port: int, url: str, width: int, height: int) -> PageResult:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as answer:
            targets = await answer.json()
        page = next(t for t in targets if t.get("type") == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            client = _Client(ws)
            for domain in ("Runtime", "Log", "Page"):
                await client.call(f"{domain}.enable")
            await client.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                              deviceScaleFactor=1, mobile=False)
            await client.call("Page.navigate", url=url)
            await client.wait_event("Page.loadEventFired")
            images = await client.evaluate(
                "Array.from(document.images).map(i => ({src: i.src.slice(0, 40), complete: i.complete,"
                " naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight}))")
            title = await client.evaluate("document.title")
            text = await client.evaluate("document.body.innerText")
            shot = await client.call("Page.captureScreenshot", format="png")
            return PageResult(client.console, client.exceptions, images, title, text,
                              base64.b64decode(shot["data"]))


class _Client:
    """Commands with ids, answers matched to them; events recorded as they arrive."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.console: list[dict[str, Any]] = []
        self.exceptions: list[str] = []
        self.events: list[str] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = await self._next()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def wait_event(self, name: str) -> None:
        while name not in self.events:
            await self._next()

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def _next(self) -> dict[str, Any]:
        raw = await self.ws.receive()
        if raw.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"DevTools connection ended: {raw.type}")
        message = json.loads(raw.data)
        method = message.get("method")
        if method:
            self.events.append(method)
            params = message.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                self.console.append({"level": params.get("type"), "text": text})
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                self.console.append({"level": entry.get("level"), "text": entry.get("text", "")})
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                thrown = details.get("exception", {}).get("description")
                self.exceptions.append(thrown or details.get("text", ""))
        return message


def require_chromium() -> bool:
    """Whether a missing Chromium must fail the test (``make test``) rather than skip it."""
    return os.environ.get("CAMID_REQUIRE_CHROMIUM") == "1"
