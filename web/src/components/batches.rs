//! Upgrade batches, like the Alibaba Cloud OTA console: every push is a batch with its
//! firmware, notice kind, signing, targets and time; its own status counts; failures grouped
//! by reason; cancel; retry of its failed devices as a new batch. Newest first.

use leptos::prelude::*;
use otalab_sim::BatchStatus;

use crate::sim::cloud::use_cloud;
use crate::state::{AppState, clock_time};

/// One batch (re-read from the state whenever the cloud refreshes the batches).
#[component]
fn BatchCard(id: u32) -> impl IntoView {
    let state = expect_context::<AppState>();
    let cloud = use_cloud();
    let message = RwSignal::new(String::new());
    let batch = Memo::new(move |_| {
        state
            .batches
            .with(|bs| bs.iter().find(|b| b.id == id).cloned())
    });
    let get = move |f: fn(&BatchStatus) -> String| {
        move || batch.with(|b| b.as_ref().map(f).unwrap_or_default())
    };
    let count = move |f: fn(&BatchStatus) -> usize| move || batch.with(|b| b.as_ref().map_or(0, f));
    let done = move || batch.with(|b| b.as_ref().is_none_or(BatchStatus::is_done));
    let cancelled = move || batch.with(|b| b.as_ref().is_some_and(|b| b.cancelled_at_ms.is_some()));
    let cancel = move |_| match cloud.cancel(id) {
        Ok(n) => message.set(format!("{} {n}", state.t("cancelled_n"))),
        Err(e) => message.set(e),
    };
    let retry = move |_| match cloud.retry_failed(id) {
        Ok((new, n)) => message.set(format!(
            "→ {} {new} · {n} {}",
            state.t("batch"),
            state.t("devices_n")
        )),
        Err(e) => message.set(e),
    };
    let kind = move || batch.with(|b| b.as_ref().map_or("", |b| b.kind.key()));
    view! {
        <li class="batch" data-testid=format!("batch-{id}") data-done=move || done().to_string()>
            <div class="batch-head">
                <b>{state.tr("batch")}" "{id}</b>
                <span>{get(|b| format!("{} → {}", b.firmware, b.version))}</span>
                <span class="tag">{move || state.t(kind())}</span>
                <span class="tag">{get(|b| b.sign_method.clone())}</span>
                <time datetime=get(|b| b.at.clone())>{get(|b| clock_time(b.at_ms))}</time>
                <span class="tag" data-testid="batch-retry-of" hidden=move || batch.with(|b| b.as_ref().is_none_or(|b| b.retry_of.is_none()))>
                    {state.tr("retry_of")}" "{get(|b| b.retry_of.map(|r| r.to_string()).unwrap_or_default())}</span>
                <span class="tag verdict-cancelled" hidden=move || !cancelled()>{state.tr("cancelled")}</span>
            </div>
            <div class="batch-counts" data-testid="batch-counts">
                <span>{count(|b| b.counts.total - b.counts.pending - b.counts.upgrading)}" / "{count(|b| b.counts.total)}" "{state.tr("ended")}</span>
                <span class="verdict-pending">{state.tr("pending")}" "<b>{count(|b| b.counts.pending)}</b></span>
                <span class="verdict-upgrading">{state.tr("upgrading")}" "<b>{count(|b| b.counts.upgrading)}</b></span>
                <span class="verdict-succeeded">{state.tr("succeeded")}" "<b data-testid="batch-succeeded">{count(|b| b.counts.succeeded)}</b></span>
                <span class="verdict-failed">{state.tr("failed")}" "<b data-testid="batch-failed">{count(|b| b.counts.failed)}</b></span>
                <span class="verdict-cancelled">{state.tr("cancelled")}" "<b data-testid="batch-cancelled">{count(|b| b.counts.cancelled)}</b></span>
            </div>
            <ul class="failures" data-testid="batch-failures">
                {move || batch.with(|b| b.as_ref().map(|b| b.failures.iter().map(|g| {
                    let devices = g.devices.join(", ");
                    view! { <li class="err">{g.to_string()}<details><summary>{state.tr("which_devices")}</summary><p class="devices">{devices}</p></details></li> }
                }).collect_view()))}
            </ul>
            <div class="row">
                <button data-testid="batch-cancel" disabled=move || done() || cancelled() on:click=cancel>{state.tr("cancel")}</button>
                <button data-testid="batch-retry" disabled=move || count(|b| b.retryable)() == 0 on:click=retry>{state.tr("retry_failed")}</button>
            </div>
            <details class="notice-json"><summary>{state.tr("notice")}</summary>
                <pre>{get(|b| b.notice.as_ref().and_then(|n| serde_json::to_string_pretty(n).ok()).unwrap_or_default())}</pre></details>
            <p class="msg" role="status" data-testid="batch-message">{message}</p>
        </li>
    }
}

/// The batch history.
#[component]
pub fn Batches() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <section class="card wide" data-testid="batches">
            <h2>{state.tr("batches")}" ("{move || state.batches.with(Vec::len)}")"</h2>
            <Show when=move || state.batches.with(|b| !b.is_empty())
                fallback=move || view! { <p class="hint">{state.tr("no_batches")}</p> }>
                <ol class="batches" reversed>
                    <For each=move || state.batches.with(|b| b.iter().rev().map(|b| b.id).collect::<Vec<_>>())
                        key=|id| *id
                        children=move |id| view! { <BatchCard id=id /> } />
                </ol>
            </Show>
        </section>
    }
}
