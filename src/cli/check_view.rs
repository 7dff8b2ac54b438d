//! `check-config`, as text for a person or `--json` for a script: whether
//! the file is valid, what is wrong and where (key, line), and the mapping
//! table in precedence order.
//!
//! The JSON shape is documented in docs/interface.md and only ever grows.
//! Like the text, it never holds a secret's value: the problems are
//! `ConfigError`'s, which never quote one.

use std::path::Path;

use serde::Serialize;

use crate::config::{Config, ConfigError, Mapping};
use crate::domain::SnykRole;

/// `check-config --json`.
#[derive(Debug, Serialize)]
pub struct CheckJson {
    /// The file that was checked.
    pub file: String,
    pub valid: bool,
    /// What is wrong, each with the key (or `null` when the file could not
    /// be read or parsed; the message then gives the line).
    pub problems: Vec<Problem>,
    /// `snyk.dry_run` (false when the file is not valid).
    pub dry_run: bool,
    /// The mappings in precedence order (empty when the file is not valid).
    pub mappings: Vec<MappingJson>,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub key: Option<String>,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct MappingJson {
    /// 1 for the first mapping in the file: where several give one org, the
    /// lowest wins.
    pub precedence: usize,
    pub group: String,
    pub org_id: String,
    /// A built-in role (`ADMIN`, `COLLABORATOR`, `RESTRICTED_COLLABORATOR`),
    /// or `null` with `role_public_id` set.
    pub role: Option<String>,
    pub role_public_id: Option<String>,
}

fn mapping(i: usize, m: &Mapping) -> MappingJson {
    let (role, role_public_id) = match &m.role {
        SnykRole::Custom(id) => (None, Some(id.clone())),
        builtin => (Some(builtin.to_string()), None),
    };
    MappingJson {
        precedence: i + 1,
        group: m.group.as_str().to_owned(),
        org_id: m.org_id.as_str().to_owned(),
        role,
        role_public_id,
    }
}

/// The JSON document of `check-config --json`.
pub fn json(file: &Path, result: Result<&Config, &ConfigError>) -> CheckJson {
    let file = file.display().to_string();
    match result {
        Ok(c) => CheckJson {
            file,
            valid: true,
            problems: Vec::new(),
            dry_run: c.snyk.dry_run,
            mappings: c
                .mappings
                .iter()
                .enumerate()
                .map(|(i, m)| mapping(i, m))
                .collect(),
        },
        Err(e) => CheckJson {
            file,
            valid: false,
            problems: match e {
                ConfigError::Invalid { issues, .. } => issues
                    .iter()
                    .map(|i| Problem {
                        key: Some(i.key.clone()),
                        message: i.message.clone(),
                    })
                    .collect(),
                ConfigError::Syntax { message, .. } => vec![Problem {
                    key: None,
                    message: message.clone(),
                }],
                ConfigError::Read { source, .. } => vec![Problem {
                    key: None,
                    message: format!("cannot read the file: {source}"),
                }],
            },
            dry_run: false,
            mappings: Vec::new(),
        },
    }
}
