/**
 * The dashboard's stylesheet, kept as a module so the build (which compiles
 * TypeScript only) carries it into dist/ without a copy step; assets.ts
 * serves it under its content hash. Pages use classes only: the
 * Content-Security-Policy allows no inline styles.
 */
export const STYLE = `
:root{--fg:#1b1f24;--muted:#5b6470;--line:#d8dde3;--bg:#f6f7f9;--card:#fff;--accent:#1f5fd6;--ok:#1a7f37;--warn:#9a6700;--bad:#c62828;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header{display:flex;align-items:center;gap:18px;padding:8px 20px;background:#111827;color:#e5e7eb}
header a{color:#e5e7eb}header nav{display:flex;gap:14px;flex:1}header nav a.here{color:#fff;font-weight:600;border-bottom:2px solid #60a5fa}
header .brand{font-weight:700;letter-spacing:.5px;color:#fff}
header form{margin:0}header .who{color:#9ca3af;font-size:12px}
header select{background:#1f2937;color:#e5e7eb;border:1px solid #374151;border-radius:4px;padding:2px 4px}
main{padding:18px 20px;max-width:1400px;margin:0 auto}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:22px 0 8px}
.sub{color:var(--muted);font-size:12px}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:6px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;background:#fafbfc}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:last-child td{border-bottom:none}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;border:1px solid var(--line);background:#eef1f4}
.badge.deployed,.badge.ready{background:#dafbe1;border-color:#aceebb;color:var(--ok)}
.badge.busy{background:#ddf4ff;border-color:#b6e3ff;color:#0969da}
.badge.starting{background:#fff8c5;border-color:#f5e08a;color:var(--warn)}
.badge.draining,.badge.stopped{background:#f1f1f1;color:var(--muted)}
.badge.dev{background:#fbefff;border-color:#e8c6f5;color:#8250df}
.badge.admin{background:#ffebe9;border-color:#ffc1bc;color:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px;margin:8px 0 4px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.card .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}.card .k{font-size:12px;color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
.chart{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px;min-height:230px}
.chart h3{margin:0 0 4px;font-size:13px}
.flash{padding:8px 12px;border-radius:6px;margin:0 0 12px;border:1px solid}
.flash.ok{background:#dafbe1;border-color:#aceebb}.flash.error{background:#ffebe9;border-color:#ffc1bc}
.flash.secret{background:#fff8c5;border-color:#f5e08a}
.flash code{display:block;margin-top:6px;padding:6px;background:#fff;border:1px solid var(--line);word-break:break-all;user-select:all}
form.inline{display:inline;margin:0}
button,input,select,textarea{font:inherit}
button{cursor:pointer;padding:3px 10px;border:1px solid var(--line);border-radius:5px;background:#fff}
button.danger{color:var(--bad);border-color:#ffc1bc}button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
input,select,textarea{padding:4px 6px;border:1px solid var(--line);border-radius:5px;background:#fff}
fieldset{border:1px solid var(--line);border-radius:6px;background:var(--card);padding:10px 12px;margin:10px 0}
legend{font-weight:600;padding:0 4px}
.row{display:flex;flex-wrap:wrap;gap:10px;align-items:end}.row label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
.mono,code{font-family:var(--mono);font-size:12.5px}
.err{color:var(--bad)}.muted{color:var(--muted)}
.login{max-width:420px;margin:80px auto;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:24px}
.login input{width:100%;margin:8px 0 12px}
.logs{background:#0d1117;color:#d1d5db;border-radius:6px;padding:6px 0;font-family:var(--mono);font-size:12.5px;max-height:70vh;overflow:auto}
.logs .l{display:grid;grid-template-columns:92px 110px 70px 150px 1fr;gap:8px;padding:1px 10px;white-space:pre-wrap;word-break:break-all}
.logs .l:hover{background:#161b22}.logs .t,.logs .c{color:#7d8590}.logs .f{color:#79c0ff}
.logs .stderr .m{color:#ff7b72}.logs .system .m{color:#a5a5a5;font-style:italic}.logs .access .m{color:#7ee787}
.logs a{color:#d2a8ff}.logs .empty{padding:8px 10px;color:#7d8590}
.filters{display:flex;gap:8px;flex-wrap:wrap;align-items:end;margin:0 0 10px}
.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
.live{display:inline-block;width:8px;height:8px;border-radius:50%;background:#9ca3af;margin-right:6px}
.live.on{background:#2da44e}
`;
