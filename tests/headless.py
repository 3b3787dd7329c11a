"""A minimal Chrome DevTools Protocol client for the offline report test: load a page in headless
Chromium with the network switched off, and report what a reader would notice (errors, charts, requests)."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
         "--no-first-run", "--disable-component-update", "--disable-sync", "--remote-debugging-port=0",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="respread-chromium-")
        self.proc = subprocess.Popen([chromium_path(), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.events: list[dict] = []
        for method in ("Page.enable", "Runtime.enable", "Network.enable", "Log.enable"):
            self.call(method)
        self.call("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                  uploadThroughput=-1)

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def load(self, url: str, settle: float = 0.5) -> dict:
        """Navigate, wait for the load event, and return what the page shows and what went wrong."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.time() + 30
        while time.time() < deadline and not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(json.loads(self.ws.recv()))
        time.sleep(settle)
        probe = """JSON.stringify({
            svg: document.querySelectorAll('svg').length,
            canvas: document.querySelectorAll('canvas').length,
            svg_images: [...document.images].filter(i => i.src.startsWith('data:image/svg')).length,
            broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length,
            links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
            title: document.title, text: document.body ? document.body.innerText.length : 0})"""
        shown = json.loads(self.call("Runtime.evaluate", expression=probe, returnByValue=True)["result"]["value"])
        shown["errors"] = [e["params"] for e in self.events if e.get("method") == "Runtime.exceptionThrown"] + \
            [e["params"]["entry"] for e in self.events
             if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error"]
        shown["requests"] = [e["params"]["request"]["url"] for e in self.events
                             if e.get("method") == "Network.requestWillBeSent"]
        return shown

    def screenshot(self, path: Path, width: int = 1200, height: int = 1600) -> Path:
        import base64
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)
