/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/**
 * A small shop page that behaves like a real app: a product list, a cart, a coupon field that
 * throws a console error, a checkout that fails with a 500, and private fields the widget masks.
 */
export function renderDemoPage(options: { publicKey: string | undefined; serverUrl: string }): string {
  const widget = options.publicKey
    ? `<script src="${escapeHtml(options.serverUrl)}/widget.js" data-project-key="${escapeHtml(options.publicKey)}" data-release="1.4.0" data-environment="demo" async></script>`
    : '<!-- no demo project: run `bugloop serve` once to create it -->';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Outfitters — Bugloop demo</title>
<style>
  :root { --ink: #1f2430; --muted: #646b7a; --line: #e3e6ec; --brand: #0f766e; --bg: #f7f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--bg); }
  header { display: flex; align-items: center; justify-content: space-between; padding: 14px 32px; background: #fff; border-bottom: 1px solid var(--line); }
  header strong { font-size: 18px; color: var(--brand); }
  nav a { margin-left: 20px; color: var(--muted); text-decoration: none; }
  main { display: grid; grid-template-columns: 1fr 340px; gap: 28px; max-width: 1120px; margin: 28px auto; padding: 0 24px; }
  .grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 18px; }
  .card, aside section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px; }
  .swatch { height: 120px; border-radius: 8px; margin-bottom: 10px; }
  .price { color: var(--muted); }
  button { font: inherit; border: 1px solid var(--brand); background: var(--brand); color: #fff; padding: 7px 14px; border-radius: 7px; cursor: pointer; }
  button.secondary { background: #fff; color: var(--brand); }
  label { display: block; margin: 10px 0 4px; font-size: 13px; color: var(--muted); }
  input { width: 100%; padding: 8px 10px; border: 1px solid var(--line); border-radius: 7px; font: inherit; }
  .hint { background: #ecfdf5; border: 1px solid #a7f3d0; border-radius: 10px; padding: 14px 16px; margin-bottom: 20px; }
  #status { margin-top: 10px; min-height: 1.5em; color: #b91c1c; }
</style>
</head>
<body>
<header><strong>Acme Outfitters</strong><nav><a href="#">Shop</a><a href="#">Orders</a><a href="#">Account</a><a href="#" data-bugloop-trigger>Feedback</a></nav></header>
<main>
  <div>
    <div class="hint">
      <b>This is Bugloop's demo page.</b> Click <b>Checkout</b> (the request fails) or <b>Apply coupon</b> (a script error),
      then press the <b>Report a bug</b> button in the corner. Your report appears in the dashboard as a defect, with the
      console error, the failed request and a screenshot. The card and password fields are masked in screenshots.
    </div>
    <div class="grid">
      <div class="card"><div class="swatch" style="background:#99f6e4"></div><b>Trail jacket</b><div class="price">€129.00</div><button class="secondary" data-add="Trail jacket">Add to cart</button></div>
      <div class="card"><div class="swatch" style="background:#fde68a"></div><b>Wool beanie</b><div class="price">€24.00</div><button class="secondary" data-add="Wool beanie">Add to cart</button></div>
      <div class="card"><div class="swatch" style="background:#c7d2fe"></div><b>Hiking boots</b><div class="price">€189.00</div><button class="secondary" data-add="Hiking boots">Add to cart</button></div>
    </div>
  </div>
  <aside>
    <section>
      <b>Your cart</b>
      <ul id="cart"><li>Empty</li></ul>
      <label for="coupon">Coupon</label><input id="coupon" value="WINTER10">
      <button class="secondary" id="apply-coupon" style="margin-top:8px">Apply coupon</button>
      <label for="card">Card number</label><input id="card" autocomplete="cc-number" value="4242 4242 4242 4242">
      <label for="password">Account password</label><input id="password" type="password" value="hunter22">
      <p data-bugloop-mask>Signed in as jane.doe@example.com</p>
      <button id="checkout">Checkout</button>
      <div id="status" role="status"></div>
    </section>
  </aside>
</main>
<script>
  const cart = [];
  document.querySelectorAll('[data-add]').forEach((button) => button.addEventListener('click', () => {
    cart.push(button.dataset.add);
    document.getElementById('cart').innerHTML = cart.map((item) => '<li>' + item + '</li>').join('');
  }));
  document.getElementById('apply-coupon').addEventListener('click', () => {
    const coupon = null;
    console.error(new TypeError("Cannot read properties of null (reading 'discount')"));
    setTimeout(() => coupon.discount, 0); // a real uncaught error as well
  });
  document.getElementById('checkout').addEventListener('click', async () => {
    const status = document.getElementById('status');
    status.textContent = 'Placing order…';
    const response = await fetch('/demo/api/checkout?session=abc', { method: 'POST', body: JSON.stringify({ items: cart }) });
    status.textContent = response.ok ? 'Order placed' : 'Checkout failed (' + response.status + '). Please try again.';
  });
</script>
${widget}
</body>
</html>`;
}
