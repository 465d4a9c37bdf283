/** The sign-in box: an API token (created with `kilowatch token` or the createApiToken mutation). */

import { setToken } from "./auth.js";
import { h } from "./dom.js";

let formCount = 0;

export function signInForm() {
  formCount += 1;
  const inputId = `token-input-${formCount}`;
  const input = h("input", {
    id: inputId,
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    size: 40,
  });
  return h(
    "form",
    {
      class: "sign-in",
      onsubmit(event) {
        event.preventDefault();
        if (input.value.trim()) setToken(input.value);
      },
    },
    h("label", { for: inputId }, "API token"),
    input,
    h("button", { type: "submit" }, "Sign in"),
    h(
      "p",
      { class: "hint" },
      "Tokens are created with ",
      h("code", {}, "kilowatch token"),
      " by an administrator. The token is kept in this browser until you sign out.",
    ),
  );
}
