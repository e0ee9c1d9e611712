// Shows what this app's backend learnt from the broker's verified webhooks.
const connection = document.querySelector("#connection");
const list = document.querySelector("#events");

async function update() {
  const answer = await fetch("/vaporforge/status", { credentials: "same-origin" });
  if (!answer.ok) return;
  const { connected, events } = await answer.json();
  connection.textContent = connected ? "connected" : "not connected";
  list.replaceChildren(...events.map((event) => {
    const item = document.createElement("li");
    item.textContent = `${event.type} (signature verified)`;
    return item;
  }));
}

update();
setInterval(() => update().catch(() => {}), 1000);
