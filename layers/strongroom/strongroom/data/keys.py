"""Every DynamoDB key string is built here and nowhere else (see docs/data-model.md)."""

from __future__ import annotations

# Partition/sort key attribute names of the single table and its indexes.
PK, SK = "PK", "SK"
GSI1, GSI1PK, GSI1SK = "GSI1", "GSI1PK", "GSI1SK"
TTL = "expires_at_epoch"


def user(user_id: str) -> dict[str, str]:
    return {PK: f"USER#{user_id}", SK: "PROFILE"}


def user_email(email: str) -> dict[str, str]:
    return {PK: f"EMAIL#{email.lower()}", SK: "EMAIL"}


def user_identity(issuer: str, subject: str) -> dict[str, str]:
    return {PK: f"IDP#{issuer}#{subject}", SK: "IDP"}


def org(org_id: str) -> dict[str, str]:
    return {PK: f"ORG#{org_id}", SK: "ORG"}


def org_partition(org_id: str) -> str:
    return f"ORG#{org_id}"


def org_slug(slug: str) -> dict[str, str]:
    return {PK: f"ORGSLUG#{slug}", SK: "ORGSLUG"}


def kms_key_claim(key_arn: str) -> dict[str, str]:
    """BYOK: which org uses a customer KMS key (by its key ARN); one org per key."""
    return {PK: f"KMSKEY#{key_arn}", SK: "CLAIM"}


def member(org_id: str, user_id: str) -> dict[str, str]:
    return {PK: f"ORG#{org_id}", SK: f"MEMBER#{user_id}"}


MEMBER_PREFIX = "MEMBER#"


def member_gsi(user_id: str, org_id: str) -> dict[str, str]:
    """GSI1 projection of a membership: the user's orgs."""
    return {GSI1PK: f"USER#{user_id}#ORGS", GSI1SK: f"ORG#{org_id}"}


def user_orgs_gsi_pk(user_id: str) -> str:
    return f"USER#{user_id}#ORGS"


def role(org_id: str, slug: str) -> dict[str, str]:
    """A custom role, by its slug (what a membership or an invitation names; never renamed)."""
    return {PK: f"ORG#{org_id}", SK: f"ROLE#{slug}"}


ROLE_PREFIX = "ROLE#"


def role_id(org_id: str, role_id_: str) -> dict[str, str]:
    """A custom role's ID pointer: its slug."""
    return {PK: f"ORG#{org_id}", SK: f"ROLEID#{role_id_}"}


def invitation(org_id: str, invitation_id: str) -> dict[str, str]:
    return {PK: f"ORG#{org_id}", SK: f"INVITE#{invitation_id}"}


INVITE_PREFIX = "INVITE#"


def invitation_token(token_hash: str) -> dict[str, str]:
    return {PK: f"INVTOKEN#{token_hash}", SK: "INVTOKEN"}


def project(org_id: str, project_id: str) -> dict[str, str]:
    return {PK: f"ORG#{org_id}", SK: f"PROJECT#{project_id}"}


PROJECT_PREFIX = "PROJECT#"


def project_slug(org_id: str, slug: str) -> dict[str, str]:
    return {PK: f"ORG#{org_id}", SK: f"PROJSLUG#{slug}"}


PROJECT_SLUG_PREFIX = "PROJSLUG#"
# A project's slug pointer also indexes its environments by slug, one attribute each (`env:<slug>`
# = the environment's ID), so that a path naming project and environment by slug finds the
# environment's item from the org's ID alone (docs/data-model.md, access pattern 0).
ENV_INDEX_PREFIX = "env:"
ENV_INDEX_REVISION = "env_rev"  # counts the index's changes (a slug rename moves the pointer only unchanged)


def environment_index_attribute(env_slug: str) -> str:
    return f"{ENV_INDEX_PREFIX}{env_slug}"


def environment(org_id: str, project_id: str, env_id: str) -> dict[str, str]:
    return {PK: f"ORG#{org_id}", SK: f"ENV#{project_id}#{env_id}"}


def environment_prefix(project_id: str) -> str:
    return f"ENV#{project_id}#"


def template_key(org_id: str, project_id: str, key: str) -> dict[str, str]:
    """One required key of a project's template."""
    return {PK: f"ORG#{org_id}", SK: f"TEMPLATE#{project_id}#{key}"}


def template_prefix(project_id: str) -> str:
    return f"TEMPLATE#{project_id}#"


def environment_slug(org_id: str, project_id: str, slug: str) -> dict[str, str]:
    return {PK: f"ORG#{org_id}", SK: f"ENVSLUG#{project_id}#{slug}"}


def environment_slug_prefix(project_id: str) -> str:
    return f"ENVSLUG#{project_id}#"


def environment_partition(env_id: str) -> str:
    """Partition holding an environment's secrets, versions and snapshot (issue #3)."""
    return f"ENV#{env_id}"


def audit_partition(scope_id: str) -> str:
    """Audit events of an org (`org_…`) or of a user's own account (`usr_…`)."""
    return f"AUDIT#{scope_id}"


def audit_event(scope_id: str, event_id: str) -> dict[str, str]:
    """An audit event, by its ID (time-sortable, so the partition reads in about creation order)."""
    return {PK: audit_partition(scope_id), SK: f"EVT#{event_id}"}


def audit_legacy_event(scope_id: str, seq: int) -> dict[str, str]:
    """An event of the hash chain before the Merkle log (#11), by its sequence number: the
    sealer's one migration moves each to `audit_event` (its first leaves, in chain order)."""
    return {PK: audit_partition(scope_id), SK: f"EVT#{seq:012d}"}


def audit_legacy_head(scope_id: str) -> dict[str, str]:
    """The head of a pre-Merkle hash chain (last seq and hash), removed by the migration."""
    return {PK: audit_partition(scope_id), SK: "HEAD"}


def audit_unsealed(scope_id: str) -> str:
    """GSI1 partition of a scope's events not yet sealed into its tree (the sealer's work list)."""
    return f"AUDIT#{scope_id}#UNSEALED"


def audit_tree(scope_id: str) -> dict[str, str]:
    """A scope's Merkle tree state: its size, root, and the last signed tree head."""
    return {PK: audit_partition(scope_id), SK: "TREE"}


def audit_node(scope_id: str, level: int, index: int) -> dict[str, str]:
    """One complete subtree of a scope's tree: leaves [index * 2**level, (index + 1) * 2**level)."""
    return {PK: audit_partition(scope_id), SK: f"NODE#{level:02d}#{index:012d}"}


def audit_signed_head(scope_id: str, tree_size: int) -> dict[str, str]:
    """A signed tree head, by its tree size (every one the sealer published is kept)."""
    return {PK: audit_partition(scope_id), SK: f"STH#{tree_size:012d}"}


AUDIT_EVENT_PREFIX = "EVT#"
AUDIT_LEGACY_PREFIX = "EVT#0"  # sequence numbers, 12 digits (IDs start `evt_`)
AUDIT_LEAF_PREFIX = "NODE#00#"
AUDIT_SIGNED_HEAD_PREFIX = "STH#"


def purge_job(target_id: str) -> dict[str, str]:
    """The pending purge of a deleted org, project, environment or webhook (by its prefixed ID)."""
    return {PK: f"PURGE#{target_id}", SK: "PURGE"}


def purge_job_index(created_at: str, target_id: str) -> dict[str, str]:
    """GSI1 projection of a purge job: every pending purge, oldest first (for operators)."""
    return {GSI1PK: PURGE_JOBS, GSI1SK: f"{created_at}#{target_id}"}


PURGE_JOBS = "PURGES"


def idempotency_partition(function_name: str) -> str:
    return f"IDEMPOTENCY#{function_name}"


# --------------------------------------------------------------------------- environment data (ENV#<env_id>)


def env_claim(env_id: str) -> dict[str, str]:
    """An environment ID's claim: a client-encrypted environment's ID is chosen by its client, so
    it is made unique across the table by this create-only item in its own partition."""
    return {PK: environment_partition(env_id), SK: "CLAIM"}


def user_keys(user_id: str) -> dict[str, str]:
    """A user's end-to-end key pairs (public keys, private keys sealed by the client)."""
    return {PK: f"USER#{user_id}", SK: "KEYS"}


def grant(env_id: str, key_version: int, principal_type: str, principal_id: str) -> dict[str, str]:
    """A principal's grant of a client-encrypted environment's data key, at one key version: a
    rekey writes the next version's grants ahead, unreachable until the environment's key version
    moves to them."""
    return {PK: environment_partition(env_id), SK: f"GRANT#{key_version:06d}#{principal_type}#{principal_id}"}


def grant_prefix(key_version: int) -> str:
    return f"GRANT#{key_version:06d}#"


def grant_id(env_id: str, grant_id_: str) -> dict[str, str]:
    """A grant's ID pointer: the principal it names (the same grant ID across rekeys)."""
    return {PK: environment_partition(env_id), SK: f"GRANTID#{grant_id_}"}


GRANT_ID_PREFIX = "GRANTID#"


def env_snapshot(env_id: str) -> dict[str, str]:
    """The materialized, encrypted current state of an environment (+ its wrapped data key)."""
    return {PK: environment_partition(env_id), SK: "SNAPSHOT"}


def env_snapshot_chunk(env_id: str, revision: int, part: int) -> dict[str, str]:
    """Part `part` (1…) of a snapshot too large for one item, immutable, behind its revision."""
    return {PK: environment_partition(env_id), SK: f"SNAPSHOT#{revision:010d}#{part:03d}"}


def env_snapshot_part(env_id: str, change_id: str, part: int) -> dict[str, str]:
    """Part `part` (1…) of a snapshot written ahead of its publication (a change too large for one
    transaction), immutable, behind the change's id."""
    return {PK: environment_partition(env_id), SK: f"SNAPSHOT#{change_id}#{part:03d}"}


def env_change_set(env_id: str, change_id: str, part: int) -> dict[str, str]:
    """Part `part` (1…) of a large change's version records, written before it is published."""
    return {PK: environment_partition(env_id), SK: f"CHANGE#{change_id}#{part:04d}"}


def env_data_key(env_id: str, version: int) -> dict[str, str]:
    return {PK: environment_partition(env_id), SK: f"{DATA_KEY_PREFIX}{version:06d}"}


def secret_version(env_id: str, key: str, version: int) -> dict[str, str]:
    return {PK: environment_partition(env_id), SK: f"VERSION#{key}#{version:010d}"}


def secret_versions_prefix(key: str) -> str:
    return f"VERSION#{key}#"


ALL_VERSIONS_PREFIX = "VERSION#"
DATA_KEY_PREFIX = "DATAKEY#"
SNAPSHOT_PREFIX = "SNAPSHOT"  # the SNAPSHOT item and its part items


# --------------------------------------------------------------------------- tokens (TOKEN#<id>)


def service_token(token_id: str) -> dict[str, str]:
    """A service token: its own partition, so that verifying one is a GetItem by the ID it carries."""
    return {PK: f"TOKEN#{token_id}", SK: "TOKEN"}


def service_token_index(org_id: str, created_at: str, token_id: str) -> dict[str, str]:
    """GSI1 projection of a service token: the org's tokens, oldest first."""
    return {GSI1PK: org_tokens_partition(org_id), GSI1SK: f"{created_at}#{token_id}"}


def org_tokens_partition(org_id: str) -> str:
    return f"ORG#{org_id}#TOKENS"


# --------------------------------------------------------------------------- machine identities (IDENTITY#<id>)


def identity(identity_id: str) -> dict[str, str]:
    """A machine identity: its own partition, so that a token exchange reads it by the ID it names."""
    return {PK: f"IDENTITY#{identity_id}", SK: "IDENTITY"}


def identity_index(org_id: str, created_at: str, identity_id: str) -> dict[str, str]:
    """GSI1 projection of a machine identity: the org's identities, oldest first."""
    return {GSI1PK: org_identities_partition(org_id), GSI1SK: f"{created_at}#{identity_id}"}


def org_identities_partition(org_id: str) -> str:
    return f"ORG#{org_id}#IDENTITIES"


def identity_credential_used(digest: str) -> dict[str, str]:
    """A credential a token exchange accepted (by the SHA-256 of its issuer and `jti`, of the JWT,
    or of an AWS signature): its replay record, kept (TTL) for the credential's lifetime."""
    return {PK: f"CREDUSED#{digest}", SK: "CREDUSED"}


def personal_token(pat_id: str) -> dict[str, str]:
    return {PK: f"PAT#{pat_id}", SK: "PAT"}


def personal_token_index(user_id: str, created_at: str, pat_id: str) -> dict[str, str]:
    """GSI1 projection of a personal access token: the user's tokens."""
    return {GSI1PK: personal_tokens_partition(user_id), GSI1SK: f"{created_at}#{pat_id}"}


def personal_tokens_partition(user_id: str) -> str:
    return f"USER#{user_id}#PATS"


def personal_token_count(user_id: str) -> dict[str, str]:
    """How many personal access tokens a user holds (the cap is a condition on it)."""
    return {PK: f"USER#{user_id}", SK: "PATCOUNT"}


# --------------------------------------------------------------------------- device login (RFC 8628)


def device_request(device_hash: str) -> dict[str, str]:
    """A device login, by the SHA-256 of its device code (the code itself is never stored)."""
    return {PK: f"DEVICE#{device_hash}", SK: "DEVICE"}


def device_user_code(code_hash: str) -> dict[str, str]:
    """The single-use pointer from a user code (by its SHA-256; the code is never stored) to its device login."""
    return {PK: f"USERCODE#{code_hash}", SK: "USERCODE"}


def device_failures(user_id: str) -> dict[str, str]:
    """Wrong user codes a user entered in the current window (guessing defence)."""
    return {PK: f"USER#{user_id}", SK: "DEVICEFAILURES"}


# --------------------------------------------------------------------------- accounts and sessions


def user_password(user_id: str) -> dict[str, str]:
    """A user's password credential (its Argon2id hash); absent for users who never set one."""
    return {PK: f"USER#{user_id}", SK: "PASSWORD"}


def user_totp(user_id: str) -> dict[str, str]:
    """A user's TOTP second factor: the sealed secret, its last accepted step, the recovery codes'
    hashes; absent for users who never set 2FA up."""
    return {PK: f"USER#{user_id}", SK: "TOTP"}


def session(session_id: str) -> dict[str, str]:
    """A signed-in session, by its JWT's `jti` (the token itself is never stored)."""
    return {PK: f"SESSION#{session_id}", SK: "SESSION"}


def login_failures(email: str) -> dict[str, str]:
    """Failed password logins for an email (known or not) in the current window."""
    return {PK: f"LOGINFAIL#{email.lower()}", SK: "LOGINFAIL"}


def code_failures(user_id: str) -> dict[str, str]:
    """Wrong second-factor codes a signed-in user sent to enable or disable 2FA, in the current window."""
    return {PK: f"CODEFAIL#{user_id}", SK: "CODEFAIL"}


def register_count(ip: str, hour: int) -> dict[str, str]:
    """Registrations from one source IP in one clock hour (epoch hours)."""
    return {PK: f"REGISTERIP#{ip}", SK: f"HOUR#{hour}"}


def mail_token(token_hash: str) -> dict[str, str]:
    """A mailed single-use token (email verification, password reset), by its SHA-256 (the token
    itself is never stored)."""
    return {PK: f"MAILTOKEN#{token_hash}", SK: "MAILTOKEN"}


def mail_count(kind: str, subject: str, hour: int) -> dict[str, str]:
    """Mails asked for in one clock hour (epoch hours): `forgot` per source IP, `verify` per user."""
    return {PK: f"MAILCOUNT#{kind}#{subject}", SK: f"HOUR#{hour}"}


# --------------------------------------------------------------------------- webhooks


def webhook(org_id: str, webhook_id: str) -> dict[str, str]:
    return {PK: org_partition(org_id), SK: f"WEBHOOK#{webhook_id}"}


WEBHOOK_PREFIX = "WEBHOOK#"


def delivery(webhook_id: str, delivery_id: str) -> dict[str, str]:
    """A delivery of one event to one webhook, with its attempts (newest deliveries first by ID)."""
    return {PK: f"WEBHOOK#{webhook_id}", SK: f"DLV#{delivery_id}"}


def deliveries_partition(webhook_id: str) -> str:
    return f"WEBHOOK#{webhook_id}"


DELIVERY_PREFIX = "DLV#"


# --------------------------------------------------------------------------- single sign-on


def sso_oidc(org_id: str) -> dict[str, str]:
    """An org's OIDC single sign-on configuration (one per org)."""
    return {PK: f"ORG#{org_id}", SK: "SSO#OIDC"}


def sso_domain(domain: str) -> dict[str, str]:
    """Which org's single sign-on an email domain uses; one org per domain."""
    return {PK: f"SSODOMAIN#{domain.lower()}", SK: "SSODOMAIN"}


def sso_state(state_hash: str) -> dict[str, str]:
    """A sign-in in flight, by the SHA-256 of its `state` (single-use, expiring)."""
    return {PK: f"SSOSTATE#{state_hash}", SK: "SSOSTATE"}


def sso_saml(org_id: str) -> dict[str, str]:
    """An org's SAML 2.0 single sign-on configuration (one per org)."""
    return {PK: f"ORG#{org_id}", SK: "SSO#SAML"}


def saml_request(request_id: str) -> dict[str, str]:
    """An AuthnRequest we issued, by its ID (single-use, expiring): what InResponseTo must name."""
    return {PK: f"SAMLREQ#{request_id}", SK: "SAMLREQ"}


def saml_assertion(org_id: str, assertion_hash: str) -> dict[str, str]:
    """An assertion an org's ACS accepted, by the SHA-256 of its ID (expiring): never accepted twice."""
    return {PK: f"SAMLSEEN#{org_id}#{assertion_hash}", SK: "SAMLSEEN"}


def scim_token(token_id: str) -> dict[str, str]:
    return {PK: f"SCIMTOK#{token_id}", SK: "SCIMTOK"}


def scim_token_index(org_id: str, created_at: str, token_id: str) -> dict[str, str]:
    """GSI1 projection of a SCIM token: the org's SCIM tokens, oldest first."""
    return {GSI1PK: org_scim_tokens_partition(org_id), GSI1SK: f"{created_at}#{token_id}"}


def org_scim_tokens_partition(org_id: str) -> str:
    return f"ORG#{org_id}#SCIMTOKENS"


def scim_user(org_id: str, user_id: str) -> dict[str, str]:
    """A user the org's identity provider provisioned (SCIM), member or not at the moment."""
    return {PK: org_partition(org_id), SK: f"{SCIM_USER_PREFIX}{user_id}"}


SCIM_USER_PREFIX = "SCIMUSER#"


def scim_group(org_id: str, group_id: str) -> dict[str, str]:
    """What the org's identity provider said of one of its Groups (a role) beyond the role: its
    externalId."""
    return {PK: org_partition(org_id), SK: f"SCIMGROUP#{group_id}"}


def scim_user_name(org_id: str, name_digest: str) -> dict[str, str]:
    """The org's SCIM userName pointer (SHA-256 of the lower-cased userName) to its user."""
    return {PK: org_partition(org_id), SK: f"SCIMNAME#{name_digest}"}


# --------------------------------------------------------------------------- governance (#16)


def approval_policy(org_id: str, policy_id: str) -> dict[str, str]:
    return {PK: org_partition(org_id), SK: f"{POLICY_PREFIX}{policy_id}"}


POLICY_PREFIX = "POLICY#"


def policy_claim(org_id: str, env_id: str, kind: str) -> dict[str, str]:
    """Which policy covers an environment for a kind (`access_requests`, `changes`): one at most."""
    return {PK: org_partition(org_id), SK: f"POLICYFOR#{env_id}#{kind}"}


def access_request(org_id: str, request_id: str) -> dict[str, str]:
    return {PK: org_partition(org_id), SK: f"{ACCESS_REQUEST_PREFIX}{request_id}"}


ACCESS_REQUEST_PREFIX = "ACCESSREQ#"


def access_grant(org_id: str, user_id: str, env_id: str, request_id: str) -> dict[str, str]:
    """A temporary permission an approved access request gives its requester on one environment."""
    return {PK: org_partition(org_id), SK: f"{access_grant_prefix(user_id, env_id)}{request_id}"}


def access_grant_prefix(user_id: str, env_id: str) -> str:
    return f"ACCESSGRANT#{user_id}#{env_id}#"


def change_request(org_id: str, change_request_id: str) -> dict[str, str]:
    return {PK: org_partition(org_id), SK: f"{CHANGE_REQUEST_PREFIX}{change_request_id}"}


CHANGE_REQUEST_PREFIX = "CHANGEREQ#"


# --------------------------------------------------------------------------- agents (#19)


def agent(agent_id: str) -> dict[str, str]:
    return {PK: f"AGENT#{agent_id}", SK: "AGENT"}


def agent_index(org_id: str, created_at: str, agent_id: str) -> dict[str, str]:
    """GSI1 projection of an agent: the org's agents, oldest first."""
    return {GSI1PK: org_agents_partition(org_id), GSI1SK: f"{created_at}#{agent_id}"}


def org_agents_partition(org_id: str) -> str:
    return f"ORG#{org_id}#AGENTS"


def job(org_id: str, job_id: str) -> dict[str, str]:
    return {PK: org_partition(org_id), SK: f"{JOB_PREFIX}{job_id}"}


JOB_PREFIX = "JOB#"


def job_queue_index(agent_id: str, job_id: str) -> dict[str, str]:
    """GSI1 projection of a queued job (sparse: removed when claimed): the agent's queue, oldest first."""
    return {GSI1PK: agent_queue_partition(agent_id), GSI1SK: job_id}


def agent_queue_partition(agent_id: str) -> str:
    return f"AGENT#{agent_id}#QUEUED"


def wrap(org_id: str, wrap_id: str) -> dict[str, str]:
    return {PK: org_partition(org_id), SK: f"WRAP#{wrap_id}"}


def discovered_partition(org_id: str) -> str:
    return f"DISCOVERED#{org_id}"


DISCOVERED_PREFIX = "DSC#"


def discovered_secret(org_id: str, ref: str, secret_id: str) -> dict[str, str]:
    """A discovered secret, sorted by its ref (a ref prefix is a key prefix), unique by its ID."""
    return {PK: discovered_partition(org_id), SK: f"{DISCOVERED_PREFIX}{ref}#{secret_id}"}


# --------------------------------------------------------------------------- platform (issue #18)

PLATFORM_PARTITION = "PLATFORM"
PLATFORM_SCOPE = "platform"  # the audit scope of platform admins' actions (AUDIT#platform)
ORGS_GSI_PK = "ORGS"  # GSI1 partition listing every org by slug (GSI1SK), for platform admins


def platform_stats() -> dict[str, str]:
    """The platform's counters: orgs and users (updated in their create transactions)."""
    return {PK: PLATFORM_PARTITION, SK: "STATS"}


def plan_configs() -> dict[str, str]:
    """Every plan's stored limits (what platform admins set), one item."""
    return {PK: PLATFORM_PARTITION, SK: "PLANS"}


SECRET_COUNTER_PREFIX = "COUNT#secrets#"  # noqa: S105 - a key prefix, not a password
DELIVERY_COUNTER_PREFIX = "COUNT#deliveries#"
SEALING_PREFIX = "SEALING#"


def secret_counter(shard: int) -> dict[str, str]:
    """One shard of the platform's count of live secrets (/metrics sums the shards)."""
    return {PK: PLATFORM_PARTITION, SK: f"{SECRET_COUNTER_PREFIX}{shard:02d}"}


def delivery_counter(day: str, shard: int) -> dict[str, str]:
    """One shard of the webhook deliveries created on `day` (YYYY-MM-DD), by status."""
    return {PK: PLATFORM_PARTITION, SK: f"{DELIVERY_COUNTER_PREFIX}{day}#{shard:02d}"}


def sealing_mark(scope: str) -> dict[str, str]:
    """An audit scope the sealer is behind on: since when (gone once it caught up)."""
    return {PK: PLATFORM_PARTITION, SK: f"{SEALING_PREFIX}{scope}"}


def counter_seed(name: str) -> dict[str, str]:
    """The backfill of an aggregate (`secrets`, `deliveries`) ran: its marker."""
    return {PK: PLATFORM_PARTITION, SK: f"SEEDED#{name}"}


def org_listing_gsi(slug: str) -> dict[str, str]:
    return {GSI1PK: ORGS_GSI_PK, GSI1SK: slug}


def rate_window(principal: str, window: int) -> dict[str, str]:
    """A principal's request counter for the fixed window starting at `window` (Unix seconds)."""
    return {PK: f"RATE#{principal}", SK: f"W#{window}"}


def request_metrics(hour: str) -> dict[str, str]:
    """Requests answered in one clock hour (`2026-12-03T12`), by status class: admin's summary."""
    return {PK: "REQMETRICS", SK: f"H#{hour}"}


def stripe_event(event_id: str) -> dict[str, str]:
    """A Stripe webhook event already applied (idempotency by event id)."""
    return {PK: f"STRIPEEVT#{event_id}", SK: "EVENT"}


def stripe_customer(customer_id: str) -> dict[str, str]:
    """Which org a Stripe customer pays for."""
    return {PK: f"STRIPECUS#{customer_id}", SK: "CUSTOMER"}


# --------------------------------------------------------------------------- rotation (ENV#<env> / ROTATION#<key>)

ROTATION_DUE = "ROTATION#DUE"  # GSI1 partition of every rotation policy, by when it is next due


def rotation(env_id: str, key: str) -> dict[str, str]:
    """A secret's rotation policy and the state of its rotation in progress."""
    return {PK: environment_partition(env_id), SK: f"ROTATION#{key}"}


def rotation_due_index(due_at: str, env_id: str, key: str) -> dict[str, str]:
    """GSI1 projection of a rotation policy: every policy, soonest due first (the worker's list)."""
    return {GSI1PK: ROTATION_DUE, GSI1SK: f"{due_at}#{env_id}#{key}"}


# --------------------------------------------------------------------------- integrations (#17)

INTEGRATION_PREFIX = "INTEGRATION#"


def integration(org_id: str, integration_id: str) -> dict[str, str]:
    """An integration (a destination an environment's values are pushed to), in its org's partition."""
    return {PK: org_partition(org_id), SK: f"{INTEGRATION_PREFIX}{integration_id}"}


def environment_integrations_partition(env_id: str) -> str:
    """GSI1: the integrations of one environment (what the sync's fan-in queries on a change)."""
    return f"ENV#{env_id}#INTEGRATIONS"


def integration_index(env_id: str, integration_id: str) -> dict[str, str]:
    return {GSI1PK: environment_integrations_partition(env_id), GSI1SK: f"{INTEGRATION_PREFIX}{integration_id}"}
