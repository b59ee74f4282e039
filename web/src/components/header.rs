//! Title bar: language switch and status line.

use leptos::prelude::*;

use crate::state::{AppState, Lang};

/// The title bar.
#[component]
pub fn Header() -> impl IntoView {
    let state = expect_context::<AppState>();
    // The document says which language it is in (screen readers, spell checkers, fonts).
    Effect::new(move |_| {
        let lang = match state.lang.get() {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        };
        if let Some(root) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        {
            let _ = root.set_attribute("lang", lang);
        }
    });
    let toggle = move |_| {
        state
            .lang
            .update(|l| *l = if *l == Lang::En { Lang::Zh } else { Lang::En });
        state.persist();
    };
    view! {
        <header class="bar">
            <h1>"otalab " <small>{state.tr("title")}</small></h1>
            <span class="status" data-testid="status-line">{move || state.notice_line.get()}</span>
            <button data-testid="lang" on:click=toggle>{state.tr("language")}</button>
        </header>
    }
}
