//! UI components, one per file. They read and write state; they hold no protocol logic.

pub mod batches;
pub mod chart;
pub mod conformance;
pub mod connection;
pub mod fleet_table;
pub mod fleet_tools;
pub mod header;
pub mod injection;
pub mod log;
pub mod notice;
pub mod platform;
pub mod report;
pub mod scenario;
pub mod summary;

/// A message under the form it is about: `(is an error, text)`, in red when it is an error,
/// hidden when empty.
#[leptos::component]
pub fn FormMessage(
    /// The message.
    message: leptos::prelude::RwSignal<(bool, String)>,
    /// Its `data-testid`.
    testid: &'static str,
) -> impl leptos::prelude::IntoView {
    use leptos::prelude::*;
    view! {
        <p class=move || if message.get().0 { "field-error" } else { "msg" } role="status" data-testid=testid>
            {move || message.get().1}</p>
    }
}

/// A whole number typed into a number field, checked against its range: the message says
/// what is allowed (in the page's language) and nothing is applied until it is valid.
pub fn number_in(
    state: &crate::state::AppState,
    text: &str,
    min: u64,
    max: u64,
) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{} {min}–{max} ({} “{}”)",
            state.t("number_range"),
            state.t("got"),
            text.trim()
        )),
    }
}

/// Offers `text` as a file download named `name`.
pub fn save_file(name: &str, mime: &str, text: &str) {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let anchor = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    if let Some(a) = anchor {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
