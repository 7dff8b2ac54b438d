-- SCIM resources (Users and Groups) as canonical JSON documents, with the
-- columns that filters are answered from. same schema as migrations/sqlite.
CREATE TABLE scim_resources (
    seq            BIGSERIAL PRIMARY KEY,
    kind           TEXT    NOT NULL,             -- 'User' | 'Group'
    id             TEXT    NOT NULL UNIQUE,
    name_lc        TEXT    NOT NULL,             -- userName / displayName, lower-cased
    display        TEXT,                         -- displayName (or userName), as written
    display_lc     TEXT,
    external_id    TEXT,
    version        BIGINT  NOT NULL,
    created        TEXT    NOT NULL,
    last_modified  TEXT    NOT NULL,
    doc            TEXT    NOT NULL,
    UNIQUE (kind, name_lc)
);
CREATE INDEX scim_resources_external_id ON scim_resources (kind, external_id);
CREATE INDEX scim_resources_display_lc ON scim_resources (kind, display_lc);

CREATE TABLE scim_user_emails (
    user_id   TEXT NOT NULL,
    value_lc  TEXT NOT NULL,
    PRIMARY KEY (user_id, value_lc)
);
CREATE INDEX scim_user_emails_value ON scim_user_emails (value_lc);

CREATE TABLE scim_group_members (
    group_id     TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_kind  TEXT NOT NULL,                  -- 'User' | 'Group'
    doc          TEXT NOT NULL,                  -- the member object as the client sent it
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_group_members_member ON scim_group_members (member_id);
