"""Every GraphQL document the tests send, named by what it does (one copy of each).

A test whose document is its subject builds it where it is used (nested past the depth limit,
too many aliases or tokens, an amount as a number literal, a misspelt field, introspection);
everything else imports from here. Where two documents differ
only in the fields they select, there is one, selecting what its users need, unless a test
counts what the selection costs (marked below).
"""

from __future__ import annotations

USER_ERRORS = "userErrors { code message field }"

# --- sign-up, login and sessions ------------------------------------------------------------

SIGN_UP = f"""
mutation SignUp($input: SignUpInput!) {{
  signUp(input: $input) {{ user {{ id email displayName roles }} {USER_ERRORS} }}
}}
"""

LOGIN = f"""
mutation Login($input: LoginInput!) {{
  login(input: $input) {{
    accessToken refreshToken expiresIn retryAfterSeconds
    user {{ id email }}
    {USER_ERRORS}
  }}
}}
"""

REFRESH = f"""
mutation Refresh($input: RefreshSessionInput!) {{
  refreshSession(input: $input) {{
    accessToken refreshToken expiresIn
    user {{ id email }}
    {USER_ERRORS}
  }}
}}
"""

LOGOUT = f"mutation Logout {{ logout {{ sessionsEnded {USER_ERRORS} }} }}"

LOGOUT_EVERYWHERE = f"""
mutation LogoutEverywhere {{ logoutEverywhere {{ sessionsEnded {USER_ERRORS} }} }}
"""

REVOKE_SESSION = f"""
mutation RevokeSession($input: RevokeSessionInput!) {{
  revokeSession(input: $input) {{ sessionsEnded {USER_ERRORS} }}
}}
"""

CHANGE_PASSWORD = f"""
mutation ChangePassword($input: ChangePasswordInput!) {{
  changePassword(input: $input) {{ user {{ id email }} {USER_ERRORS} }}
}}
"""

# --- the viewer -----------------------------------------------------------------------------

VIEWER = "query Viewer { viewer { id email displayName roles } }"

# Two selected fields: the rate-limit tests count them against a budget of fields.
VIEWER_ID = "query ViewerId { viewer { id } }"

VIEWER_SESSIONS = """
query ViewerSessions {
  viewer { id sessions { id deviceName createdAt lastUsedAt expiresAt current } }
}
"""

VIEWER_ACCOUNTS = """
query ViewerAccounts($first: Int! = 20, $after: String) {
  viewer {
    accounts(first: $first, after: $after) {
      edges { cursor node { id name } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

# The app's home screen: the viewer, their accounts and each account's latest transactions,
# with both sides of each transfer.
HOME = """
query Home {
  viewer {
    id displayName roles
    accounts(first: 20) {
      edges {
        node {
          id status
          balance { amount currency }
          availableBalance { amount currency }
          transactions(first: 20) {
            edges {
              node {
                amount { amount currency }
                transfer { id memo fromAccount { id } toAccount { id } }
              }
            }
          }
        }
      }
    }
  }
}
"""

# The home screen without the viewer's profile and without the other side of each transfer:
# every kind of object it shows is read in exactly one batch, which test_cache.py counts (the
# other side of a transfer would be a second batch of accounts).
HOME_ONE_BATCH_PER_KIND = """
query HomeOneBatchPerKind {
  viewer {
    accounts {
      edges {
        node {
          id balance { amount }
          transactions(first: 5) { edges { node { amount { amount } transfer { id memo } } } }
        }
      }
    }
  }
}
"""

# A user's account list read twice, in two batches (the owner of each account is the viewer).
OWN_ACCOUNTS_TWICE = """
query OwnAccountsTwice {
  viewer { accounts(first: 5) { edges { node { id owner { accounts(first: 4) {
    edges { node { id } } } } } } } }
}
"""

# --- accounts and money ---------------------------------------------------------------------

TRANSFER_FIELDS = """
  id kind status memo
  amount { amount currency }
  fromAccount { id }
  toAccount { id }
"""

OPEN_ACCOUNT = f"""
mutation OpenAccount($input: OpenAccountInput!) {{
  openAccount(input: $input) {{
    account {{
      id name currency status accountNumber
      balance {{ amount currency }} availableBalance {{ amount currency }}
      owner {{ id }}
    }}
    {USER_ERRORS}
  }}
}}
"""

CREATE_TRANSFER = f"""
mutation CreateTransfer($input: CreateTransferInput!) {{
  createTransfer(input: $input) {{ transfer {{ {TRANSFER_FIELDS} }} {USER_ERRORS} }}
}}
"""

DEPOSIT_FUNDS = f"""
mutation DepositFunds($input: DepositFundsInput!) {{
  depositFunds(input: $input) {{ transfer {{ {TRANSFER_FIELDS} }} {USER_ERRORS} }}
}}
"""

FREEZE = f"""
mutation Freeze($input: AccountStatusInput!) {{
  freezeAccount(input: $input) {{ account {{ id status }} {USER_ERRORS} }}
}}
"""

UNFREEZE = f"""
mutation Unfreeze($input: AccountStatusInput!) {{
  unfreezeAccount(input: $input) {{ account {{ id status }} {USER_ERRORS} }}
}}
"""

ACCOUNT = """
query Account($id: ID!) {
  account(id: $id) {
    id status
    balance { amount currency }
    owner { id email }
    transactions(first: 5) { edges { node { id amount { amount } } } }
  }
}
"""

# One account and nothing else: the cache tests count the look-ups and loads of a request.
ACCOUNT_BALANCE = "query AccountBalance($id: ID!) { account(id: $id) { id balance { amount } } }"

# Another query reading the same account only (the cache test of hits and misses).
ACCOUNT_NAME = "query AccountName($id: ID!) { account(id: $id) { name } }"

HISTORY = f"""
query History($id: ID!, $first: Int! = 20, $after: String) {{
  account(id: $id) {{
    id status
    balance {{ amount currency }}
    availableBalance {{ amount currency }}
    transactions(first: $first, after: $after) {{
      edges {{
        cursor
        node {{
          id sequence direction description createdAt
          amount {{ amount currency }}
          balanceAfter {{ amount currency }}
          transfer {{ {TRANSFER_FIELDS} }}
        }}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""

TRANSFER = f"query Transfer($id: ID!) {{ transfer(id: $id) {{ {TRANSFER_FIELDS} }} }}"

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    id
    __typename
    ... on Account { balance { amount } accountNumber }
    ... on User { email }
    ... on Transfer { amount { amount } memo }
    ... on Transaction { amount { amount } description }
  }
}
"""

# --- users and roles ------------------------------------------------------------------------

USER = """
query User($id: ID!) {
  user(id: $id) {
    id email displayName roles
    sessions { id }
    accounts(first: 10) {
      edges {
        node {
          id
          balance { amount currency }
          transactions(first: 10) { edges { node { id amount { amount } description } } }
        }
      }
    }
  }
}
"""

ASSIGN_ROLE = f"""
mutation AssignRole($input: RoleInput!) {{
  assignRole(input: $input) {{ user {{ id roles }} {USER_ERRORS} }}
}}
"""

REVOKE_ROLE = f"""
mutation RevokeRole($input: RoleInput!) {{
  revokeRole(input: $input) {{ user {{ id roles }} {USER_ERRORS} }}
}}
"""

# --- live events ----------------------------------------------------------------------------

ACCOUNT_EVENTS = """
subscription AccountEvents($accountId: ID!, $after: String) {
  accountEvents(accountId: $accountId, afterSequence: $after) {
    accountId sequence kind status
    balance { amount currency }
    availableBalance { amount currency }
    transaction {
      id sequence direction description
      amount { amount currency }
      balanceAfter { amount currency }
      transfer { id }
    }
  }
}
"""

# --- notifications and the activity feed ------------------------------------------------------

REGISTER_PUSH_DEVICE = f"""
mutation RegisterPushDevice($input: RegisterPushDeviceInput!) {{
  registerPushDevice(input: $input) {{ device {{ id platform }} {USER_ERRORS} }}
}}
"""

UPDATE_NOTIFICATION_PREFERENCES = f"""
mutation UpdateNotificationPreferences($input: UpdateNotificationPreferencesInput!) {{
  updateNotificationPreferences(input: $input) {{
    preferences {{ moneyReceived moneySent accountChanges locale }}
    {USER_ERRORS}
  }}
}}
"""

VIEWER_ACTIVITY = """
query ViewerActivity($first: Int, $after: String) {
  viewer {
    notificationPreferences { moneyReceived locale }
    activity(first: $first, after: $after) {
      edges { cursor node { kind occurredAt summary amount { amount currency } accountId } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

VIEWER_SPENDING = """
query ViewerSpending($period: String!) {
  viewer { spending(period: $period) { month counterparty total { amount currency } transfers } }
}
"""

USER_ACTIVITY = """
query UserActivity($id: ID!) {
  user(id: $id) { notificationPreferences { locale } activity { edges { node { kind } } } }
}
"""

# --- trusted documents (admins) -------------------------------------------------------------

REGISTER_APP_BUILD = f"""
mutation RegisterAppBuild($input: RegisterAppBuildInput!) {{
  registerAppBuild(input: $input) {{ build {{ app version documents }} {USER_ERRORS} }}
}}
"""

RETIRE_APP_BUILD = f"""
mutation RetireAppBuild($input: AppBuildInput!) {{
  retireAppBuild(input: $input) {{ build {{ app version retiredAt }} {USER_ERRORS} }}
}}
"""

APP_BUILDS = "query AppBuilds { appBuilds { app version documents retiredAt } }"

REGISTER_OAUTH_CLIENT = """
mutation ($input: RegisterOAuthClientInput!) {
  registerOAuthClient(input: $input) {
    client { clientId name kind redirectUris scopes }
    userErrors { code field }
  }
}
"""
REVOKE_APP_ACCESS = """
mutation ($input: RevokeAppAccessInput!) { revokeAppAccess(input: $input) { userErrors { code } } }
"""
CONNECTED_APPS = "{ viewer { connectedApps { id } } }"

# --- fraud review ---------------------------------------------------------------------------

REVIEW_QUEUE = """
query ReviewQueue($first: Int!, $after: String) {
  reviewQueue(first: $first, after: $after) {
    edges {
      cursor
      node {
        transferId status amount { amount currency } fromAccountNumber toAccountNumber
        heldAt ageSeconds holdExpiresAt
        screening { score modelVersion rulesVersion reasons }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

APPROVE_TRANSFER = f"""
mutation ApproveTransfer($input: ReviewTransferInput!) {{
  approveTransfer(input: $input) {{ transfer {{ id status amount {{ amount }} }} {USER_ERRORS} }}
}}
"""

REJECT_TRANSFER = f"""
mutation RejectTransfer($input: ReviewTransferInput!) {{
  rejectTransfer(input: $input) {{ transfer {{ id status amount {{ amount }} }} {USER_ERRORS} }}
}}
"""

FRAUD_RULES_FIELDS = """
  version stepUpAt reviewAt blockAt allowAccountIds blockAccountIds
  limits { userId maxMinorUnits }
"""

FRAUD_RULES = f"query FraudRules {{ fraudRules {{ {FRAUD_RULES_FIELDS} }} }}"

UPDATE_FRAUD_RULES = f"""
mutation UpdateFraudRules($input: UpdateFraudRulesInput!) {{
  updateFraudRules(input: $input) {{ rules {{ {FRAUD_RULES_FIELDS} }} {USER_ERRORS} }}
}}
"""
