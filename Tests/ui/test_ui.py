#!/usr/bin/env python3
"""Drives the web UI in headless Chromium (chromedriver, plain WebDriver over urllib).

    python Tests/ui/test_ui.py --base-url http://127.0.0.1:8080 [--token T]   # against a running service
    python Tests/ui/test_ui.py --serve-command ".build/release/salient serve"  # starts it, stops it with SIGTERM
    python Tests/ui/test_ui.py                                                 # starts .build/release/salient serve

With --serve-command the service gets a free SALIENT_PORT, a fresh SALIENT_DATA_DIR, a
SALIENT_API_TOKEN and a SALIENT_READ_TOKEN (so the page must send a token with everything it
loads, the saliency image, downloads and a job's event stream included), must answer /readyz within --ready-timeout seconds, and must exit with
status 0 within 15 s of SIGTERM at the end; --healthcheck-command is then run against it
while it runs (must exit 0) and after it stopped (must exit 1).

Opens the page without a token (with a read token: the list is refused and says why), types the
read token and sees the models listed, classifies a photo, checks the five bars and the saliency map, switches class and colormap,
opens the Models tab (layer table, receptive field), runs a fine-tuning job from a generated
ImageFolder zip, follows it to the end and classifies with the new model; checks labels, alt
text, keyboard tabs, focus rings, text contrast and that nothing overflows a 390x844 phone.
Screenshots go to test-output/ui/. Prints "N passed, N failed"; exits 1 on any failure.
"""

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from png import encode_png  # noqa: E402
from webdriver import Browser, free_port  # noqa: E402

REPO = HERE.parents[1]
ARROW_RIGHT, ARROW_LEFT = "\ue014", "\ue012"

# Every visible text node's colour against its effective background; large text needs 3:1, the rest 4.5:1.
CONTRAST_SCRIPT = r"""
const parse = (c) => {
  let m = c.match(/rgba?\(([^)]+)\)/);
  if (m) { const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
  m = c.match(/color\(srgb ([^)]+)\)/);
  if (m) { const p = m[1].split(/[ \/]+/).filter(Boolean).map(Number); return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1]; }
  return null;
};
const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const background = (el) => {
  const layers = [];
  for (let n = el; n; n = n.parentElement) { const c = parse(getComputedStyle(n).backgroundColor); if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
  let out = [255, 255, 255];
  for (const c of layers.reverse()) out = out.map((v, i) => c[i] * c[3] + v * (1 - c[3]));
  return out;
};
const failures = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const text = walker.currentNode; const el = text.parentElement;
  if (!text.textContent.trim() || !el || el.closest("svg, [hidden], .visually-hidden, option") || el.closest(":disabled")) continue;
  const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) continue;
  const s = getComputedStyle(el); if (s.visibility === "hidden" || Number(s.opacity) === 0) continue;
  const fg = parse(s.color); const bg = background(el);
  const blended = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
  const [a, b] = [lum(blended), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  const size = parseFloat(s.fontSize); const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) failures.push(`${text.textContent.trim().slice(0, 30)} (${ratio.toFixed(2)}:1)`);
}
return failures;
"""

UNLABELLED_SCRIPT = """
return [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => el.type !== "hidden")
  .filter((el) => el.tagName === "BUTTON"
    ? !(el.textContent.trim() || el.getAttribute("aria-label"))
    : !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
  .map((el) => el.id || el.outerHTML.slice(0, 60));
"""


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def run(self, name, step):
        started = time.time()
        try:
            detail = step()
            self.passed += 1
            print(f"PASS {name}" + (f" — {detail}" if detail else "") + f" ({time.time() - started:.1f} s)", flush=True)
            return True
        except Exception as error:  # a failed step is reported and the next one still runs
            self.fail(name, error)
            return False

    def fail(self, name, error):
        self.failed += 1
        print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
        if not isinstance(error, (AssertionError, TimeoutError, RuntimeError)):
            traceback.print_exc()


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def shared_file(*parts):
    """A file of shared/data beside an ancestor of this folder (CI clones the repo beside shared/)."""
    for folder in HERE.parents:
        candidate = folder.joinpath("shared", "data", *parts)
        if candidate.is_file():
            return candidate
    return None


def stripes(vertical, rng):
    """A 28x28 gray image of stripes, a class any CNN can learn to tell apart from the other."""
    period = rng.choice([4, 5, 6])
    phase = rng.randrange(period)
    pixels = bytearray()
    for y in range(28):
        for x in range(28):
            on = ((x if vertical else y) + phase) % period < period // 2
            pixels.append(max(0, min(255, (220 if on else 30) + rng.randint(-20, 20))))
    return encode_png(28, 28, bytes(pixels), channels=1)


def dataset_zip(path, per_class=12):
    rng = random.Random(7)
    with zipfile.ZipFile(path, "w") as archive:
        for name, vertical in (("horizontal", False), ("vertical", True)):
            for i in range(per_class):
                archive.writestr(f"stripes/{name}/{i:03}.png", stripes(vertical, rng))


def http_get(url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def http_status(url):
    """The status of a GET without a token."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def http_headers(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers


# Records every Content-Security-Policy violation from the first script on, page scripts' included.
CSP_RECORDER = """window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`));"""


class ServiceProcess:
    """The real service (or any command honouring SALIENT_PORT), started for the test."""

    def __init__(self, command, token, read_token, output):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = tempfile.mkdtemp(prefix="salient-ui-data-")
        # A token alone would listen on every interface; the test keeps the service on this machine.
        env = dict(os.environ, SALIENT_HOST="127.0.0.1", SALIENT_PORT=str(self.port), SALIENT_DATA_DIR=self.data,
                   SALIENT_API_TOKEN=token, SALIENT_READ_TOKEN=read_token)
        self.log = open(output / "server.log", "wb")
        self.process = subprocess.Popen(shlex.split(command), env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with status {self.process.returncode}; see {self.log.name}")
            try:
                if http_get(self.base + "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the service was not ready within {timeout} s; see {self.log.name}")

    def probe(self, command):
        """Runs a health-check command aimed at this service; returns its exit status."""
        env = dict(os.environ, SALIENT_PORT=str(self.port))
        return subprocess.run(shlex.split(command), env=env, cwd=REPO, capture_output=True, timeout=30).returncode

    def stop(self):
        """SIGTERM, then the exit status, or None if it had to be killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
        finally:
            self.log.close()
            shutil.rmtree(self.data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description="Browser test of the Salient web UI.")
    parser.add_argument("--base-url", help="a running service; without it the service is started (--serve-command)")
    parser.add_argument("--serve-command", default=f"{REPO / '.build' / 'release' / 'salient'} serve",
                        help="start this command as the service (default: the release build's 'salient serve')")
    parser.add_argument("--ready-timeout", type=float, default=120, help="seconds the started service has to become ready")
    parser.add_argument("--healthcheck-command",
                        help="with --serve-command: a probe (e.g. '.build/release/salient healthcheck') that must "
                             "exit 0 while the service runs and non-zero once it has stopped")
    parser.add_argument("--token", help="API token the service requires (typed into the UI's token field)")
    parser.add_argument("--read-token", help="the service's read token, if it has one (typed first; --token replaces it "
                                             "before the first change)")
    parser.add_argument("--image", help="photo to classify (default: shared/data/images/chelsea.png)")
    parser.add_argument("--output", default=str(REPO / "test-output" / "ui"), help="screenshot folder")
    parser.add_argument("--chromedriver", default="chromedriver")
    parser.add_argument("--chrome", help="Chromium binary (default: what chromedriver finds)")
    parser.add_argument("--job-timeout", type=float, default=300, help="seconds to wait for the fine-tuning job")
    parser.add_argument("--skip-job", action="store_true", help="do not run a fine-tuning job")
    args = parser.parse_args()

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    checks = Checks()
    service = None
    token, read_token = args.token, args.read_token
    try:
        if args.base_url:
            base = args.base_url.rstrip("/")
        else:
            token = token or "ui-test-token"
            read_token = read_token or "ui-test-read-token"
            service = ServiceProcess(args.serve_command, token, read_token, output)
            base = service.base
            if not checks.run("the service starts and becomes ready", lambda: service.wait_ready(args.ready_timeout)):
                base = None
            elif args.healthcheck_command:
                checks.run("the health check passes while the service runs",
                           lambda: expect_status(service.probe(args.healthcheck_command), 0))
        try:
            if base:
                drive(args, base, token, read_token, output, checks)
        except Exception as error:  # chromedriver or the browser broke down: one more failure, still a summary
            checks.fail("the browser session", error)
    finally:
        if service and not base:
            service.stop()
        elif service:
            def stops_cleanly():
                status = service.stop()
                expect(status == 0, f"after SIGTERM the service {'was killed after 15 s' if status is None else f'exited with {status}'}")
            checks.run("the service stops cleanly on SIGTERM", stops_cleanly)
            if args.healthcheck_command:
                checks.run("the health check fails once the service has stopped",
                           lambda: expect_status(service.probe(args.healthcheck_command), 1))
    print(f"screenshots in {output}")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


def drive(args, base, token, read_token, output, checks):
    """Every browser check, in the order a user would go."""
    with tempfile.TemporaryDirectory(prefix="salient-ui-") as folder:
        work = Path(folder)
        image = Path(args.image) if args.image else shared_file("images", "chelsea.png")
        if image is None:  # no shared data: a generated Fashion-MNIST-sized image still exercises everything
            image = work / "stripes.png"
            image.write_bytes(stripes(True, random.Random(1)))
        with Browser(args.chromedriver, args.chrome) as b:
            browse(b, args, base, token, read_token, output, checks, work, image)


def browse(b, args, base, token, read_token, output, checks, work, image):
    b.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_RECORDER})

    def security_headers():
        headers = http_headers(base + "/")
        policy = headers.get("Content-Security-Policy", "")
        expect("frame-ancestors 'none'" in policy and "script-src 'self'" in policy, f"the page's policy is {policy!r}")
        expect(headers.get("X-Content-Type-Options") == "nosniff", "no X-Content-Type-Options: nosniff")
        expect(headers.get("X-Frame-Options") == "DENY", "no X-Frame-Options: DENY")
        expect(headers.get("Referrer-Policy") == "no-referrer", "no Referrer-Policy")
        return policy
    checks.run("the page comes with a Content-Security-Policy and the other security headers", security_headers)

    def load():
        b.get(base + "/")
        b.wait_for("return document.body.dataset.ready === 'true'", message="the page to load its models")
        count = b.run("return document.querySelectorAll('#classify-model option').length")
        if read_token:
            status = b.run("const s = document.getElementById('classify-status'); return [s.dataset.kind, s.textContent]")
            expect(count == 0 and status[0] == "error" and "token" in status[1].lower(),
                   f"without the read token the page lists {count} models and says {status}")
            return status[1]
        expect(count >= 1, "the model select is empty")
        return f"{count} model(s) listed"
    if not checks.run("page loads and " + ("explains that the list needs the read token" if read_token else "lists the models"), load):
        return

    checks.run("every control has a label and every button a name", lambda: expect_empty(b.run(UNLABELLED_SCRIPT)))

    def keyboard_tabs():
        tab = b.find("#tab-classify")
        tab.click()
        tab.send_keys(ARROW_RIGHT)
        state = b.run("""return [document.activeElement.id, document.getElementById('tab-models').getAttribute('aria-selected'),
                          document.getElementById('panel-models').hidden, getComputedStyle(document.activeElement).outlineStyle]""")
        expect(state[:3] == ["tab-models", "true", False], f"ArrowRight did not move to the Models tab: {state}")
        expect(state[3] != "none", "the focused tab shows no focus ring")
        b.find("#tab-models").send_keys(ARROW_LEFT)
        back = b.run("return document.activeElement.id + ' ' + document.getElementById('panel-classify').hidden")
        expect(back == "tab-classify false", f"ArrowLeft did not return to Classify: {back}")
        return "arrow keys move between tabs, focus ring visible"
    checks.run("tabs work from the keyboard", keyboard_tabs)

    def type_token(value):
        field = b.find("#token")
        b.run("document.querySelector('details.token').open = true")
        field.clear()
        field.send_keys(value)
        stored = b.run("return localStorage.getItem('salient.token')")
        expect(stored == value, f"the token was not stored: {stored!r}")
        b.run("document.querySelector('details.token').open = false")

    def set_token():
        type_token(read_token or token)
        count = b.wait_for("""const s = document.getElementById('classify-status');
                              const n = document.querySelectorAll('#classify-model option').length;
                              return n > 0 && s.dataset.kind !== 'error' && n""", message="the model list to load with the token")
        return f"{count} model(s) listed once the {'read ' if read_token else ''}token is typed"
    if read_token or token:
        if not checks.run("the token field stores the token and the model list reloads with it", set_token):
            return

    def classify():
        before = b.run("return document.getElementById('saliency-image').getAttribute('src')")
        b.find("#image-input").send_keys(str(image))
        b.run("document.getElementById('classify-model').dispatchEvent(new Event('change'))")  # same file again
        rows = b.wait_for("""const rows = [...document.querySelectorAll('#predictions li')];
                             return rows.length === 5 && !document.getElementById('predictions').hasAttribute('aria-busy') &&
                               rows.map((li) => [li.querySelector('.prediction-label').textContent,
                                                 li.querySelector('.prediction-value').textContent,
                                                 li.querySelector('.bar-fill').getBoundingClientRect().width])""",
                          message="five prediction bars")
        values = [float(v.rstrip("%")) for _, v, _ in rows]
        expect(values == sorted(values, reverse=True), f"probabilities are not in descending order: {values}")
        expect(sum(values) <= 100.5, f"probabilities add up to more than 100%: {values}")
        expect(all(w > 0 for *_, w in rows), "a bar has no width")
        timing = b.run("return document.getElementById('timing').textContent")
        expect("ms" in timing, f"no timing shown: {timing!r}")
        b.wait_for("""const i = document.getElementById('saliency-image');
                      return i.getAttribute('src') !== arguments[0] && i.complete && i.naturalWidth > 0""", before,
                   message="the saliency map to load")
        return f"top: {rows[0][0]} {rows[0][1]}; {timing}"
    classified = checks.run("a photo gets five bars and the timing", classify)

    def saliency():
        info = b.run("""const i = document.getElementById('saliency-image'), a = document.getElementById('saliency-link');
                        return [i.naturalWidth, i.alt, i.getAttribute('src'), a.getAttribute('href'), a.dataset.source]""")
        expect(info[0] > 0, "the saliency image did not load")
        expect(info[1], "the saliency image has no alt text")
        # Fetched with the token into an object URL, which the link opens too; the token never goes in a URL.
        expect(info[2].startswith("blob:") and info[3] == info[2], f"the image is {info[2]!r} and the link {info[3]!r}")
        expect(info[4].endswith(".png"), f"the map's address is {info[4]!r}")
        if read_token:
            expect(http_status(base + info[4]) == 401, f"{info[4]} is served without the read token")
        status, content_type, body = http_get(base + info[4], read_token or token)
        expect(status == 200 and content_type.startswith("image/png") and body[:4] == b"\x89PNG",
               f"the PNG answered {status} {content_type}")
        return f"{info[0]} px wide, alt: {info[1]}"
    if classified:
        checks.run("the saliency map loads and its PNG opens on its own", saliency)

    def other_class():
        label = b.run("return document.querySelectorAll('#predictions .prediction-label')[1].textContent")
        src = b.run("return document.getElementById('saliency-image').src")
        b.find("#predictions li:nth-child(2) button").click()
        b.wait_for("""const i = document.getElementById('saliency-image');
                      return i.src !== arguments[0] && i.complete && i.naturalWidth > 0 &&
                             document.getElementById('saliency-caption').textContent.includes(arguments[1])""", src, label,
                   message=f"the map of {label}")
        pressed = b.run("return document.querySelector('#predictions li:nth-child(2) button').getAttribute('aria-pressed')")
        expect(pressed == "true", "the chosen class is not marked as pressed")
        return f"map of {label}"
    if classified:
        checks.run("clicking a class shows its map", other_class)

    def colormap():
        src = b.run("return document.getElementById('saliency-image').src")
        b.run("""const s = document.getElementById('saliency-colormap'); s.value = 'gray';
                 s.dispatchEvent(new Event('change'))""")
        b.wait_for("""const i = document.getElementById('saliency-image');
                      return i.src !== arguments[0] && i.complete && i.naturalWidth > 0 && i.alt.includes('gray')""", src,
                   message="the gray map")
    if classified:
        checks.run("changing the colormap reloads the map", colormap)

    def overlay_off():
        src = b.run("return document.getElementById('saliency-image').src")
        b.find("#saliency-overlay").click()
        disabled = b.run("return document.getElementById('saliency-alpha').disabled")
        expect(disabled, "the opacity slider stays enabled without an overlay")
        b.wait_for("""const i = document.getElementById('saliency-image');
                      return i.src !== arguments[0] && i.complete && i.naturalWidth > 0 && !i.alt.includes('over the image')""",
                   src, message="the map without overlay")
        b.find("#saliency-overlay").click()
    if classified:
        checks.run("turning the overlay off disables the opacity and reloads the map", overlay_off)

    def fidelity():
        src = b.run("return document.getElementById('saliency-image').src")
        b.find("#saliency-fidelity").click()
        scores = b.wait_for("""const i = document.getElementById('saliency-image');
                               const dd = [...document.querySelectorAll('#fidelity-scores dd')];
                               return i.src !== arguments[0] && !document.getElementById('fidelity').hidden && dd.length === 2 &&
                                 dd.map((d) => [Number(d.dataset.auc), Number(d.dataset.random), d.textContent])""", src,
                            message="the fidelity scores")
        for auc, random, text in scores:
            expect(0 <= auc <= 1 and 0 <= random <= 1, f"an area outside [0, 1]: {scores}")
            expect(f"{auc:.3f}" in text and f"{random:.3f}" in text, f"the area is not shown as given: {text!r}")
        curves = b.run("""return [...document.querySelectorAll('#fidelity-chart .series polyline')].map((p) =>
                            [p.parentNode.getAttribute('class'), p.getAttribute('points').trim().split(' ').length])""")
        expect(len(curves) == 4, f"expected four curves, got {curves}")
        expect(all(n > 100 for _, n in curves), f"a curve has too few points: {curves}")
        expect({c for c, _ in curves} == {"series deletion", "series insertion", "series deletion random", "series insertion random"},
               f"curves: {curves}")
        title = b.run("return document.querySelector('#fidelity-chart title').textContent")
        expect("deletion AUC" in title and "insertion AUC" in title, f"the chart has no summary: {title!r}")
        b.find("#saliency-fidelity").click()
        b.wait_for("return document.getElementById('fidelity').hidden", message="the fidelity section to hide")
        return f"deletion {scores[0][0]:.3f} (random {scores[0][1]:.3f}), insertion {scores[1][0]:.3f} (random {scores[1][1]:.3f})"
    if classified:
        checks.run("fidelity shows both areas beside chance and the four curves", fidelity)

    def sanity():
        b.find("#sanity-run").click()
        rows = b.wait_for("""const t = document.getElementById('sanity-table');
                             const rows = [...document.querySelectorAll('#sanity-body tr')];
                             return !t.hidden && rows.length === 5 && !document.getElementById('sanity-run').disabled &&
                               rows.map((r) => [r.dataset.method, r.dataset.flagged, r.cells.length, r.lastChild.textContent])""",
                          message="the sanity check's table", timeout=120)
        layers = b.run("return document.querySelectorAll('#sanity-head th').length") - 3
        expect(layers == 4, f"fashion-cnn has four weighted layers, the table shows {layers}")
        for method, flagged, cells, verdict in rows:
            expect(cells == layers + 3, f"{method}: {cells} cells")
            expect(verdict == ("flagged" if flagged == "true" else "passed"), f"{method}: {flagged} shown as {verdict!r}")
        flagged = [m for m, f, _, _ in rows if f == "true"]
        shown = b.wait_for("""const c = document.getElementById('saliency-caption').textContent;
                              return c.includes('sanity check') && c""", message="the verdict in the map's caption")
        method = b.run("return document.getElementById('saliency-method').value")
        expect(("flagged" in shown) == (method in flagged), f"{method} is {'flagged' if method in flagged else 'passed'}: {shown!r}")
        return f"flagged: {', '.join(flagged) or 'none'}"
    if classified:
        checks.run("the sanity check shows each method's correlations and its verdict, and the map's caption says it", sanity)

    def drop(name, content_type, script_body):
        """Drops a file made in the page by script_body (which returns a Blob) on the drop zone."""
        b.run(f"""return (async () => {{
            const blob = await (async () => {{ {script_body} }})();
            const transfer = new DataTransfer();
            transfer.items.add(new File([blob], {json.dumps(name)}, {{ type: {json.dumps(content_type)} }}));
            document.getElementById('drop-zone').dispatchEvent(new DragEvent('drop', {{ dataTransfer: transfer, bubbles: true }}));
        }})()""")

    def dropped_image():
        drop("dropped.png", "image/png", """const image = document.getElementById('saliency-image');
            const canvas = document.createElement('canvas');
            [canvas.width, canvas.height] = [image.naturalWidth, image.naturalHeight];
            canvas.getContext('2d').drawImage(image, 0, 0);
            return await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));""")
        b.wait_for("""return document.getElementById('preview-caption').textContent.startsWith('dropped.png') &&
                      document.querySelectorAll('#predictions li').length > 0 &&
                      document.getElementById('classify-status').dataset.kind !== 'error'""",
                   message="the dropped image to be classified")
    if classified:
        checks.run("an image dropped on the page is classified", dropped_image)

    def dropped_text():
        drop("notes.txt", "text/plain", "return new Blob(['not an image']);")
        message = b.wait_for("""const s = document.getElementById('classify-status');
                                return s.dataset.kind === 'error' && s.textContent""", message="an error message")
        expect(not b.run("return document.querySelectorAll('#predictions li').length"), "old predictions stay on screen")
        return message
    checks.run("a file that is not an image gets a clear error", dropped_text)

    def choose_again():
        picker = b.find("#image-input")
        picker.clear()
        picker.send_keys(str(image))
        b.wait_for("""const i = document.getElementById('saliency-image');
                      return document.querySelectorAll('#predictions li').length === 5 && i.complete && i.naturalWidth > 0 &&
                             document.getElementById('preview-caption').textContent.startsWith(arguments[0])""", image.name,
                   message="the photo again")
    checks.run("after an error, choosing the photo again classifies it", choose_again)
    b.screenshot(output / "desktop-classify.png", full_page=True)

    checks.run("text contrast meets WCAG AA (classify)", lambda: expect_empty(b.run(CONTRAST_SCRIPT)))
    checks.run("every image has alt text",
               lambda: expect_empty(b.run("return [...document.images].filter((i) => i.src && !i.alt).map((i) => i.src)")))

    def models():
        b.find("#tab-models").click()
        rows = b.wait_for("return document.querySelectorAll('#layer-table tbody tr').length", message="layer rows")
        first = b.run("""const cells = document.querySelectorAll('#layer-table tbody tr:first-child td');
                         return [document.querySelector('#layer-table tbody tr:first-child th').textContent,
                                 cells[4].textContent, document.querySelectorAll('#model-card dt').length]""")
        expect(first[2] >= 4, "the model card is nearly empty")
        b.run("""const s = document.getElementById('rf-layer'); s.value = arguments[0];
                 s.dispatchEvent(new Event('change'))""", first[0])
        field = b.run("""const r = document.querySelector('#rf-drawing .rf-field');
                         return r && [Number(r.getAttribute('width')), Number(r.getAttribute('height')),
                                      document.getElementById('rf-description').textContent]""")
        expect(field and field[0] > 0 and field[1] > 0, f"no receptive field drawn: {field}")
        size = first[1].replace(" ", "")
        expect(size in field[2].replace(" ", ""), f"the description {field[2]!r} does not give size {first[1]}")
        return f"{rows} layers; {field[2]}"
    checks.run("the Models tab shows the card, the layer table and a receptive field", models)

    onnx = shared_file("onnx-light", "light_bvlc_alexnet.onnx")

    def add_and_delete_model():
        if read_token:  # the read token may not change anything; the management token takes its place
            type_token(token)
        name = f"ui-onnx-{int(time.time())}"
        b.run("""const set = (id, v) => { document.getElementById(id).value = v; };
                 set('upload-name', arguments[0]); set('upload-preprocessing', 'imagenet');
                 set('upload-labels', Array.from({ length: 1000 }, (_, i) => `class ${i}`).join('\\n'));""", name)
        b.find("#upload-file").send_keys(str(onnx))
        b.find("#model-upload button[type=submit]").click()
        message = b.wait_for("""const s = document.getElementById('upload-status');
                                return (s.textContent.startsWith('Added') || s.dataset.kind === 'error') && s.textContent""",
                             timeout=60, message="the upload")
        expect(message.startswith("Added"), message)
        b.wait_for("""return document.getElementById('model-title').textContent.endsWith(arguments[0]) &&
                             document.querySelectorAll('#layer-table tbody tr').length > 0 &&
                             [...document.querySelectorAll('#classify-model option')].some((o) => o.value === arguments[0])""",
                   name, timeout=60, message="the new model's card and its place in the classify select")
        card = b.run("return document.getElementById('model-card').textContent")
        expect("1000: class 0, class 1," in card, f"the card does not list the uploaded labels: {card[:200]}")
        b.run("window.confirm = () => true")  # the deletion asks first
        b.find("#model-delete").click()
        b.wait_for("""return ![...document.querySelectorAll('#model-list button')].some((e) => e.dataset.name === arguments[0])""",
                   name, message="the model to disappear from the list")
        return message
    if onnx:
        checks.run("an ONNX model can be added and deleted", add_and_delete_model)

    def export():
        deletable = b.run("return !document.getElementById('model-delete').hidden")
        expect(not deletable, "the default model offers to be deleted")
        href = b.run("return document.getElementById('export-safetensors').getAttribute('href')")
        if read_token:
            expect(http_status(base + href) == 401, f"{href} is served without the read token")
        status, _, body = http_get(base + href, read_token or token)
        expect(status == 200 and body, f"{href} answered {status} with {len(body)} bytes")
        downloads = work / "downloads"
        downloads.mkdir()
        try:
            b.cdp("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        except Exception:  # an older chromedriver sends CDP to the page, which has its own (deprecated) command
            b.cdp("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        b.find("#export-safetensors").click()
        name = b.wait_for("""const s = document.getElementById('models-status');
                             return s.textContent.startsWith('Downloaded') || s.dataset.kind === 'error' ? s.textContent : ''""",
                          message="the download")
        expect(name.startswith("Downloaded"), name)
        deadline = time.time() + 30
        files = []
        while time.time() < deadline:  # the browser writes a .crdownload first and renames it when done
            files = [f for f in downloads.iterdir() if f.suffix == ".safetensors"]
            if files and files[0].read_bytes() == body:
                break
            time.sleep(0.2)
        expect(files and files[0].read_bytes() == body, f"the browser saved {[f.name for f in downloads.iterdir()]}, "
                                                        f"not the {len(body)} bytes the service exports")
        return f"{files[0].name}: {len(body)} bytes, saved by the browser"
    checks.run("the default model downloads (with the token) and cannot be deleted", export)
    b.screenshot(output / "desktop-models.png", full_page=True)
    checks.run("text contrast meets WCAG AA (models)", lambda: expect_empty(b.run(CONTRAST_SCRIPT)))

    if not args.skip_job:
        run_job(b, checks, work, output, args.job_timeout, token)

    def phone():
        b.emulate(390, 844, mobile=True)
        overflow = {}
        for tab in ("classify", "models", "jobs"):
            b.run(f"document.getElementById('tab-{tab}').click()")
            b.wait_for(f"return !document.getElementById('panel-{tab}').hidden", message=f"the {tab} panel")
            b.screenshot(output / f"phone-{tab}.png")
            b.screenshot(output / f"phone-{tab}-full.png", full_page=True)
            width = b.run("return [document.documentElement.scrollWidth, window.innerWidth]")
            if width[0] > width[1]:
                overflow[tab] = width
        expect(not overflow, f"the page scrolls sideways on a phone: {overflow}")
        return "no sideways scrolling at 390x844"
    checks.run("usable on a 390x844 phone", phone)

    def nothing_blocked():
        blocked = b.run("return window.cspViolations")
        expect(blocked == [], f"the Content-Security-Policy blocked: {blocked}")
        # The recorder itself works: an inline style attribute is what the policy forbids.
        b.run("document.body.setAttribute('style', 'outline: 1px solid red')")
        caught = b.wait_for("return window.cspViolations.length > 0 && window.cspViolations", message="a violation to be seen")
        b.run("document.body.removeAttribute('style'); window.cspViolations = []")
        return f"every step ran under the policy (a planted inline style was caught: {caught[0]})"
    checks.run("nothing the UI does is blocked by its Content-Security-Policy", nothing_blocked)

    def console():
        expected = [" 401 ", " 415 ", "Content Security Policy"]  # refusals this test provokes on purpose
        if args.skip_job:  # the jobs API is not under test (it may not exist yet)
            expected += ["/v1/datasets", "/v1/jobs"]
        entries = [e for e in b.browser_log() if e.get("level") == "SEVERE" and not any(x in e.get("message", "") for x in expected)]
        expect_empty([e["message"][:200] for e in entries])
    checks.run("no errors in the browser console", console)


def run_job(b, checks, work, output, timeout, token):
    archive = work / "stripes.zip"
    dataset_zip(archive)
    name = f"ui-test-{int(time.time())}"

    b.find("#tab-jobs").click()
    b.find("#dataset-file").send_keys(str(archive))
    if token:
        def refused_without_token():
            b.run("document.getElementById('token-clear').click()")
            b.find("#dataset-form button[type=submit]").click()
            message = b.wait_for("""const s = document.getElementById('dataset-status');
                                    return s.dataset.kind === 'error' && s.textContent""", message="a refusal")
            expect("token" in message.lower(), f"the refusal does not mention the token: {message}")
            b.run("document.querySelector('details.token').open = true")
            b.find("#token").send_keys(token)
            b.run("document.querySelector('details.token').open = false")
            return message
        checks.run("a state-changing request without the token is refused and explained", refused_without_token)

    def upload():
        b.find("#dataset-form button[type=submit]").click()
        message = b.wait_for("""const s = document.getElementById('dataset-status');
                                return s.textContent.startsWith('Dataset') || s.dataset.kind === 'error' ? s.textContent : ''""",
                             message="the dataset upload")
        expect(message.startswith("Dataset") and "2 classes" in message, message)
        b.wait_for("return document.getElementById('job-dataset').value", message="the dataset in the job form")
        return message
    if not checks.run("a dataset zip uploads", upload):
        return

    def job():
        b.run("""const set = (id, v) => { const e = document.getElementById(id); e.value = v; };
                 set('job-output', arguments[0]); set('job-epochs', '2'); set('job-batch', '8');""", name)
        # L2-SP instead of weight decay: its settings show, weight decay's hide and are not sent.
        b.run("document.querySelector('#job-form details.more').open = true")
        b.run("""const r = document.getElementById('job-regularization'); r.value = 'l2_sp';
                 r.dispatchEvent(new Event('change'));""")
        shown = b.run("""return ['job-decay', 'job-l2sp-alpha', 'job-l2sp-beta'].map((id) => {
                              const e = document.getElementById(id); return [e.offsetParent !== null, !e.disabled]; })""")
        expect(shown == [[False, False], [True, True], [True, True]],
               f"weight decay, L2-SP alpha, beta [displayed, enabled] after choosing L2-SP: {shown}")
        b.run("""const set = (id, v) => { const e = document.getElementById(id); e.value = v; };
                 set('job-l2sp-alpha', '0.05'); set('job-smoothing', '0.1');""")
        b.find("#job-form button[type=submit]").click()
        b.wait_for("return !document.getElementById('job-view').hidden", message="the job view")
        saw_progress = b.wait_for("return document.getElementById('job-progress').value > 0 || "
                                  "/succeeded|failed|cancelled/.test(document.getElementById('job-state').textContent)",
                                  timeout=timeout, message="progress")
        state = b.wait_for("""const t = document.getElementById('job-state').textContent;
                              return /succeeded|failed|cancelled/.test(t) && t""", timeout=timeout, message="the job to end")
        expect("succeeded" in state, state)
        points = b.run("""return [...document.querySelectorAll('#loss-chart polyline')].map((p) => p.getAttribute('points').trim().split(' ').length)""")
        expect(points and all(n >= 2 for n in points), f"loss curves have too few points: {points}")
        accuracy = b.run("return document.querySelector('#accuracy-chart polyline').getAttribute('points').trim().split(' ').length")
        expect(accuracy >= 2, "the accuracy curve has too few points")
        summary = b.run("return document.querySelector('#loss-chart title').textContent")
        expect("last: training" in summary, f"the loss chart's accessible name gives no values: {summary!r}")
        matrix = b.run("return document.querySelectorAll('#confusion tbody tr').length")
        expect(matrix == 2, f"the confusion matrix has {matrix} rows, expected 2")
        plan = b.run("return [...document.querySelectorAll('#job-plan li')].map((e) => e.textContent)")
        expect(any("New classifier head at pool2" in line for line in plan), f"the plan does not say where the head was cut: {plan}")
        expect(any(line.startswith("Stage 1: frozen conv1, bn1, conv2, bn2") for line in plan), f"the plan does not list stage 1's frozen layers: {plan}")
        # The line is built from the request as the service read it back, so the form's choices reached the job.
        expect("Regularization: L2-SP, α 0.05 toward the base's weights, β 0.01 on the new head; label smoothing 0.1." in plan,
               f"the plan does not say the job trains with L2-SP and label smoothing: {plan}")
        return f"{state} progress seen: {bool(saw_progress)}"
    finished = checks.run("a fine-tuning job runs to the end with live curves and a confusion matrix", job)
    b.screenshot(output / "desktop-jobs.png", full_page=True)
    checks.run("text contrast meets WCAG AA (jobs)", lambda: expect_empty(b.run(CONTRAST_SCRIPT)))
    if not finished:
        return

    def use_model():
        b.find("#job-use").click()
        b.wait_for("""return document.getElementById('classify-model').value === arguments[0] &&
                             document.getElementById('tab-classify').getAttribute('aria-selected') === 'true' &&
                             document.getElementById('predictions').dataset.model === arguments[0]""", name,
                   message="the classify tab to use the new model")
        labels = b.run("return [...document.querySelectorAll('#predictions .prediction-label')].map((e) => e.textContent)")
        expect(sorted(labels) == ["horizontal", "vertical"], f"the new model's classes are {labels}")
        return f"{name}: {labels}"
    checks.run("the new model is used for classification", use_model)


def expect_status(status, wanted):
    expect(status == wanted, f"exit status {status}, expected {wanted}")


def expect_empty(items):
    expect(not items, json.dumps(items, ensure_ascii=False)[:600])


if __name__ == "__main__":
    sys.exit(main())
