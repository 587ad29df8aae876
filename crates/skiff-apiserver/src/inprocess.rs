//! The in-process transport for [`skiff_client::Client`]: components running inside the server process call the
//! same handlers external clients reach, without TCP or TLS, and see exactly the same API.

use crate::http;
use crate::request::{parse_resource_path, Query};
use crate::{handlers, ApiServer};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use http_body_util::BodyExt;
use skiff_client::{ClientError, Transport};
use std::sync::Arc;

pub struct InProcess {
    pub server: Arc<ApiServer>,
}

impl InProcess {
    async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> ::http::Response<http::Body> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let Some(rp) = parse_resource_path(path) else {
            return http::error(&crate::errors::ApiError::NoRoute);
        };
        let Ok(method) = ::http::Method::from_bytes(method.as_bytes()) else {
            return http::error(&crate::errors::ApiError::MethodNotAllowed);
        };
        let mut headers = ::http::HeaderMap::new();
        if let Some(ct) = content_type.and_then(|c| ::http::HeaderValue::from_str(c).ok()) {
            headers.insert(::http::header::CONTENT_TYPE, ct);
        }
        match handlers::serve(self.server.clone(), &method, rp, Query::parse(query), headers, body).await {
            Ok(r) => r,
            Err(e) => http::error(&e),
        }
    }
}

#[async_trait]
impl Transport for InProcess {
    async fn request(
        &self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), ClientError> {
        let resp = self.call(method, path_and_query, content_type, body).await;
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        Ok((code, bytes))
    }

    async fn stream(&self, path_and_query: &str) -> Result<(u16, BoxStream<'static, Bytes>), ClientError> {
        let resp = self.call("GET", path_and_query, None, Bytes::new()).await;
        let code = resp.status().as_u16();
        let stream = resp.into_body().into_data_stream().filter_map(|r| futures::future::ready(r.ok())).boxed();
        Ok((code, stream))
    }
}
