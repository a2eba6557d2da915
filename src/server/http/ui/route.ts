// The web console at /ui: a page, a script and a style sheet, all inlined into the binary at build
// time (bundle.ts). The console talks to the cluster only through the JSON gateway, so it can do what
// the gateway allows (read and write every key) and holds no secrets of its own.
import type { Hono } from "hono";
import { clientScript, clientStyle } from "./bundle.ts" with { type: "macro" };

const SCRIPT = clientScript();
const STYLE = clientStyle();

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>etcd-ts console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body><div id="app"></div></body>
</html>
`;

/**
 * Only our own script and style run; nothing is framed or posted elsewhere. connect-src allows any
 * http(s) origin because the members pane asks every member's client URL for its status.
 */
export const UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' http: https:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function asset(body: string, contentType: string): (c: any) => Response {
  const etag = `"${Bun.hash(body).toString(36)}"`;
  const headers = {
    "content-type": contentType,
    "content-security-policy": UI_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
    etag,
  };
  return (c) => (c.req.header("if-none-match") === etag ? new Response(null, { status: 304, headers }) : new Response(body, { headers }));
}

export function registerUi(app: Hono): void {
  const page = asset(PAGE, "text/html; charset=utf-8");
  app.get("/ui", page);
  app.get("/ui/", page);
  app.get("/ui/app.js", asset(SCRIPT, "text/javascript; charset=utf-8"));
  app.get("/ui/app.css", asset(STYLE, "text/css; charset=utf-8"));
}
