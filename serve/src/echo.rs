//! The built-in upstream when `--upstream` is not given: it answers every request with the request it received, as
//! JSON (like httpbin's `/anything`), so what the chain sent upstream is visible from `curl`.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Map, Value, json};

/// Binds the echo upstream on an ephemeral loopback port and serves it on a thread of its own; returns its address.
pub fn start() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    crate::side_server::spawn("echo-upstream", listener, echo)?;
    Ok(address)
}

async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let collected = body.collect().await?;
    let trailers = collected.trailers().map(fields);
    let body = collected.to_bytes();
    let mut answer = json!({
        "method": parts.method.as_str(),
        "url": parts.uri.to_string(),
        "protocol": format!("{:?}", parts.version),
        "headers": fields(&parts.headers),
        "body": String::from_utf8_lossy(&body),
    });
    if let Some(trailers) = trailers {
        answer["trailers"] = trailers;
    }
    let text = serde_json::to_vec_pretty(&answer).unwrap_or_default();
    let response = Response::builder()
        .header("content-type", "application/json")
        .header("content-length", text.len())
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_default();
    Ok(response)
}

/// Header fields as a JSON object; a repeated name lists its values.
fn fields(headers: &hyper::HeaderMap) -> Value {
    let mut object = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = match <[Value; 1]>::try_from(values) {
            Ok([one]) => one,
            Err(many) => Value::Array(many),
        };
        object.insert(name.as_str().to_owned(), value);
    }
    Value::Object(object)
}
