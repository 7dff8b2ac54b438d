//! Discovery (RFC 7644 section 4): /ServiceProviderConfig, /ResourceTypes and
//! /Schemas, rendered from the same schema tables the server runs on, and the
//! limits it enforces.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::AppState;
use super::error::{SCIM_JSON, scim_error_response};
use super::scim::base_url;
use crate::scim::error::ScimError;
use crate::scim::schema::{ALL_KINDS, LIST_RESPONSE, SPC_SCHEMA, all_schemas};

fn json_response(v: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(SCIM_JSON)
        .body(v.to_string())
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

pub fn service_provider_config(base: &str, state: &AppState) -> Value {
    let mut schemes = vec![json!({
        "type": "oauthbearertoken",
        "name": "OAuth Bearer Token",
        "description": "A static bearer token from scim.tokens, sent as 'Authorization: Bearer TOKEN'.",
        "specUri": "https://www.rfc-editor.org/info/rfc6750",
        "primary": true,
    })];
    if state.limits.jwt.is_some() {
        schemes.push(json!({
            "type": "oauthbearertoken",
            "name": "JWT Bearer Token",
            "description": "A signed JWT whose issuer and audience match scim.jwt.",
            "specUri": "https://www.rfc-editor.org/info/rfc7519",
            "primary": false,
        }));
    }
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/snyk-scim-bridge/snyk-scim-bridge/blob/main/docs/ARCHITECTURE.md",
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": state.limits.bulk_max_operations,
            "maxPayloadSize": state.limits.max_body_bytes,
        },
        "filter": {"supported": true, "maxResults": state.limits.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": schemes,
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

pub async fn get_spc(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    json_response(&service_provider_config(&base_url(&req), &state))
}

pub async fn list_resource_types(req: HttpRequest) -> HttpResponse {
    let base = base_url(&req);
    json_response(&list(
        ALL_KINDS
            .iter()
            .map(|k| k.resource_type_json(&base))
            .collect(),
    ))
}

pub async fn get_resource_type(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let base = base_url(&req);
    match ALL_KINDS
        .iter()
        .find(|k| k.name().eq_ignore_ascii_case(&name))
    {
        Some(k) => json_response(&k.resource_type_json(&base)),
        None => scim_error_response(&ScimError::not_found(format!(
            "resource type {name:?} not found"
        ))),
    }
}

pub async fn list_schemas(req: HttpRequest) -> HttpResponse {
    let base = base_url(&req);
    json_response(&list(
        all_schemas().iter().map(|s| s.to_json(&base)).collect(),
    ))
}

pub async fn get_schema(req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let base = base_url(&req);
    match all_schemas()
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
    {
        Some(s) => json_response(&s.to_json(&base)),
        None => scim_error_response(&ScimError::not_found(format!("schema {id:?} not found"))),
    }
}
