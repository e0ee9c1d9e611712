// The Connect page's footer: which account types this broker offers (VF_MODES).
import { modeLabel } from "./connect-text.js";
import { getModes } from "./vaporforge-connect.js";

const footer = document.querySelector("#vf-offered");
getModes().then((modes) => {
  footer.textContent = `Account types offered here: ${modes.map(modeLabel).join(", ")}.`;
}).catch(() => {}); // the footer stays empty; the choice itself still works
