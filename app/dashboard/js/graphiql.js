/**
 * GraphiQL with the explorer plugin, talking to this server only: HTTP POST and graphql-transport-ws
 * (subscriptions) on the /graphql address the page was served from. Every library it runs is served by
 * Kilowatch (static/vendor/graphiql), so it works where no CDN can be reached.
 *
 * Access: operations carry the token the dashboard signed in with in this browser (its localStorage
 * key), unless the Headers tab sets an Authorization header of its own. Websocket subscriptions get the
 * same value in their connection_init payload, which is where the server reads it.
 */
(function () {
  "use strict";

  const DASHBOARD_TOKEN_KEY = "kilowatch.token"; // see static/js/auth.js
  const endpoint = `${window.location.origin}${window.location.pathname}`;
  const socketEndpoint = endpoint.replace(/^http/, "ws");

  const WELCOME = `# Kilowatch GraphQL API. Ctrl-Enter runs an operation; the explorer (left) and the
# documentation list every type and field. Live updates: subscription { alertRaised { id message } }
#
# Access: if you signed in on the dashboard in this browser, operations carry that token.
# Otherwise open "Headers" below and enter
#   {"Authorization": "Bearer <token>"}
# with a token from \`kilowatch token create --name "my name" --role viewer\`.

query Fleet {
  machines {
    name
    readingsCount
    lastReadingAt
    models {
      modelType
      champion {
        version
      }
    }
  }
}
`;

  function dashboardToken() {
    try {
      return window.localStorage.getItem(DASHBOARD_TOKEN_KEY);
    } catch {
      return null; // storage disabled: the Headers tab is the way in
    }
  }

  function withToken(headers) {
    const all = { ...(headers || {}) };
    const named = Object.keys(all).some((name) => name.toLowerCase() === "authorization");
    const token = dashboardToken();
    if (!named && token) all.Authorization = `Bearer ${token}`;
    return all;
  }

  const serverFetcher = GraphiQL.createFetcher({ url: endpoint, subscriptionUrl: socketEndpoint });

  function fetcher(params, options) {
    return serverFetcher(params, { ...(options || {}), headers: withToken(options && options.headers) });
  }

  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher,
      plugins: [explorer],
      defaultQuery: WELCOME,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }),
  );
})();
