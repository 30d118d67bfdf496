// Parses Mermaid sources with the real mermaid parser (what GitHub runs), offline.
// stdin: a JSON array of sources; stdout: a JSON array of null (parsed) or the error message.
// Exit 3 when mermaid or jsdom cannot be found under $MERMAID_PREFIX (an `npm install --prefix` folder).
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const prefix = process.env.MERMAID_PREFIX || process.cwd();
const require = createRequire(path.join(path.resolve(prefix), "resolve-from-here.js"));
let mermaidPath, jsdomPath;
try {
  mermaidPath = require.resolve("mermaid");
  jsdomPath = require.resolve("jsdom");
} catch {
  process.exit(3);
}

// mermaid sanitizes labels with DOMPurify, which needs a DOM even just to parse.
const { JSDOM } = await import(pathToFileURL(jsdomPath).href);
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import(pathToFileURL(mermaidPath).href);

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const source of JSON.parse(input)) {
  try {
    await mermaid.parse(source);
    results.push(null);
  } catch (error) {
    results.push(String(error && error.message ? error.message : error));
  }
}
process.stdout.write(JSON.stringify(results));
