// The home query's schema (home.graphql) and its resolvers, shared by every Node peer.
import { readFileSync } from 'node:fs';

import { GraphQLError } from 'graphql';

import { formatAmount, globalId, isoformat } from './format.js';

export const typeDefs = readFileSync(new URL('./home.graphql', import.meta.url), 'utf8');

const MAX_PAGE = 100;

// Like the BFF, read one row more than the page: it tells whether another page follows.
function pageLimit(first) {
  if (first < 1 || first > MAX_PAGE) {
    throw new GraphQLError(`first must be between 1 and ${MAX_PAGE}.`);
  }
  return first + 1;
}

function connection(rows, first) {
  return { edges: rows.slice(0, first).map((node) => ({ node })) };
}

function money(minor, currency) {
  return { amount: formatAmount(minor, currency), currency };
}

export const resolvers = {
  Query: {
    viewer: (_, __, context) => context.viewer.user,
  },
  User: {
    accounts: async (user, { first }, { loaders }) =>
      connection(
        await loaders.accountPages.load({ ownerId: user.id, limit: pageLimit(first) }),
        first,
      ),
  },
  Account: {
    id: (account) => globalId('Account', account.id),
    balance: (account) => money(account.balance, account.currency),
    availableBalance: (account) => money(account.available_balance, account.currency),
    transactions: async (account, { first }, { loaders }) =>
      connection(
        await loaders.transactionPages.load({ accountId: account.id, limit: pageLimit(first) }),
        first,
      ),
  },
  Transaction: {
    id: (entry) => globalId('Transaction', entry.id),
    amount: (entry) => money(entry.amount, entry.currency),
    direction: (entry) => (BigInt(entry.amount) > 0n ? 'CREDIT' : 'DEBIT'),
    balanceAfter: (entry) => money(entry.balance_after, entry.currency),
    createdAt: (entry) => isoformat(entry.created_at),
    transfer: (entry, _, { loaders }) => loaders.transfers.load(entry.transfer_id),
  },
  Transfer: {
    id: (transfer) => globalId('Transfer', transfer.id),
  },
};
