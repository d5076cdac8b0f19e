// Apollo Server 5 serving the home query, one process (`node apollo.js`), on Node's own HTTP
// server through Apollo's integration API (executeHTTPGraphQLRequest), which is what
// startStandaloneServer does too, less its CORS and body-parser middleware (which cost it
// about a fifth more CPU per home query here).
import { createServer } from 'node:http';

import { ApolloServer, HeaderMap } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError } from 'graphql';

import { authenticate } from './auth.js';
import { config } from './config.js';
import { health } from './http.js';
import { createLoaders } from './loaders.js';
import { resolvers, typeDefs } from './schema.js';

// The cache-control plugin (on by default) works out HTTP cache hints field by field; the BFF
// sends none, and Apollo's documented switch spares this side that work.
const apollo = new ApolloServer({
  typeDefs,
  resolvers,
  plugins: [ApolloServerPluginCacheControlDisabled()],
});
await apollo.start();

async function context(request) {
  const viewer = await authenticate(request.headers.authorization);
  if (viewer === null) {
    throw new GraphQLError('unauthenticated', {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
    });
  }
  return { viewer, loaders: createLoaders() };
}

async function body(request) {
  const chunks = [];
  for await (const chunk of request) {
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return (request.headers['content-type'] ?? '').startsWith('application/json') && text
    ? JSON.parse(text)
    : text;
}

async function handle(request, response) {
  if (request.url === '/healthz') {
    response.setHeader('content-type', 'application/json');
    response.end(health());
    return;
  }
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(request.headers)) {
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const url = new URL(request.url, 'http://localhost');
  const answer = await apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: {
      method: request.method.toUpperCase(),
      headers,
      search: url.search,
      body: await body(request),
    },
    context: () => context(request),
  });
  for (const [name, value] of answer.headers) {
    response.setHeader(name, value);
  }
  response.statusCode = answer.status ?? 200;
  if (answer.body.kind === 'complete') {
    response.end(answer.body.string);
    return;
  }
  for await (const chunk of answer.body.asyncIterator) {
    response.write(chunk);
  }
  response.end();
}

createServer((request, response) => {
  handle(request, response).catch((error) => {
    console.error(error);
    response.statusCode = 400;
    response.end(JSON.stringify({ errors: [{ message: 'bad request' }] }));
  });
}).listen(config.port, '127.0.0.1');
