/** The dialog's CSS, scoped by the shadow root; themes are CSS variables. */
export const dialogCss = `
.overlay{position:fixed;inset:0;z-index:2147483647;display:flex;align-items:center;justify-content:center;background:rgba(15,23,42,.45);font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);animation:bugloop-fade .15s ease-out}
.light{--bg:#fff;--fg:#111827;--muted:#6b7280;--line:#d1d5db;--field:#fff;--soft:#f3f4f6}
.dark{--bg:#1f2937;--fg:#f9fafb;--muted:#9ca3af;--line:#4b5563;--field:#111827;--soft:#374151}
.panel{box-sizing:border-box;width:min(760px,calc(100vw - 24px));max-height:calc(100vh - 24px);overflow:auto;background:var(--bg);border-radius:12px;box-shadow:0 20px 50px rgba(0,0,0,.35);padding:20px 22px}
h2{margin:0 0 12px;font-size:18px}
label{display:block;margin:10px 0 4px;font-weight:600;font-size:13px}
textarea,input[type=text],input[type=email]{box-sizing:border-box;width:100%;padding:8px 10px;border:1px solid var(--line);border-radius:8px;background:var(--field);color:var(--fg);font:inherit}
textarea{min-height:70px;resize:vertical}
button{font:inherit;border:1px solid var(--line);background:var(--soft);color:var(--fg);border-radius:8px;padding:6px 12px;cursor:pointer}
button:focus-visible,input:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #93c5fd;outline-offset:1px}
button[aria-pressed=true]{background:var(--accent);border-color:var(--accent);color:#fff}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff;font-weight:600}
button:disabled{opacity:.6;cursor:default}
.tools{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.shot{position:relative;border:1px solid var(--line);border-radius:8px;overflow:hidden;background:var(--soft);min-height:80px;display:flex;align-items:center;justify-content:center}
.shot canvas{display:block;width:100%;height:auto;touch-action:none;cursor:crosshair}
.shot canvas:focus-visible{outline:3px solid #93c5fd;outline-offset:-3px}
.muted{color:var(--muted);font-size:13px}
.error{color:#dc2626;font-size:13px;margin-top:6px}
.actions{display:flex;justify-content:flex-end;gap:8px;margin-top:16px}
details{margin-top:12px;border:1px solid var(--line);border-radius:8px;padding:8px 10px}
summary{cursor:pointer;font-weight:600}
details ul{margin:6px 0;padding-left:18px}
.check{display:flex;gap:6px;align-items:center;font-weight:400;margin:4px 0}
.trap{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.reference{font:600 18px ui-monospace,monospace;margin:8px 0}
.columns{display:grid;gap:4px 20px}
@media (min-width:900px){.panel{width:min(1100px,calc(100vw - 40px))}.columns{grid-template-columns:minmax(0,1fr) minmax(0,1.5fr)}}
@keyframes bugloop-fade{from{opacity:0}to{opacity:1}}
@media (prefers-reduced-motion:reduce){.overlay{animation:none}}
`;
