// Browser test of the page `sam3rt serve` answers at "/": Debian's chromium driven by
// playwright-core (no downloaded browser). Run by scripts/browser_test.sh, which starts
// the server with a tiny random-weight checkpoint; by hand:
//   SAM3RT_URL=http://127.0.0.1:8080/ node tests/browser/page_test.mjs --image IMG --out DIR
// Opens an image, then drives every way of prompting and checks what the page shows:
//   click (object mode) -> 3 candidate masks drawn, choosing another redraws the overlay;
//   shift-click -> a negative point marker and a one-mask answer;
//   drag -> a box (object mode);
//   text (threshold 0) -> concept instances drawn; a drag then adds an exemplar box;
//   Download PNG / JSON -> a PNG of the image's size and the JSON of the last answer;
//   no uncaught page errors. Saves a screenshot of each stage to DIR.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const url = process.env.SAM3RT_URL || "http://127.0.0.1:8080/";
const image = arg("--image", "tests/data/images/oven.jpg");
const out = arg("--out", "build/browser-test");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
fs.mkdirSync(out, { recursive: true });

const log = (...a) => console.log("browser test:", ...a);

// Pixels of a canvas: count of non-transparent ones, and a digest to tell drawings apart.
async function canvasStats(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let opaque = 0, hash = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3]) {
        opaque++;
        hash = (hash * 31 + d[i] * 7 + d[i + 1] * 13 + d[i + 2] + i) >>> 0;
      }
    }
    return { opaque, hash, width: c.width, height: c.height };
  }, id);
}

async function pixelAt(page, id, x, y) {
  return page.evaluate(({ id, x, y }) => {
    const c = document.getElementById(id);
    return Array.from(c.getContext("2d").getImageData(Math.round(x), Math.round(y), 1, 1).data);
  }, { id, x, y });
}

// Image pixel (x, y) -> page coordinates of the prompt canvas.
async function toPage(page, x, y) {
  const box = await page.locator("#prompts").boundingBox();
  const size = await page.evaluate(() => [document.getElementById("prompts").width,
                                          document.getElementById("prompts").height]);
  return [box.x + (x * box.width) / size[0], box.y + (y * box.height) / size[1]];
}

// Waits for the answer of the segment request the action triggers; the body is read
// from the page's state (what the page itself got), not from the inspector, which may
// drop large response bodies.
async function segmentAfter(page, action) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/segment") && r.request().method() === "POST", { timeout: 60000 }),
    action(),
  ]);
  await page.waitForFunction(() => !state.busy);
  const body = await page.evaluate(() => state.result);
  return { status: response.status(), body };
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const pageErrors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });

  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model").textContent.includes("concept"));
  const model = await (await page.request.get(new URL("v1/model", url).href)).json();
  log(`model ${model.type}, concept ${model.concept}, object ${model.object}`);
  assert.ok(model.concept && model.object, "the test checkpoint has the detector and the tracker");
  assert.match(await page.locator("#warning").textContent(), /random-weight/);

  // Open the image: uploaded, drawn at its size.
  const [upload] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/v1/images") && r.request().method() === "POST"),
    page.locator("#file").setInputFiles(image),
  ]);
  assert.equal(upload.status(), 200);
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("encoded"));
  const info = await page.evaluate(() => ({ id: state.imageId, width: state.width, height: state.height }));
  const drawn = await canvasStats(page, "image");
  assert.equal(drawn.width, info.width);
  assert.equal(drawn.height, info.height);
  assert.equal(drawn.opaque, info.width * info.height, "the image is drawn");
  assert.equal((await canvasStats(page, "overlay")).opaque, 0, "no overlay before a prompt");
  log(`opened ${path.basename(image)} ${info.width}x${info.height} as ${info.id}`);

  // 1. Left click -> object mode, three candidates, the best one drawn.
  const cx = info.width * 0.5, cy = info.height * 0.45;
  const click = await segmentAfter(page, async () => page.mouse.click(...(await toPage(page, cx, cy))));
  assert.equal(click.status, 200, JSON.stringify(click.body));
  assert.equal(click.body.mode, "object");
  assert.equal(click.body.instances.length, 3);
  assert.deepEqual(click.body.prompt.points, [{ x: Math.round(cx * 10) / 10, y: Math.round(cy * 10) / 10, positive: true }]);
  assert.equal(await page.locator("#instances li.instance").count(), 3);
  assert.equal(await page.locator("input[name=candidate]").count(), 3);
  const best = click.body.instances.findIndex((i) => i.best);
  assert.ok(await page.locator("input[name=candidate]").nth(best).isChecked(), "the best candidate is chosen");
  const overlay1 = await canvasStats(page, "overlay");
  const bestArea = click.body.instances[best].area;
  assert.ok(overlay1.opaque >= bestArea, `overlay shows the mask (${overlay1.opaque} px drawn, mask ${bestArea} px)`);
  assert.ok(overlay1.opaque > 0, "a mask overlay appears");
  const marker = await pixelAt(page, "prompts", cx, cy);
  assert.deepEqual(marker.slice(0, 3), [29, 185, 84], "green positive-point marker");
  await page.screenshot({ path: path.join(out, "1_click.png") });
  log(`click: 3 candidates, IoUs ${click.body.instances.map((i) => i.iou.toFixed(3)).join(", ")}, overlay ${overlay1.opaque} px`);

  // Choosing another candidate redraws the overlay with that mask.
  const other = click.body.instances.findIndex((i, k) => k !== best && i.mask.counts !== click.body.instances[best].mask.counts);
  if (other >= 0) {
    await page.locator("input[name=candidate]").nth(other).check();
    const overlay2 = await canvasStats(page, "overlay");
    assert.notEqual(overlay2.hash, overlay1.hash, "another candidate draws another overlay");
    log(`candidate ${other + 1} chosen: overlay ${overlay2.opaque} px`);
  }

  // 2. Shift-click -> a negative point; two points give one mask.
  const nx = info.width * 0.2, ny = info.height * 0.8;
  const neg = await segmentAfter(page, async () => {
    await page.keyboard.down("Shift");
    await page.mouse.click(...(await toPage(page, nx, ny)));
    await page.keyboard.up("Shift");
  });
  assert.equal(neg.status, 200, JSON.stringify(neg.body));
  assert.equal(neg.body.prompt.points.length, 2);
  assert.equal(neg.body.prompt.points[1].positive, false);
  assert.equal(neg.body.instances.length, 1);
  assert.deepEqual((await pixelAt(page, "prompts", nx, ny)).slice(0, 3), [229, 56, 59], "red negative marker");

  // 3. Drag -> a box, still object mode.
  await page.locator("#clear").click();
  assert.equal((await canvasStats(page, "overlay")).opaque, 0, "clear removes the overlay");
  const [x1, y1, x2, y2] = [info.width * 0.25, info.height * 0.2, info.width * 0.7, info.height * 0.6];
  const drag = await segmentAfter(page, async () => {
    await page.mouse.move(...(await toPage(page, x1, y1)));
    await page.mouse.down();
    await page.mouse.move(...(await toPage(page, (x1 + x2) / 2, (y1 + y2) / 2)), { steps: 4 });
    await page.mouse.move(...(await toPage(page, x2, y2)), { steps: 4 });
    await page.mouse.up();
  });
  assert.equal(drag.status, 200, JSON.stringify(drag.body));
  assert.equal(drag.body.mode, "object");
  const [bx1, by1, bx2, by2] = drag.body.prompt.box;
  assert.ok(Math.abs(bx1 - x1) < 2 && Math.abs(by1 - y1) < 2 && Math.abs(bx2 - x2) < 2 && Math.abs(by2 - y2) < 2,
            `the box follows the drag: ${drag.body.prompt.box}`);
  await page.screenshot({ path: path.join(out, "2_box.png") });

  // 4. Text prompt (threshold 0: random scores are low) -> concept instances.
  await page.locator("#clear").click();
  await page.locator("#threshold").evaluate((el) => { el.value = "0"; el.dispatchEvent(new Event("input")); });
  await page.locator("#text").fill("oven");
  const text = await segmentAfter(page, () => page.locator("#text").press("Enter"));
  assert.equal(text.status, 200, JSON.stringify(text.body));
  assert.equal(text.body.mode, "concept");
  assert.ok(text.body.instances.length > 0);
  assert.ok(text.body.instances.every((i) => i.prompt === "oven"));
  assert.equal(await page.locator("#instances li.instance").count(), text.body.instances.length);
  const overlay3 = await canvasStats(page, "overlay");
  assert.ok(overlay3.opaque > 0, "concept masks are drawn");
  log(`text "oven": ${text.body.instances.length} instances, overlay ${overlay3.opaque} px`);

  // ... and a drag with text present adds an exemplar box.
  const ex = await segmentAfter(page, async () => {
    await page.mouse.move(...(await toPage(page, x1, y1)));
    await page.mouse.down();
    await page.mouse.move(...(await toPage(page, x2, y2)), { steps: 6 });
    await page.mouse.up();
  });
  assert.equal(ex.status, 200, JSON.stringify(ex.body));
  assert.equal(ex.body.mode, "concept");
  await page.screenshot({ path: path.join(out, "3_text.png") });

  // 5. Downloads: the composite PNG (image size) and the JSON shown.
  const [pngDownload] = await Promise.all([page.waitForEvent("download"), page.locator("#download-png").click()]);
  const pngPath = path.join(out, "download.png");
  await pngDownload.saveAs(pngPath);
  const png = fs.readFileSync(pngPath);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
  assert.equal(png.readUInt32BE(16), info.width);
  assert.equal(png.readUInt32BE(20), info.height);
  const [jsonDownload] = await Promise.all([page.waitForEvent("download"), page.locator("#download-json").click()]);
  const jsonPath = path.join(out, "download.json");
  await jsonDownload.saveAs(jsonPath);
  const saved = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
  assert.deepEqual(saved.instances, ex.body.instances, "the JSON is the last answer");

  // 6. A request the server refuses shows its message (text + a click: points are object mode's).
  await page.mouse.click(...(await toPage(page, cx, cy)));
  await page.waitForFunction(() => document.getElementById("error").textContent.includes("object mode"));

  const shot = path.join(out, "page.png");
  await page.screenshot({ path: shot, fullPage: true });
  assert.deepEqual(pageErrors, [], "no page errors");
  log(`passed; screenshot ${shot}`);
} finally {
  await browser.close();
}
