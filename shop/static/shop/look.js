// The shop's look page: the same API the browser extension uses, with the page's own key.
const apiKey = document.querySelector('meta[name="shopalook-api-key"]').content;
const form = document.getElementById("look-form");
const statusLine = document.getElementById("status");
const result = document.getElementById("result");
const photo = document.getElementById("photo");
const boxes = document.getElementById("boxes");
const itemList = document.getElementById("items");
const productList = document.getElementById("products");
const SVG = "http://www.w3.org/2000/svg";

function say(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Api-Key ${apiKey}`, ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.detail || `the shop answered ${response.status}`);
  }
  return body;
}

async function submitLook(event) {
  event.preventDefault();
  const url = form.image_url.value.trim();
  const file = form.image.files[0];
  if (!url && !file) {
    say("Paste a photo's address or choose a photo file first.", true);
    return;
  }
  say("Looking for fashion items…");
  result.hidden = true;
  let request;
  if (file) {
    const data = new FormData();
    data.append("image", file);
    request = { method: "POST", body: data };
    photo.src = URL.createObjectURL(file);
  } else {
    request = {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image_url: url }),
    };
    photo.src = url;
  }
  try {
    let look = await api("/api/v1/looks?wait=5", request);
    const started = Date.now();
    while (look.status === "queued" || look.status === "running") {
      if (Date.now() - started > 60000) throw new Error("the shop is taking too long; try again");
      await new Promise((resolve) => setTimeout(resolve, 500));
      look = await api(`/api/v1/looks/${look.id}`);
    }
    showLook(look);
  } catch (error) {
    say(`Sorry: ${error.message}.`, true);
  }
}

function showLook(look) {
  if (look.status === "failed") {
    say(`Sorry: ${look.error.detail}.`, true);
    return;
  }
  if (look.items.length === 0) {
    say("No fashion item found in this photo. Try another one.");
    return;
  }
  say(`${look.items.length} item(s) found. Choose one to see matching products.`);
  boxes.setAttribute("viewBox", `0 0 ${look.image.width} ${look.image.height}`);
  boxes.setAttribute("preserveAspectRatio", "none");
  boxes.replaceChildren();
  itemList.replaceChildren();
  for (const item of look.items) {
    const rect = document.createElementNS(SVG, "rect");
    for (const [name, value] of Object.entries(item.box)) rect.setAttribute(name, value);
    const title = document.createElementNS(SVG, "title");
    title.textContent = item.class_name || "item";
    rect.append(title);
    rect.addEventListener("click", () => choose(look, item.index));
    boxes.append(rect);
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${item.class_name || "item"} (${Math.round(item.score * 100)}%)`;
    const tags = document.createElement("div");
    tags.className = "tags";
    tags.textContent = item.tags.map((tag) => tag.value).join(" · ");
    button.append(tags);
    button.addEventListener("click", () => choose(look, item.index));
    const entry = document.createElement("li");
    entry.append(button);
    itemList.append(entry);
  }
  result.hidden = false;
  choose(look, 0);
}

function choose(look, index) {
  [...boxes.children].forEach((rect, i) => rect.classList.toggle("selected", i === index));
  [...itemList.querySelectorAll("button")].forEach((button, i) =>
    button.setAttribute("aria-pressed", String(i === index)),
  );
  productList.replaceChildren(...look.items[index].products.map(productCard));
}

function productCard(product) {
  const link = document.createElement("a");
  link.href = product.product_url || "#";
  link.rel = "noopener";
  const image = document.createElement("img");
  image.src = product.image_url || "";
  image.alt = product.title;
  image.loading = "lazy";
  const title = document.createElement("div");
  title.textContent = product.title;
  const brand = document.createElement("div");
  brand.textContent = product.brand;
  const price = document.createElement("div");
  price.className = "price";
  price.textContent = product.price ? `${product.price} ${product.currency}` : "";
  link.append(image, title, brand, price);
  const card = document.createElement("li");
  card.append(link);
  return card;
}

form.addEventListener("submit", submitLook);
