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

// Disconnect: this app's backend revokes the user at the broker (its host key
// never reaches the page), then the set stored in this browser is erased.
const button = document.querySelector("#disconnect");
const result = document.querySelector("#disconnected");
button.addEventListener("click", async () => {
  button.disabled = true;
  try {
    const answer = await fetch("/vaporforge/disconnect", { method: "POST",
      credentials: "same-origin" });
    if (!answer.ok) {
      result.textContent = "The broker could not disconnect your account. Try again.";
      return;
    }
    const { disconnect } = await import(`${button.dataset.broker}/static/vaporforge-connect.js`);
    await disconnect();
    result.textContent = "Disconnected: your Claude account no longer works through this app.";
    await update();
  } finally {
    button.disabled = false;
  }
});

update();
setInterval(() => update().catch(() => {}), 1000);
