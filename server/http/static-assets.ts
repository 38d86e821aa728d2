import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Middleware } from 'koa';

const contentTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
};

interface Asset {
  body: Buffer;
  type: string;
  /** Hashed file names never change content, so browsers may keep them for a year. */
  immutable: boolean;
}

/**
 * Serves a built folder from a list made at start-up: only files that exist there can be
 * named, so no request path can reach outside it. Files are read once and kept in memory
 * (the builds are small).
 */
export function loadAssetFolder(folder: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(folder)) return assets;
  const walk = (directory: string) => {
    for (const entry of readdirSync(directory)) {
      const full = path.join(directory, entry);
      if (statSync(full).isDirectory()) walk(full);
      else {
        const relative = path.relative(folder, full).split(path.sep).join('/');
        assets.set(`/${relative}`, {
          body: readFileSync(full),
          type: contentTypes[path.extname(entry)] ?? 'application/octet-stream',
          immutable: /[.-][A-Za-z0-9_-]{8,}\.(js|css|woff2|svg|png)$/.test(entry),
        });
      }
    }
  };
  walk(folder);
  return assets;
}

/** Answers GET/HEAD for `mountPath + file` from the asset map; other requests pass through. */
export function serveAssets(mountPath: string, assets: Map<string, Asset>, options: { crossOrigin?: boolean } = {}): Middleware {
  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || !ctx.path.startsWith(mountPath)) return next();
    const asset = assets.get(ctx.path.slice(mountPath.length - 1) || '/');
    if (!asset) return next();
    ctx.type = asset.type;
    ctx.set('Cache-Control', asset.immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
    ctx.set('X-Content-Type-Options', 'nosniff');
    // The widget is loaded by other sites' pages; its chunks are fetched with CORS.
    if (options.crossOrigin) ctx.set('Access-Control-Allow-Origin', '*');
    ctx.body = asset.body;
  };
}

/** Where `npm run build` writes: <repo>/dist. */
export const distDirectory = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist');
