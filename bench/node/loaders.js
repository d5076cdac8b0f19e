// The DataLoaders of one request, batching as the BFF's do: one statement for the account pages
// of all owners, one LATERAL statement for the transaction pages of all accounts, one for all
// transfers by id.
import DataLoader from 'dataloader';

import * as database from './database.js';

const pageKey = (owner, limit) => `${owner}:${limit}`;

export function createLoaders() {
  return {
    accountPages: new DataLoader(database.accountPages, {
      cacheKeyFn: (key) => pageKey(key.ownerId, key.limit),
    }),
    transactionPages: new DataLoader(database.transactionPages, {
      cacheKeyFn: (key) => pageKey(key.accountId, key.limit),
    }),
    transfers: new DataLoader(async (ids) => {
      const byId = new Map((await database.transfers(ids)).map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
