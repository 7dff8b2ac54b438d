//! SCIM routes under `/scim/v2`: authentication, then Users, Groups, search,
//! Bulk and discovery. Extract, call the use case, render with ETag and
//! Location; errors become RFC 7644 bodies.

use std::collections::HashMap;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Scope, web};
use serde_json::{Map, Value, json};

use super::body::read_json;
use super::discovery;
use super::error::{HttpScimError, SCIM_JSON, scim_error_response};
use super::{AppState, RequestId};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::scim::error::ScimError;
use crate::scim::query::ListQuery;
use crate::scim::resource::Projection;
use crate::scim::schema::{LIST_RESPONSE, ResourceKind};
use crate::service::{IfMatch, ListPage, Rendered, ScimService, bulk, project};

type HandlerResult = Result<HttpResponse, HttpScimError>;

/// The longest request URI (path and query) a SCIM route accepts.
pub const MAX_URI_BYTES: usize = 16 * 1024;

pub fn scope() -> Scope<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/scim/v2")
        .wrap(actix_web::middleware::from_fn(authenticate))
        .service(readable("/ServiceProviderConfig", discovery::get_spc))
        .service(readable("/ResourceTypes", discovery::list_resource_types))
        .service(readable(
            "/ResourceTypes/{name}",
            discovery::get_resource_type,
        ))
        .service(readable("/Schemas", discovery::list_schemas))
        .service(readable("/Schemas/{id}", discovery::get_schema))
        .service(
            web::resource("/Bulk")
                .route(web::post().to(bulk_handler))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/.search")
                .route(web::post().to(root_search))
                .default_service(not_allowed("POST")),
        )
        // A query on the server root (RFC 7644 3.4.2.1): Users and Groups together.
        .service(
            web::resource(["", "/"])
                .route(web::get().to(root_list))
                .route(web::head().to(root_list))
                .default_service(not_allowed("GET, HEAD")),
        )
        .route("/Me", web::route().to(me))
        .configure(|cfg| resource_routes(cfg, ResourceKind::User))
        .configure(|cfg| resource_routes(cfg, ResourceKind::Group))
        .default_service(web::route().to(not_found))
}

/// A path that answers GET (and HEAD), and 405 with `Allow` to the others.
fn readable<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(not_allowed("GET, HEAD"))
}

/// 405 with a SCIM error body and the `Allow` header (RFC 9110 15.5.6).
fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::route().to(move |req: HttpRequest| async move {
        let mut r = method_not_allowed(req).await;
        r.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        r
    })
}

fn resource_routes(cfg: &mut web::ServiceConfig, kind: ResourceKind) {
    let collection = kind.endpoint();
    cfg.service(
        web::resource(collection)
            .app_data(web::Data::new(kind))
            .route(web::get().to(list))
            .route(web::head().to(list))
            .route(web::post().to(create))
            .default_service(not_allowed("GET, HEAD, POST")),
    )
    .service(
        web::resource(format!("{collection}/.search"))
            .app_data(web::Data::new(kind))
            .route(web::post().to(search))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource(format!("{collection}/{{id}}"))
            .app_data(web::Data::new(kind))
            .route(web::get().to(get))
            .route(web::head().to(get))
            .route(web::put().to(replace))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete))
            .default_service(not_allowed("GET, HEAD, PUT, PATCH, DELETE")),
    );
}

/// Every SCIM route needs a valid bearer token.
async fn authenticate(
    req: ServiceRequest,
    next: actix_web::middleware::Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Before anything else, token or not: no SCIM request needs a longer URI
    // (a filter is at most 8 KiB). Longer than actix's parser takes (64 KiB)
    // never reaches here: actix answers those 400 itself.
    let uri_len = req.uri().path().len() + req.uri().query().map_or(0, |q| q.len() + 1);
    if uri_len > MAX_URI_BYTES {
        let resp = scim_error_response(&ScimError::new(
            414,
            None,
            format!(
                "the request URI is {uri_len} bytes long; at most {MAX_URI_BYTES} are accepted"
            ),
        ));
        return Ok(req.into_response(resp));
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(state) = state else {
        let resp = scim_error_response(&ScimError::internal("application state missing"));
        return Ok(req.into_response(resp));
    };
    match state.auth.authenticate(header.as_deref()).await {
        Ok(principal) => {
            tracing::debug!(
                principal = %principal.for_log(state.ops.log_pii),
                "authenticated"
            );
            {
                use actix_web::HttpMessage;
                req.extensions_mut().insert(principal);
            }
            next.call(req).await
        }
        Err(e) => {
            tracing::info!(reason = %e, "SCIM request refused");
            Ok(req.into_response(scim_error_response(&ScimError::unauthorized())))
        }
    }
}

/// The use cases, recording changes as made by this request's principal.
fn service(req: &HttpRequest, state: &AppState) -> ScimService {
    use actix_web::HttpMessage;
    let ext = req.extensions();
    let principal = ext
        .get::<Principal>()
        .map_or_else(|| "unknown".to_owned(), ToString::to_string);
    let request_id = ext.get::<RequestId>().map(|r| r.0.clone());
    state.service.acting_as(Actor {
        principal,
        request_id,
    })
}

/// The SCIM base URL as the client sees it (scheme and host of the request).
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/scim/v2", info.scheme(), info.host())
}

fn scim_json(status: actix_web::http::StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(SCIM_JSON)
        .body(body.to_string())
}

fn resource_response(
    status: actix_web::http::StatusCode,
    r: &Rendered,
    body: Map<String, Value>,
) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.content_type(SCIM_JSON)
        .insert_header((header::ETAG, r.etag()));
    if status == actix_web::http::StatusCode::CREATED
        && let Some(loc) = r
            .body
            .get("meta")
            .and_then(|m| m.get("location"))
            .and_then(Value::as_str)
    {
        b.insert_header((header::LOCATION, loc.to_owned()));
    }
    b.body(Value::Object(body).to_string())
}

fn query_params(req: &HttpRequest) -> Result<HashMap<String, String>, ScimError> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ScimError::invalid_syntax(format!("the query string is malformed: {e}")))
}

fn projection(req: &HttpRequest) -> Result<Projection, ScimError> {
    let params = query_params(req)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    Projection::parse(get("attributes"), get("excludedAttributes"))
}

fn if_match(req: &HttpRequest) -> IfMatch {
    IfMatch::parse(
        req.headers()
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok()),
    )
}

fn list_response(page: ListPage) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": page.total,
        "startIndex": page.start_index,
        "itemsPerPage": page.resources.len(),
        "Resources": page.resources,
    })
}

async fn list(
    req: HttpRequest,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
) -> HandlerResult {
    let q = ListQuery::from_params(&query_params(&req)?, state.limits.max_results)?;
    let page = state.service.list(**kind, &q, &base_url(&req)).await?;
    Ok(scim_json(
        actix_web::http::StatusCode::OK,
        &list_response(page),
    ))
}

async fn search(
    req: HttpRequest,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HandlerResult {
    let body = read_json(&req, payload, state.limits.max_body_bytes).await?;
    let q = ListQuery::from_search_body(&body, state.limits.max_results)?;
    let page = state.service.list(**kind, &q, &base_url(&req)).await?;
    Ok(scim_json(
        actix_web::http::StatusCode::OK,
        &list_response(page),
    ))
}

/// `GET /scim/v2/` with list parameters: Users and Groups together, like
/// `POST /.search` at the root.
async fn root_list(req: HttpRequest, state: web::Data<AppState>) -> HandlerResult {
    let q = ListQuery::from_params(&query_params(&req)?, state.limits.max_results)?;
    let page = state.service.search_all(&q, &base_url(&req)).await?;
    Ok(scim_json(
        actix_web::http::StatusCode::OK,
        &list_response(page),
    ))
}

/// `POST /.search` at the root: Users and Groups together.
async fn root_search(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HandlerResult {
    let body = read_json(&req, payload, state.limits.max_body_bytes).await?;
    let q = ListQuery::from_search_body(&body, state.limits.max_results)?;
    let page = state.service.search_all(&q, &base_url(&req)).await?;
    Ok(scim_json(
        actix_web::http::StatusCode::OK,
        &list_response(page),
    ))
}

async fn create(
    req: HttpRequest,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HandlerResult {
    let body = read_json(&req, payload, state.limits.max_body_bytes).await?;
    let proj = projection(&req)?;
    let r = service(&req, &state)
        .create(**kind, &body, &base_url(&req))
        .await?;
    let out = project(**kind, &r, &proj);
    Ok(resource_response(
        actix_web::http::StatusCode::CREATED,
        &r,
        out,
    ))
}

async fn get(
    req: HttpRequest,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HandlerResult {
    let proj = projection(&req)?;
    let r = state.service.get(**kind, &id, &base_url(&req)).await?;
    let none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if let Some(tags) = none_match {
        let etag = r.etag();
        if tags
            .split(',')
            .map(str::trim)
            .any(|t| t == etag || t == "*")
        {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .finish());
        }
    }
    let out = project(**kind, &r, &proj);
    Ok(resource_response(actix_web::http::StatusCode::OK, &r, out))
}

async fn replace(
    req: HttpRequest,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> HandlerResult {
    let body = read_json(&req, payload, state.limits.max_body_bytes).await?;
    let proj = projection(&req)?;
    let r = service(&req, &state)
        .replace(**kind, &id, &body, &if_match(&req), &base_url(&req))
        .await?;
    let out = project(**kind, &r, &proj);
    Ok(resource_response(actix_web::http::StatusCode::OK, &r, out))
}

/// A PATCH is answered 200 with the resource (projected), or 204 No Content
/// with the ETag (RFC 7644 3.5.2 allows either when no `attributes` are
/// asked for): for a user when the client sends `Prefer: return=minimal`
/// (RFC 7240); for a group unless the client asks for the resource
/// (`attributes`, `excludedAttributes` or `Prefer: return=representation`).
/// Entra expects 204 for group PATCHes and Okta takes 200 or 204, and a
/// group's answer would otherwise list every member: a member added to a
/// group of 10,000 would cost a 10,000-member answer. A group's members
/// are read for the answer only when it shows them.
async fn patch(
    req: HttpRequest,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> HandlerResult {
    let body = read_json(&req, payload, state.limits.max_body_bytes).await?;
    let proj = projection(&req)?;
    let minimal = proj.attributes.is_empty()
        && match prefers_return(&req) {
            Some(Return::Minimal) => true,
            Some(Return::Representation) => false,
            None => **kind == ResourceKind::Group && proj.excluded.is_empty(),
        };
    let with_members = !minimal && !proj.excludes(ResourceKind::Group, "members");
    let r = service(&req, &state)
        .patch(
            **kind,
            &id,
            &body,
            &if_match(&req),
            &base_url(&req),
            with_members,
        )
        .await?;
    if minimal {
        let mut answer = HttpResponse::NoContent();
        answer.insert_header((header::ETAG, r.etag()));
        if prefers_return(&req) == Some(Return::Minimal) {
            answer.insert_header(("Preference-Applied", "return=minimal"));
        }
        return Ok(answer.finish());
    }
    let out = project(**kind, &r, &proj);
    Ok(resource_response(actix_web::http::StatusCode::OK, &r, out))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Return {
    Minimal,
    Representation,
}

/// `Prefer: return=minimal` or `return=representation` (RFC 7240 section
/// 4.2), in any of the request's `Prefer` headers (the first one wins).
fn prefers_return(req: &HttpRequest) -> Option<Return> {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.split(';').next())
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("return") {
                return None;
            }
            let v = v.trim().trim_matches('"');
            if v.eq_ignore_ascii_case("minimal") {
                Some(Return::Minimal)
            } else if v.eq_ignore_ascii_case("representation") {
                Some(Return::Representation)
            } else {
                None
            }
        })
}

async fn delete(
    req: HttpRequest,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HandlerResult {
    service(&req, &state)
        .delete(**kind, &id, &if_match(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn bulk_handler(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HandlerResult {
    let body = read_json(&req, payload, state.limits.max_body_bytes).await?;
    let out = bulk::run(
        &service(&req, &state),
        &body,
        state.limits.bulk_max_operations,
        &base_url(&req),
    )
    .await?;
    Ok(scim_json(actix_web::http::StatusCode::OK, &out))
}

async fn me() -> HttpResponse {
    scim_error_response(&ScimError::new(
        501,
        None,
        "/Me is not supported: this server is provisioned by identity providers, not by end users",
    ))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    scim_error_response(&ScimError::not_found(format!(
        "no SCIM endpoint at {}",
        req.path()
    )))
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    scim_error_response(&ScimError::new(
        405,
        None,
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}
