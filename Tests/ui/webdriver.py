"""A small W3C WebDriver client over urllib, enough to drive headless Chromium through chromedriver
without Selenium."""

import base64
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Element:
    def __init__(self, driver, element_id):
        self.driver, self.id = driver, element_id

    def click(self):
        self.driver.command("POST", f"/element/{self.id}/click", {})

    def send_keys(self, text):
        self.driver.command("POST", f"/element/{self.id}/value", {"text": text})

    def clear(self):
        self.driver.command("POST", f"/element/{self.id}/clear", {})


class Browser:
    """Starts chromedriver, opens one headless Chromium session, and closes both on exit."""

    def __init__(self, chromedriver="chromedriver", chrome=None, width=1280, height=900):
        self.port = free_port()
        self.process = subprocess.Popen([chromedriver, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait_ready()
        options = {"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                            f"--window-size={width},{height}", "--hide-scrollbars", "--force-color-profile=srgb"]}
        if chrome:
            options["binary"] = chrome
        capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options,
                                                          "goog:loggingPrefs": {"browser": "ALL"}}}}
        self.session = self._call("POST", "/session", capabilities)["sessionId"]

    def _wait_ready(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self._call("GET", "/status").get("ready"):
                    return
            except (OSError, WebDriverError):
                pass
            if self.process.poll() is not None:
                raise WebDriverError(f"chromedriver exited with status {self.process.returncode}")
            time.sleep(0.1)
        raise WebDriverError("chromedriver did not become ready in 20 s")

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                payload = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            payload = json.loads(error.read() or b"{}")
            value = payload.get("value", {})
            raise WebDriverError(f"{method} {path}: {value.get('error')}: {value.get('message', '')[:300]}") from None
        return payload.get("value")

    def command(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url):
        self.command("POST", "/url", {"url": url})

    def find(self, css):
        value = self.command("POST", "/element", {"using": "css selector", "value": css})
        return Element(self, value[ELEMENT])

    def run(self, script, *args):
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script, *args, timeout=20, message="condition"):
        """Polls a script until it returns something truthy; returns that value."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.run(script, *args)
            if last:
                return last
            time.sleep(0.1)
        raise TimeoutError(f"timed out after {timeout} s waiting for {message} (last value {last!r})")

    def cdp(self, command, params=None):
        return self.command("POST", "/goog/cdp/execute", {"cmd": command, "params": params or {}})

    def emulate(self, width, height, mobile):
        self.cdp("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 3 if mobile else 1, "mobile": mobile})

    def screenshot(self, path, full_page=False):
        if full_page:
            data = self.cdp("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        else:
            data = self.command("GET", "/screenshot")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def browser_log(self):
        try:
            return self.command("POST", "/se/log", {"type": "browser"})
        except WebDriverError:
            return []

    def close(self):
        try:
            self.command("DELETE", "")
        except (OSError, WebDriverError):
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
