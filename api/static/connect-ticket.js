// The Connect page at /: a connect ticket handed over in the address
// (`/#ticket=...`, never sent to a server) goes to the element, and leaves the
// address bar and the history at once, so it is not bookmarked or shared.
const handed = new URLSearchParams(location.hash.slice(1)).get("ticket");
if (handed) {
  history.replaceState(history.state, "", location.pathname + location.search);
  document.querySelector("vaporforge-connect").ticket = handed;
}
