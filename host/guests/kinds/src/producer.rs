//! Scenario `producer`: an HTTP filter that counts requests in shared data (`requests`) and sends each path to the
//! service's queue (`events`), as filters feed a Wasm service on the same Envoy; it reads back what the service
//! writes (`ticks`) into the request header `x-service-ticks`.

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use crate::note;

pub(crate) struct Producer {
    id: u32,
}

impl Producer {
    pub(crate) fn new(id: u32) -> Producer {
        Producer { id }
    }
}

impl Context for Producer {}

impl HttpContext for Producer {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let (count, cas) = self.get_shared_data("requests");
        let next = count
            .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        let _ = self.set_shared_data("requests", Some(next.to_string().as_bytes()), cas);
        let path = self.get_http_request_header(":path").unwrap_or_default();
        if let (Some(ticks), _) = self.get_shared_data("ticks") {
            self.set_http_request_header("x-service-ticks", Some(&String::from_utf8_lossy(&ticks)));
        }
        match self.resolve_shared_queue("", "events") {
            Some(queue) => {
                let _ = self.enqueue_shared_queue(queue, Some(path.as_bytes()));
            }
            None => note(format!("stream {}: no events queue", self.id)),
        }
        Action::Continue
    }
}
