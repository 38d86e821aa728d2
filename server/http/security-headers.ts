import type { Middleware } from 'koa';
import helmet from 'koa-helmet';

/** Endpoints other sites' pages call (the widget's report and reporter-status endpoints). */
const crossOriginApiPaths = new Set(['/api/v1/reports', '/api/v1/reporter/reports']);

/**
 * Security headers for everything the server answers, through helmet (koa-helmet). Three
 * policies, chosen by path:
 * - the dashboard and API: a strict Content-Security-Policy (no inline or foreign scripts, no
 *   framing), X-Frame-Options DENY, Cross-Origin-Opener-Policy and -Resource-Policy same-origin;
 * - the widget's files and public endpoints: Cross-Origin-Resource-Policy cross-origin, since
 *   they are loaded by other sites' pages (and no opener policy, which means nothing there);
 * - the demo page: its inline demo scripts need a CSP of their own, so helmet's is off there.
 * Every answer gets nosniff and Referrer-Policy; HSTS only when Bugloop is served over https
 * (sent over plain http it would only break a local set-up).
 */
export function securityHeaders(options: { https: boolean; widgetPaths: (path: string) => boolean }): Middleware {
  const common = {
    strictTransportSecurity: options.https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' as const },
    // Deprecated, and harmful in old browsers: modern CSP replaces it.
    xXssProtection: false,
  };
  const dashboard = helmet({
    ...common,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // Preact style attributes need inline styles; scripts stay strict.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(options.https ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    frameguard: { action: 'deny' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: false,
  });
  const crossOrigin = helmet({
    ...common,
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    crossOriginOpenerPolicy: false,
    crossOriginEmbedderPolicy: false,
    frameguard: false,
  });
  const demo = helmet({
    ...common,
    contentSecurityPolicy: false,
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: false,
  });
  return (ctx, next) => {
    if (options.widgetPaths(ctx.path) || crossOriginApiPaths.has(ctx.path)) return crossOrigin(ctx, next);
    if (ctx.path === '/demo') return demo(ctx, next);
    return dashboard(ctx, next);
  };
}
