//! Firmware downloads with `fetch`: streamed chunk by chunk, from an offset with `Range`,
//! abortable, optionally throttled.

use std::cell::Cell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{AbortController, ReadableStreamDefaultReader, RequestInit, Response};

/// What a download reports, in order: any number of `Data`, then `End` or `Failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadEvent {
    /// The next bytes of the body.
    Data(Vec<u8>),
    /// The body ended (it may be shorter than expected if the server closed early).
    End,
    /// The download failed: an HTTP status other than 200/206 (`status` set), or a network
    /// error mid-way (`status` none).
    Failed {
        /// HTTP status, for HTTP errors.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
}

/// A running download; dropping it aborts the request and silences its events.
#[derive(Debug)]
pub struct Download {
    alive: Rc<Cell<bool>>,
    controller: Option<AbortController>,
}

impl Drop for Download {
    fn drop(&mut self) {
        self.alive.set(false);
        if let Some(controller) = &self.controller {
            controller.abort();
        }
    }
}

fn message(error: &JsValue) -> String {
    Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "network error".into())
}

/// Downloads `url` from byte `offset` (a `Range: bytes=offset-` request when > 0; a server
/// that ignores Range gets its first `offset` bytes skipped). `bytes_per_sec > 0` throttles
/// reading. Events go to `on_event` until the returned [`Download`] is dropped.
pub fn download(
    url: &str,
    offset: u64,
    bytes_per_sec: u32,
    mut on_event: impl FnMut(DownloadEvent) + 'static,
) -> Download {
    let alive = Rc::new(Cell::new(true));
    let controller = AbortController::new().ok();
    let signal = controller.as_ref().map(AbortController::signal);
    let url = url.to_owned();
    let running = alive.clone();
    spawn_local(async move {
        let mut emit = |event| {
            if running.get() {
                on_event(event);
            }
        };
        let failed = |status, message: String| DownloadEvent::Failed { status, message };
        let init = RequestInit::new();
        if let Some(signal) = &signal {
            init.set_signal(Some(signal));
        }
        if offset > 0
            && let Ok(headers) = web_sys::Headers::new()
        {
            let _ = headers.set("Range", &format!("bytes={offset}-"));
            init.set_headers(&headers);
        }
        let Some(window) = web_sys::window() else {
            emit(failed(None, "no window to fetch from".into()));
            return;
        };
        let response = match JsFuture::from(window.fetch_with_str_and_init(&url, &init)).await {
            Ok(response) => response,
            Err(error) => return emit(failed(None, message(&error))),
        };
        let Ok(response) = response.dyn_into::<Response>() else {
            return emit(failed(None, "fetch did not return a Response".into()));
        };
        let status = response.status();
        if status != 200 && status != 206 {
            return emit(failed(Some(status), response.status_text()));
        }
        // A 200 to a Range request carries the whole file: skip what we already have.
        let mut skip = if offset > 0 && status == 200 {
            offset
        } else {
            0
        };
        let Some(body) = response.body() else {
            return emit(DownloadEvent::End);
        };
        let Ok(reader) = body.get_reader().dyn_into::<ReadableStreamDefaultReader>() else {
            return emit(failed(None, "cannot read the response body".into()));
        };
        loop {
            let chunk = match JsFuture::from(reader.read()).await {
                Ok(chunk) => chunk,
                Err(error) => return emit(failed(None, message(&error))),
            };
            if !running.get() {
                return;
            }
            let done = Reflect::get(&chunk, &"done".into())
                .map(|d| d.is_truthy())
                .unwrap_or(true);
            if done {
                return emit(DownloadEvent::End);
            }
            let Ok(value) = Reflect::get(&chunk, &"value".into()) else {
                continue;
            };
            let Ok(bytes) = value.dyn_into::<Uint8Array>() else {
                continue;
            };
            let mut data = bytes.to_vec();
            if skip > 0 {
                let drop = (skip as usize).min(data.len());
                data.drain(..drop);
                skip -= drop as u64;
            }
            let len = data.len();
            if len > 0 {
                emit(DownloadEvent::Data(data));
            }
            if bytes_per_sec > 0 && len > 0 {
                let ms = (len as u64 * 1000 / u64::from(bytes_per_sec)).min(60_000) as u32;
                TimeoutFuture::new(ms).await;
            }
        }
    });
    Download { alive, controller }
}
