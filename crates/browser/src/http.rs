//! Small HTTP helpers: JSON from a URL, a whole small file, a file upload.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, Response};

async fn fetch(url: &str, init: &RequestInit) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str_and_init(url, init))
        .await
        .map_err(|e| {
            format!(
                "{url}: {}",
                e.as_string().unwrap_or_else(|| "network error".into())
            )
        })?;
    let response: Response = response
        .dyn_into()
        .map_err(|_| "not a Response".to_string())?;
    if !response.ok() {
        return Err(format!(
            "{url}: HTTP {} {}",
            response.status(),
            response.status_text()
        ));
    }
    Ok(response)
}

async fn text_of(response: Response) -> Result<String, String> {
    let text = response.text().map_err(|_| "no body".to_string())?;
    JsFuture::from(text)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| "unreadable body".to_string())
}

/// GETs `url` and returns the body as text (errors for non-2xx).
pub async fn get_text(url: &str) -> Result<String, String> {
    let init = RequestInit::new();
    text_of(fetch(url, &init).await?).await
}

/// PUTs `body` (a File, Blob or bytes) to `url`; returns the response body as text.
pub async fn put(url: &str, body: &JsValue) -> Result<String, String> {
    let init = RequestInit::new();
    init.set_method("PUT");
    init.set_body(body);
    text_of(fetch(url, &init).await?).await
}

/// GETs `url` and returns the body as bytes, refusing a body over `limit` bytes (by its
/// Content-Length when the server sends one, and by what arrived otherwise).
pub async fn get_bytes(url: &str, limit: usize) -> Result<Vec<u8>, String> {
    let init = RequestInit::new();
    let response = fetch(url, &init).await?;
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(format!("{url}: larger than {limit} bytes"));
    }
    let buffer = response.array_buffer().map_err(|_| "no body".to_string())?;
    let buffer = JsFuture::from(buffer)
        .await
        .map_err(|_| format!("{url}: the body could not be read"))?;
    let bytes = js_sys::Uint8Array::new(&buffer);
    if bytes.length() as usize > limit {
        return Err(format!("{url}: larger than {limit} bytes"));
    }
    Ok(bytes.to_vec())
}
