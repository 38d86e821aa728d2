import type { Middleware } from 'koa';

/**
 * Security headers for everything the server answers. The dashboard gets a strict Content
 * Security Policy; the widget's files must stay loadable from other sites' pages
 * (Cross-Origin-Resource-Policy: cross-origin); the demo page runs inline demo scripts and
 * gets its own, looser policy from its route.
 */
export function securityHeaders(options: { https: boolean; widgetPaths: (path: string) => boolean }): Middleware {
  return async (ctx, next) => {
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'strict-origin-when-cross-origin');
    if (options.https) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    if (options.widgetPaths(ctx.path) || ctx.path === '/api/v1/reports') {
      ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
      return;
    }
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (ctx.path === '/demo') return;
    ctx.set('X-Frame-Options', 'DENY');
    if (ctx.response.is('html')) {
      ctx.set(
        'Content-Security-Policy',
        [
          "default-src 'self'",
          "script-src 'self'",
          // Preact style attributes need inline styles; scripts stay strict.
          "style-src 'self' 'unsafe-inline'",
          "img-src 'self' data: blob:",
          "connect-src 'self'",
          "font-src 'self'",
          "object-src 'none'",
          "base-uri 'self'",
          "form-action 'self'",
          "frame-ancestors 'none'",
        ].join('; '),
      );
    }
  };
}
