// Strawberry's GraphiQL page script, kept out of the HTML for its Content-Security-Policy.
(function () {
  "use strict";

  const root = document.getElementById("graphiql");
  if (!window.React || !window.ReactDOM || !window.GraphiQL || !window.GraphiQLPluginExplorer) {
    root.textContent =
      "GraphiQL's scripts did not load from /graphiql/vendor/: see the server's log.";
    return;
  }

  const EXAMPLE_QUERY = `# Welcome to GraphiQL
#
# Log in with the login mutation, then put
#   {"Authorization": "Bearer <accessToken>"}
# in the Headers tab below.
#
#     Run query: Ctrl-Enter (or the play button)
# Auto complete: Ctrl-Space (or just start typing)
`;

  // The query and variables live in the URL, to share them; the headers (tokens) never do.
  const parameters = new URLSearchParams(window.location.search);

  function updateURL(name, value) {
    if (value) {
      parameters.set(name, value);
    } else {
      parameters.delete(name);
    }
    history.replaceState(null, "", "?" + parameters.toString());
  }

  const fetchURL = window.location.href.split("?")[0];
  const subscriptionURL = new URL(fetchURL);
  subscriptionURL.protocol = subscriptionURL.protocol === "https:" ? "wss:" : "ws:";
  subscriptionURL.hash = "";

  // Subscriptions go over graphql-transport-ws, and GraphiQL sends the typed headers as the
  // connection_init payload, where the server reads "authorization": lower-case the names
  // (HTTP header names ignore case anyway), so {"Authorization": "Bearer ..."} works for both.
  const graphiqlFetcher = GraphiQL.createFetcher({
    url: fetchURL,
    subscriptionUrl: subscriptionURL.toString(),
  });

  function fetcher(graphQLParams, options) {
    const headers = {};
    for (const [name, value] of Object.entries((options && options.headers) || {})) {
      headers[name.toLowerCase()] = value;
    }
    return graphiqlFetcher(graphQLParams, { ...options, headers });
  }

  const explorerPlugin = GraphiQLPluginExplorer.explorerPlugin();

  function GraphiQLWithExplorer() {
    const [query, setQuery] = React.useState(parameters.get("q") || EXAMPLE_QUERY);
    const [variables, setVariables] = React.useState(parameters.get("variables") || undefined);

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorerPlugin],
      query: query,
      variables: variables,
      onEditQuery: function (value) {
        setQuery(value);
        updateURL("q", value);
      },
      onEditVariables: function (value) {
        setVariables(value);
        updateURL("variables", value);
      },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(root).render(React.createElement(GraphiQLWithExplorer));
})();
