//! Request extractors: the authenticated user, the client IP, the refresh cookie.
//!
//! Every protected route takes [`AuthUser`], so the access token is verified
//! (signature, expiry, session not revoked, user still exists) in one place
//! and a route cannot forget it.
//!
//! This is plumbing below the domains: the session and user checks are asked
//! of the store through the [`Sessions`] trait, which the composition in
//! [`crate::app`](mod@crate::app) answers from the `auth` and `users` stores.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::credentials::Role;
use crate::error::ApiError;
use crate::jwt::{self, Claims};
use crate::state::Shared;

/// Name of the refresh-token cookie.
pub const REFRESH_COOKIE: &str = "stageos_refresh";

/// The caller's IP (from the socket; `unknown` when served without one, as
/// in `tower::ServiceExt::oneshot` tests).
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_else(|| "unknown".to_owned()),
        ))
    }
}

/// The bearer token of `Authorization`, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The value of the `stageos_refresh` cookie, if any.
pub fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == REFRESH_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// What the token checks need of the store: every store behind a router
/// answers these, so every route can take [`AuthUser`].
pub trait Sessions: Send + Sync + 'static {
    /// Whether the session (`sid`) of the token is revoked.
    fn session_revoked(&self, sid: &Uuid) -> bool;
    /// Email and current role of the live user `id`.
    fn live_user(&self, id: &Uuid) -> Option<(String, Role)>;
}

/// Verifies an access token against the key and the session store.
pub fn verify_access_token<S: Sessions>(
    state: &Shared<S>,
    token: &str,
) -> Result<Claims, ApiError> {
    let claims = jwt::decode(state.jwt_key(), token, crate::unix_now())
        .map_err(|_| ApiError::unauthorized())?;
    let store = state.store();
    if store.session_revoked(&claims.sid) || store.live_user(&claims.sub).is_none() {
        return Err(ApiError::unauthorized());
    }
    Ok(claims)
}

/// The user of a valid access token.
#[derive(Clone, Debug)]
pub struct AuthUser {
    /// User id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Current role.
    pub role: Role,
    /// The token's claims.
    pub claims: Claims,
    /// A `role-bypass` fault lets this user through this route's role check.
    pub role_check_bypassed: bool,
}

impl<S: Sessions> FromRequestParts<Shared<S>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared<S>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let claims = verify_access_token(state, token)?;
        let store = state.store();
        let (email, role) = store
            .live_user(&claims.sub)
            .ok_or_else(ApiError::unauthorized)?;
        let role_check_bypassed = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .is_some_and(|route| {
                state
                    .faults()
                    .role_bypassed(role.as_str(), parts.method.as_str(), route.as_str())
            });
        Ok(AuthUser {
            id: claims.sub,
            email,
            role,
            claims,
            role_check_bypassed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parses_bearer_and_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        headers.append(COOKIE, HeaderValue::from_static("a=1; stageos_refresh=tok"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        assert_eq!(refresh_cookie(&headers).as_deref(), Some("tok"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        headers.insert(COOKIE, HeaderValue::from_static("stageos_refresh="));
        assert_eq!(bearer_token(&headers), None);
        assert_eq!(refresh_cookie(&headers), None);
    }
}
